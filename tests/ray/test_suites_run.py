"""Several suites in one `ray-eval run`: ShopBench's synthetic set and the generated guard suites against one
scripted engine, one verdict. Every input row of every suite ends as exactly one result row carrying its suite
(the same sample id in two suites is two samples); each suite is scored by its own scorers and gated by its own
gate; a failing guard suite fails the run and is named; `gate --set suites.NAME...`, rescore, resume, compare and a
baseline gate work suite by suite."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from ray_eval.cli import main
from ray_eval.demo.guard import write_guard_suite
from ray_eval.demo.synth import synthesize
from ray_eval.runs.store import RunStore

pytestmark = pytest.mark.ray

SHOP_SAMPLES, GUARD_QUESTIONS = 12, 6


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("suites-data")
    guard = write_guard_suite(root / "guard", GUARD_QUESTIONS, seed=0).files
    return {"shop": synthesize(root / "shop", SHOP_SAMPLES, seed=3).manifest, **guard}


def write_config(tmp_path: Path, data: dict[str, Path], run_id: str, *, ocr_min_score: float = 100,
                 baseline: Path | None = None) -> Path:
    """ShopBench, the OCR guard (whose gate fails unless the stand-in reads every text) and the yes/no guard twice,
    under two names and two scorers: the same sample ids in two suites."""
    gate_baseline = {"baseline": {"run_dir": str(baseline), "min_paired_samples": 1}} if baseline else {}
    config = {
        "suites": [
            {"name": "shopbench", "dataset": {"path": str(data["shop"])}, "gate": {"max_error_rate": 0.0,
                                                                                  **gate_baseline}},
            {"name": "guard-ocr", "dataset": {"path": str(data["ocr"])},
             "scoring": {"scorers": {"open": "ocr_contains_any"}}, "gate": {"min_score": ocr_min_score}},
            {"name": "guard-yesno", "dataset": {"path": str(data["yesno"])},
             "scoring": {"scorers": {"open": "yes_no"}}, "gate": gate_baseline},
            {"name": "yesno-as-text", "dataset": {"path": str(data["yesno"])}},
        ],
        "engine": {"kind": "scripted", "policy": "oracle", "accuracy": 0.8, "seed": 0},
        "run": {"out_dir": str(tmp_path / "runs"), "run_id": run_id, "model_label": "stand-in"},
        "gate": {"serving": {"max_engine_error_rate": 0.0}},
        "ray": {"num_cpus": 2},
    }
    path = tmp_path / f"{run_id}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def verdict_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "verdict.json").read_text(encoding="utf-8"))


def test_several_suites_one_run_one_verdict(local_ray, tmp_path: Path, data, capsys) -> None:
    # The stand-in misreads a fifth of the texts: guard-ocr's gate (score 100) fails, and with it the run.
    assert main(["run", "-c", str(write_config(tmp_path, data, "both"))]) == 1, capsys.readouterr().err[-3000:]
    run_dir = tmp_path / "runs" / "both"
    rows = pq.read_table(run_dir / "results.parquet", columns=["suite", "sample_id", "status", "scorer"]).to_pylist()
    keys = [(row["suite"], row["sample_id"]) for row in rows]
    assert len(keys) == len(set(keys)) == SHOP_SAMPLES + 3 * GUARD_QUESTIONS
    by_suite = {suite: {row["sample_id"] for row in rows if row["suite"] == suite} for suite, _ in keys}
    assert {suite: len(ids) for suite, ids in by_suite.items()} == {
        "shopbench": SHOP_SAMPLES, "guard-ocr": GUARD_QUESTIONS, "guard-yesno": GUARD_QUESTIONS,
        "yesno-as-text": GUARD_QUESTIONS}
    assert by_suite["guard-yesno"] == by_suite["yesno-as-text"]  # the same ids, two suites, two rows each
    scorers = {(row["suite"], row["scorer"]) for row in rows if row["status"] == "ok"}
    assert {scorer for suite, scorer in scorers if suite == "guard-yesno"} == {"yes_no"}
    assert {scorer for suite, scorer in scorers if suite == "yesno-as-text"} == {"token_f1"}
    assert {scorer for suite, scorer in scorers if suite == "guard-ocr"} == {"ocr_contains_any"}

    summary = RunStore(run_dir).read_concluded()
    assert [suite.name for suite in summary.suites] == ["shopbench", "guard-ocr", "guard-yesno", "yesno-as-text"]
    assert summary.counts.samples == sum(suite.counts.samples for suite in summary.suites) == len(keys)
    decision = verdict_of(run_dir)
    assert decision["status"] == "failed" and decision["failed_checks"] == ["guard-ocr: overall score"]
    assert {(check["name"], check.get("suite")) for check in decision["checks"]} == {
        ("shopbench: error rate", "shopbench"), ("guard-ocr: overall score", "guard-ocr"),
        ("serving engine error rate", None)}  # the run's own check: of no suite

    # Re-gated with a lower bar for that suite alone, the same scores pass.
    assert main(["gate", str(run_dir), "--set", "suites.guard-ocr.gate.min_score=10"]) == 0
    assert verdict_of(run_dir)["status"] == "passed"
    capsys.readouterr()

    # Rescored with another scorer for one suite: only that suite's rows change scorer; the gate keeps its --set.
    assert main(["rescore", str(run_dir), "--set", "suites.guard-yesno.scoring.scorers.open=exact_match",
                 "--set", "suites.guard-ocr.gate.min_score=10"]) == 0
    rescored = pq.read_table(run_dir / "results.parquet", columns=["suite", "status", "scorer"]).to_pylist()
    assert {(row["suite"], row["scorer"]) for row in rescored if row["status"] == "ok"} == scorers - {
        ("guard-yesno", "yes_no")} | {("guard-yesno", "exact_match")}
    capsys.readouterr()

    # compare names the suite when the runs hold several.
    assert main(["compare", str(run_dir), str(run_dir)]) == 2
    assert "holds the suites shopbench, guard-ocr, guard-yesno, yesno-as-text: name the one to compare with --suite" \
        in capsys.readouterr().err
    assert main(["compare", str(run_dir), str(run_dir), "--suite", "guard-yesno"]) == 0
    assert f"{GUARD_QUESTIONS} paired samples" in capsys.readouterr().out


def test_a_resumed_run_asks_only_what_each_suite_lacks(local_ray, tmp_path: Path, data, capsys) -> None:
    """One suite's rows gone (as after a crash), the same ids still present in another suite: the resume asks that
    suite's samples again, and only those, and concludes as the whole run did."""
    config = write_config(tmp_path, data, "resumed", ocr_min_score=10)
    assert main(["run", "-c", str(config)]) == 0, capsys.readouterr().err[-3000:]
    run_dir = tmp_path / "runs" / "resumed"
    store = RunStore(run_dir)
    whole = store.read_concluded()
    table = store.read_results()
    kept = table.filter(pc.not_equal(table["suite"], "guard-yesno"))
    pq.write_table(kept, run_dir / "results.parquet")
    store.withdraw_conclusion()
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir)]) == 0, capsys.readouterr().err[-3000:]
    err = capsys.readouterr().err
    assert f"resumed: {kept.num_rows} already done" in err
    resumed = store.read_concluded()
    def scored(summary):  # what the answers decide: not the time they took
        return [suite.scores.model_copy(update={"latency_s": None, "retries": None}) for suite in summary.suites]

    assert scored(resumed) == scored(whole)
    assert resumed.counts == whole.counts


def test_each_suite_is_compared_with_the_baselines_same_suite(local_ray, tmp_path: Path, data, capsys) -> None:
    assert main(["run", "-c", str(write_config(tmp_path, data, "base", ocr_min_score=10))]) == 0
    base = tmp_path / "runs" / "base"
    config = write_config(tmp_path, data, "cand", ocr_min_score=10, baseline=base)
    assert main(["run", "-c", str(config)]) == 0, capsys.readouterr().err[-3000:]
    summary = RunStore(tmp_path / "runs" / "cand").read_concluded()
    compared = {suite.name: suite.comparison for suite in summary.suites}
    assert compared["guard-ocr"] is None and compared["yesno-as-text"] is None  # no baseline in their gates
    shop, yesno = compared["shopbench"], compared["guard-yesno"]
    assert shop is not None and yesno is not None
    assert (shop.paired_samples, yesno.paired_samples) == (SHOP_SAMPLES, GUARD_QUESTIONS)
    assert shop.overall is not None and shop.overall.delta == 0.0  # the same stand-in, the same answers
    names = [check["name"] for check in verdict_of(tmp_path / "runs" / "cand")["checks"]]
    assert "shopbench: no regression against baseline" in names
    assert "guard-yesno: no regression against baseline" in names
