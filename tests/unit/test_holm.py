"""The regression tests against baselines as one family: the one-sided p-value of a regression beyond the margin
(stats.paired_difference), Holm's step-down (stats.holm_rejections), the gate's family of baseline checks
(gate.baseline_checks), and what a comparison and a verdict store of it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ray_eval.cli import main
from ray_eval.config import BaselineConfig, StatisticsConfig
from ray_eval.verdict.compare import RunResults, compare
from ray_eval.verdict.gate import BaselineTest, baseline_check, baseline_checks, verdict
from ray_eval.verdict.stats import holm_adjusted, holm_rejections, paired_difference
from ray_eval.verdict.summary_model import Comparison, RunIdentity
from tests.unit import summary_parts as parts
from tests.unit.test_report import result_row, write_results

BASELINE = BaselineConfig(run_dir=Path("runs/base"), max_regression=1.0, min_paired_samples=30)
FAST = StatisticsConfig(bootstrap_resamples=300)


# ---- Holm's step-down -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p_values", "alpha", "rejected"),
    [
        # sorted 0.005 <= 0.05/4, 0.01 <= 0.05/3, then 0.03 > 0.05/2 stops the walk
        ([0.01, 0.04, 0.03, 0.005], 0.05, [True, False, False, True]),
        # the smallest misses 0.05/3: nothing is rejected, though 0.045 <= 0.05 alone
        ([0.02, 0.04, 0.045], 0.05, [False, False, False]),
        # every step met: 0.001 <= 0.05/3, 0.02 <= 0.05/2, 0.03 <= 0.05
        ([0.03, 0.001, 0.02], 0.05, [True, True, True]),
        # a bound met exactly is a rejection
        ([0.0125, 0.05], 0.05, [True, True]),
        # one test: rejected exactly when p <= alpha
        ([0.025], 0.025, [True]),
        ([0.026], 0.025, [False]),
        # a test that could not be made counts in m: 0.02 > 0.05/2 here, though <= 0.05 alone
        ([0.03, None], 0.05, [False, False]),
        ([0.02, None], 0.05, [True, False]),
        ([], 0.05, []),
    ],
)
def test_holm_rejects_known_p_value_sets(p_values: list[float | None], alpha: float, rejected: list[bool]) -> None:
    assert holm_rejections(p_values, alpha) == rejected


def test_holm_adjusted_p_values_are_at_most_alpha_exactly_where_holm_rejects() -> None:
    assert holm_adjusted([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjusted([0.4, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]  # capped at 1
    rng = np.random.default_rng(7)
    for _ in range(500):
        m = int(rng.integers(1, 8))
        p_values = [None if rng.random() < 0.15 else float(rng.uniform(0, 0.06)) for _ in range(m)]
        alpha = float(rng.choice([0.01, 0.025, 0.05]))
        adjusted = holm_adjusted(p_values)
        expected = [a is not None and a <= alpha for a in adjusted]
        assert holm_rejections(p_values, alpha) == expected, (p_values, alpha)


def test_holm_refuses_an_alpha_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="alpha must be in"):
        holm_rejections([0.01], 0.0)


# ---- the one-sided p-value of a regression beyond the margin --------------------------------------------------------


def test_p_regressed_counts_the_resamples_at_or_above_minus_the_margin() -> None:
    # every sample lost 5 points, over 40 clusters: every bootstrap mean is exactly -0.05
    candidate, baseline = np.full(40, 0.55), np.full(40, 0.60)
    beyond = paired_difference(candidate, baseline, resamples=999, margin=0.01)
    assert beyond.p_regressed == pytest.approx(1 / 1000)  # none at or above -0.01: the +1 floor
    within = paired_difference(candidate, baseline, resamples=999, margin=0.10)
    assert within.p_regressed == 1.0  # all 999 at or above -0.10
    assert paired_difference(candidate, baseline, resamples=999).p_regressed is None  # no margin, no p-value
    one_cluster = paired_difference(candidate, baseline, clusters=np.zeros(40), margin=0.01)
    assert one_cluster.p_regressed == 1.0  # no evidence about variability


def test_a_margin_changes_nothing_else_of_the_paired_difference() -> None:
    rng = np.random.default_rng(3)
    candidate, baseline = rng.random(200) < 0.55, rng.random(200) < 0.6
    plain = paired_difference(candidate, baseline, resamples=500, seed=4)
    with_margin = paired_difference(candidate, baseline, resamples=500, seed=4, margin=0.01)
    assert (with_margin.mean, with_margin.ci, with_margin.p_value) == (plain.mean, plain.ci, plain.p_value)


@pytest.mark.parametrize("resamples", [300, 1000])
def test_p_regressed_at_alpha_agrees_with_the_intervals_upper_end(resamples: int) -> None:
    """p <= alpha implies the upper end at (1 + confidence) / 2 lies below -margin, always; the converse fails only
    within two resamples of the boundary (the +1 and the interval's interpolation between resamples)."""
    confidence, margin = 0.95, 0.01
    alpha = (1 - confidence) / 2
    rng = np.random.default_rng(resamples)
    disagreements = 0
    for seed in range(300):
        n = int(rng.integers(40, 300))
        baseline = rng.random(n) < 0.6
        loss = rng.uniform(0.0, 0.2)  # true changes from +2 to about -10 points: many near the boundary
        candidate = baseline ^ (rng.random(n) < np.where(baseline, loss, 0.05))
        clusters = np.arange(n) // int(rng.integers(1, 4))
        result = paired_difference(candidate, baseline, clusters=clusters, resamples=resamples,
                                   confidence=confidence, seed=seed, margin=margin)
        assert result.p_regressed is not None
        upper_below = result.ci[1] < -margin
        if result.p_regressed <= alpha:
            assert upper_below, (seed, result)
        elif upper_below:
            disagreements += 1
            assert result.p_regressed <= alpha + 2 / (1 + resamples), (seed, result)
    assert disagreements <= 15  # the boundary band is narrow: a handful of 300 at most


# ---- the comparison records it only when asked -----------------------------------------------------------------------


def _results(correct: np.ndarray, run_id: str) -> RunResults:
    frame = pd.DataFrame({
        "sample_id": [f"s{i:04d}" for i in range(len(correct))], "subset": "ShopFront", "format": "mcq",
        "l1": "Perception", "l2": None, "l3": None, "l4": None, "weight": 1.0, "status": "ok",
        "score": correct.astype(float), "passed": correct, "extracted": np.where(correct, "A", "B"),
        "media_digests": [[f"img{i // 2}"] for i in range(len(correct))],
    })
    return RunResults(frame, RunIdentity(run_dir=f"runs/{run_id}", run_id=run_id, model=run_id), {"m": "f" * 64})


def _pair(seed: int, n: int = 120, loss: float = 0.1) -> tuple[RunResults, RunResults]:
    rng = np.random.default_rng(seed)
    baseline = rng.random(n) < 0.6
    candidate = baseline ^ (rng.random(n) < np.where(baseline, loss, 0.05))
    return _results(candidate, "cand"), _results(baseline, "base")


def test_compare_without_a_margin_dumps_exactly_as_before() -> None:
    candidate, baseline = _pair(1)
    plain = compare(candidate, baseline, FAST).model_dump(mode="json")
    with_margin = compare(candidate, baseline, FAST, regression_margin=1.0).model_dump(mode="json")
    assert "p_regressed" not in str(plain)
    p_regressed = with_margin["overall"].pop("p_regressed")
    assert 0 < p_regressed <= 1
    assert with_margin == plain  # the margin adds that one key, to the overall group only, and changes nothing else


# ---- the family of baseline checks in the gate ----------------------------------------------------------------------


def _comparison(ci: tuple[float, float], p_regressed: float, n: int = 500, run_id: str = "base") -> Comparison:
    delta = (ci[0] + ci[1]) / 2
    return parts.comparison(paired_samples=n, baseline={"run_dir": f"runs/{run_id}", "run_id": run_id},
                            overall=parts.paired_group(n=n, delta=delta, delta_ci=list(ci), p_regressed=p_regressed))


def test_one_baseline_test_decides_as_the_interval_did_on_real_comparisons() -> None:
    """m = 1: failed exactly when the interval's upper end is below -margin, passed when its lower end is at or
    above, undecided otherwise; the only exception allowed is the boundary resample."""
    outcomes = []
    for seed in range(60):
        comparison = compare(*_pair(seed, n=int(80 + seed * 3), loss=0.02 + seed * 0.003), FAST,
                             regression_margin=BASELINE.max_regression)
        low, high = comparison.overall.delta_ci
        old = "passed" if low >= -1.0 else "failed" if high < -1.0 else "undecided"
        check = baseline_check(comparison, BASELINE)
        outcomes.append(old)
        if check.outcome != old:
            assert (old, check.outcome) == ("failed", "undecided") and "boundary resample" in check.note
            assert comparison.overall.p_regressed <= 0.025 + 2 / 301
        assert check.p_value == comparison.overall.p_regressed
    assert {"passed", "failed", "undecided"} <= set(outcomes)  # the cases reach every outcome


def test_holm_over_three_suites_fails_only_what_the_correction_rejects() -> None:
    tests = [
        BaselineTest("shopbench", _comparison((-6.0, -2.0), 0.004, run_id="base-shop"), BASELINE),
        BaselineTest("ocr", _comparison((-4.0, -1.5), 0.013, run_id="base-ocr"), BASELINE),
        BaselineTest("yesno", _comparison((-0.5, 2.0), 0.9, run_id="base-yesno"), BASELINE),
    ]
    shop, ocr, yesno = baseline_checks(tests)
    # sorted: 0.004 <= 0.025/3 is rejected; 0.013 > 0.025/2 stops the walk
    assert [check.name for check in (shop, ocr, yesno)] == [
        "shopbench: no regression against baseline", "ocr: no regression against baseline",
        "yesno: no regression against baseline"]
    assert (shop.outcome, ocr.outcome, yesno.outcome) == ("failed", "undecided", "passed")
    assert (shop.p_value, ocr.p_value, yesno.p_value) == (0.004, 0.013, 0.9)
    assert shop.note.startswith("a regression beyond the margin of 1.0 points")
    assert shop.note.endswith("one-sided p = 0.004 of a regression beyond the margin, Holm-corrected over 3 "
                              "regression tests: adjusted p = 0.012")
    assert ocr.note.startswith("too few samples to decide: the interval lies below -1.0 points, but Holm's "
                               "correction over 3 regression tests kept it from failing (adjusted p = 0.026, "
                               "fails at <= 0.025)")
    assert "Holm-corrected over 3 regression tests" in yesno.note
    decision = verdict([shop, ocr, yesno])
    assert decision.status == "failed" and decision.failed_checks == [shop.name, ocr.name]
    # Alone, the OCR suite's test fails: the correction is what keeps it undecided in the family.
    assert baseline_checks(tests[1:2])[0].outcome == "failed"


def test_a_test_with_too_few_samples_counts_in_the_family() -> None:
    regressed = BaselineTest("a", _comparison((-4.0, -1.5), 0.02), BASELINE)
    too_few = BaselineTest("b", _comparison((0.0, 0.0), 0.5, n=10), BASELINE)
    alone, = baseline_checks([regressed])
    assert alone.outcome == "failed"
    kept, undecided = baseline_checks([regressed, too_few])
    assert kept.outcome == "undecided" and "over 2 regression tests kept it from failing" in kept.note
    assert undecided.outcome == "undecided" and undecided.p_value is None
    assert undecided.note == "too few samples to decide: 10 shared with the baseline run, 30 needed"


def test_one_test_keeps_its_notes_and_a_family_refuses_what_it_cannot_decide() -> None:
    check = baseline_check(_comparison((-6.0, -2.0), 0.001), BASELINE)
    assert check.name == "no regression against baseline" and "Holm" not in check.note
    assert check.note.startswith("a regression beyond the margin of 1.0 points: value = the lower end")
    without_p = parts.comparison(paired_samples=500, overall=parts.paired_group(n=500, delta=-4.0,
                                                                                delta_ci=[-6.0, -2.0]))
    with pytest.raises(ValueError, match="has no p_regressed: compare\\(\\) must be given regression_margin"):
        baseline_check(without_p, BASELINE)
    other_confidence = _comparison((-6.0, -2.0), 0.001).model_copy(update={"confidence": 0.9})
    with pytest.raises(ValueError, match="share one confidence"):
        baseline_checks([BaselineTest("a", _comparison((-6.0, -2.0), 0.001), BASELINE),
                         BaselineTest("b", other_confidence, BASELINE)])


def test_a_verdict_stores_p_value_only_on_a_check_that_has_one() -> None:
    gated = baseline_check(_comparison((-6.0, -2.0), 0.001), BASELINE)
    too_few = baseline_check(_comparison((0.0, 0.0), 0.5, n=10), BASELINE)
    stored = verdict([gated, too_few]).model_dump(mode="json")["checks"]
    assert stored[0]["p_value"] == 0.001
    assert "p_value" not in stored[1]


def _finished_run(run_dir: Path, outcomes: list[str]) -> Path:
    """A finished run directory (results.parquet, summary.json) whose sample i ends in outcomes[i]."""
    write_results(run_dir, [result_row(f"s{i:03d}", i, outcome) for i, outcome in enumerate(outcomes)])
    stored = parts.summary(run_dir.name, run_dir.name, "fp").stored()
    (run_dir / "summary.json").write_text(json.dumps(stored), encoding="utf-8")
    return run_dir


def test_ray_eval_gate_against_a_baseline_records_the_p_value(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`ray-eval gate RUN --set gate.baseline.run_dir=...`: the comparison is made with the gate's margin, its p-value
    is stored on the comparison and the check, and the regression fails the gate (exit 1)."""
    baseline = _finished_run(tmp_path / "base", ["passed"] * 60 + ["wrong"] * 20)
    candidate = _finished_run(tmp_path / "cand", ["passed"] * 30 + ["wrong"] * 50)
    code = main(["gate", str(candidate), "--set", f"gate.baseline.run_dir={baseline}"])
    out = capsys.readouterr().out
    assert code == 1
    assert "a regression beyond the margin of 1.0 points" in out
    summary = json.loads((candidate / "summary.json").read_text(encoding="utf-8"))
    p_regressed = summary["suites"][0]["comparison"]["overall"]["p_regressed"]
    assert p_regressed == pytest.approx(1 / 1001)  # 30 of 80 lost, none gained: no resample near -1 point
    check, = [check for check in summary["verdict"]["checks"] if check["metric"] == "regression"]
    assert check["outcome"] == "failed" and check["p_value"] == p_regressed
    assert all("p_value" not in other for other in summary["verdict"]["checks"] if other is not check)


def test_a_decision_over_suites_names_each_suites_checks_and_decides_their_baselines_as_one_family() -> None:
    """decide_suites, as a run of several suites concludes: each suite's checks in order, named after it, its
    baseline check last; the regression tests of all suites corrected together (alone, guard's would fail)."""
    from ray_eval.config import GateConfig
    from ray_eval.verdict.gate import SuiteGate, decide_suites

    gate = GateConfig(min_score=50, baseline=BASELINE)
    scores = parts.scores(parts.group_scores(n=500, score=70.0, pass_rate=0.7))
    suites = [SuiteGate("shop", scores, gate, comparison=_comparison((-6.0, -2.0), 0.004)),
              SuiteGate("guard", scores, gate, comparison=_comparison((-4.0, -1.5), 0.013)),
              SuiteGate("pope", scores, GateConfig(min_score=80, baseline=BASELINE),
                        comparison=_comparison((-0.5, 2.0), 0.9)),
              SuiteGate("mmstar", scores, GateConfig(min_score=60))]
    checks = decide_suites(suites)
    assert [(check.name, check.outcome) for check in checks] == [
        ("shop: overall score", "passed"), ("shop: no regression against baseline", "failed"),
        ("guard: overall score", "passed"), ("guard: no regression against baseline", "undecided"),
        ("pope: overall score", "failed"), ("pope: no regression against baseline", "passed"),
        ("mmstar: overall score", "passed")]
    assert "Holm-corrected over 3 regression tests" in checks[1].note
    alone = decide_suites(suites[1:2])
    assert alone[-1].outcome == "failed"
    with pytest.raises(ValueError, match="no comparison with the baseline run"):
        decide_suites([SuiteGate("shop", scores, gate)])
