"""`compare` of two runs (paired deltas, the test chosen, flips) and the gate's baseline check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ray_eval.cli import main
from ray_eval.compare import compare_runs
from ray_eval.config import BaselineConfig, ConfigError, GateConfig, StatisticsConfig, load_section
from ray_eval.errors import UsageError
from ray_eval.gate import EXIT_FAILED, EXIT_PASSED, baseline_check, evaluate_gate, verdict

FAST = StatisticsConfig(bootstrap_resamples=300)


def write_run(run_dir: Path, rows: list[dict], model: str = "m", fingerprint: str = "fp") -> Path:
    """A finished run directory holding what `compare` reads: results.parquet and summary.json."""
    run_dir.mkdir(parents=True)
    defaults = {"subset": "ShopFront", "format": "mcq", "l1": "Perception", "l2": None, "l3": None, "l4": None,
                "weight": 1.0, "status": "ok", "extracted": "A", "media_digests": None}
    table = pa.Table.from_pylist([defaults | row for row in rows])
    pq.write_table(table, run_dir / "results.parquet")
    summary = {"run_id": run_dir.name, "model": {"label": model}, "dataset": {"fingerprint": fingerprint}}
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return run_dir


def mcq_rows(correct: list[bool], prefix: str = "s") -> list[dict]:
    return [{"sample_id": f"{prefix}{i}", "score": float(ok), "passed": ok, "extracted": "A" if ok else "B"}
            for i, ok in enumerate(correct)]


def test_binary_scores_use_mcnemar_and_list_flips_lost_first(tmp_path: Path) -> None:
    baseline = [True] * 30 + [False] * 10
    candidate = [True] * 24 + [False] * 6 + [True] * 2 + [False] * 8  # 6 lost, 2 gained
    a = write_run(tmp_path / "a", mcq_rows(baseline), model="base")
    b = write_run(tmp_path / "b", mcq_rows(candidate), model="cand")
    result = compare_runs(b, a, FAST)
    overall = result["overall"]
    assert result["paired_samples"] == 40 and result["notes"] == []
    assert overall["test"] == "mcnemar"
    assert overall["baseline_score"] == pytest.approx(75.0) and overall["candidate_score"] == pytest.approx(65.0)
    assert overall["delta"] == pytest.approx(-10.0)
    assert overall["delta_ci"][0] < -10.0 < overall["delta_ci"][1]
    # exact two-sided binomial on 8 discordant pairs split 2/6 (p is stored to 6 decimals)
    assert overall["p_value"] == pytest.approx(2 * sum(math.comb(8, k) for k in range(3)) / 2**8, abs=1e-6)
    assert result["flipped_total"] == {"gained": 2, "lost": 6}
    assert [f["change"] for f in result["flipped"]] == ["lost"] * 6 + ["gained"] * 2
    assert result["flipped"][0]["baseline_extracted"] == "A" and result["flipped"][0]["candidate_extracted"] == "B"
    assert result["baseline"]["model"] == "base" and result["candidate"]["model"] == "cand"


def test_partial_scores_use_the_paired_bootstrap_and_only_shared_samples(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base_scores = rng.uniform(0, 1, 50)
    rows_a = [{"sample_id": f"s{i}", "format": "open", "score": float(x), "passed": x >= 0.5}
              for i, x in enumerate(base_scores)]
    rows_b = [{"sample_id": f"s{i}", "format": "open", "score": float(min(1.0, x + 0.2)), "passed": x + 0.2 >= 0.5}
              for i, x in enumerate(base_scores[:45])] + [{"sample_id": "new", "score": 1.0, "passed": True}]
    a = write_run(tmp_path / "a", rows_a, fingerprint="one")
    b = write_run(tmp_path / "b", rows_b, fingerprint="two")
    result = compare_runs(b, a, FAST)
    assert result["paired_samples"] == 45 and result["only_in_baseline"] == 5 and result["only_in_candidate"] == 1
    assert any("different datasets" in note for note in result["notes"])
    overall = result["overall"]
    assert overall["test"] == "paired_bootstrap" and overall["significant"] and overall["delta"] > 0
    assert overall["delta_ci"][0] > 0


def test_errors_count_as_wrong_and_flip(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", mcq_rows([True, True]))
    b_rows = mcq_rows([True, True])
    b_rows[1] |= {"status": "error", "score": 0.0, "passed": False}
    b = write_run(tmp_path / "b", b_rows)
    result = compare_runs(b, a, FAST)
    assert result["overall"]["delta"] == pytest.approx(-50.0)
    assert result["flipped"] == [{"sample_id": "s1", "subset": "ShopFront", "format": "mcq", "change": "lost",
                                  "baseline_extracted": "A", "candidate_extracted": "A", "baseline_error": False,
                                  "candidate_error": True}]


def test_unpairable_runs_are_refused(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", mcq_rows([True, False]))
    with pytest.raises(UsageError, match="nowhere is not a finished run directory"):
        compare_runs(a, tmp_path / "nowhere", FAST)
    dup = write_run(tmp_path / "dup", [*mcq_rows([True]), *mcq_rows([False])])
    with pytest.raises(UsageError, match="sample ids repeat"):
        compare_runs(dup, a, FAST)


def comparison(delta: float, ci: tuple[float, float], n: int) -> dict:
    return {"paired_samples": n, "confidence": 0.95, "overall": {"delta": delta, "delta_ci": list(ci)}}


@pytest.mark.parametrize(
    ("delta", "ci", "n", "outcome"),
    [
        (0.5, (-0.8, 1.8), 500, "passed"),  # the whole interval above -1
        (-4.0, (-6.0, -2.0), 500, "failed"),  # wholly below -1: a significant regression
        (-0.5, (-3.0, 2.0), 500, "undecided"),  # straddles -1: too few samples to decide
        (0.0, (0.0, 0.0), 10, "undecided"),  # fewer shared samples than required
    ],
)
def test_baseline_check_outcomes(delta: float, ci: tuple[float, float], n: int, outcome: str) -> None:
    check = baseline_check(comparison(delta, ci, n), BaselineConfig(run_dir=Path("x"), max_regression=1.0,
                                                                    min_paired_samples=30))
    assert check.outcome == outcome and check.passed == (outcome == "passed")
    assert check.threshold == -1.0
    if outcome == "undecided":
        assert "too few samples to decide" in check.note


def test_undecided_is_its_own_verdict_and_not_a_pass() -> None:
    gate = GateConfig(baseline={"run_dir": "x", "min_paired_samples": 30})
    scores = {"overall": {"n": 10}, "critical": {"n": 0}, "by_subset": {}, "by_format": {}, "by_label": {}}
    checks = evaluate_gate(scores, gate, comparison=comparison(0.0, (-5.0, 5.0), 10))
    decision = verdict(checks)
    assert decision["status"] == "undecided" and not decision["passed"] and decision["exit_code"] == EXIT_FAILED
    assert "too few samples to decide" in decision["reason"]
    passing = verdict(evaluate_gate(scores, gate, comparison=comparison(1.0, (0.2, 1.8), 100)))
    assert passing["status"] == "passed" and passing["exit_code"] == EXIT_PASSED
    with pytest.raises(ValueError, match="no comparison"):
        evaluate_gate(scores, gate)


def test_compare_command_prints_the_delta_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = write_run(tmp_path / "a", mcq_rows([True] * 20 + [False] * 20))
    b = write_run(tmp_path / "b", mcq_rows([True] * 30 + [False] * 10))
    code = main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp"),
                 "--set", "statistics.bootstrap_resamples=200"])
    out = capsys.readouterr().out
    assert code == 0
    assert "**+25.0 points**" in out and "mcnemar" in out
    written = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert written["flipped_total"] == {"gained": 10, "lost": 0}
    assert main(["compare", str(a), str(b), "--set", "gate.min_score=3"]) == 2


def test_load_section_reads_one_section_and_names_bad_fields(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("dataset: {path: x}\nstatistics: {confidance: 0.9}\n")
    with pytest.raises(ConfigError, match=r"statistics\.confidance: unknown field \(did you mean 'confidence'"):
        load_section("statistics", config)
    config.write_text("statistics: {confidence: 0.9}\n")
    assert load_section("statistics", config, ["statistics.seed=7"]) == StatisticsConfig(confidence=0.9, seed=7)
