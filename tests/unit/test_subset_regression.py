"""gate.baseline.subsets: each subset tested for a regression beyond the margin, in the suites' one Holm family, so a
failing gate names the subset that regressed, with its interval and p-value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ray_eval.config import BaselineConfig, GateConfig, StatisticsConfig
from ray_eval.verdict.compare import RunResults, compare
from ray_eval.verdict.gate import SuiteGate, decide_suites, verdict
from ray_eval.verdict.summary_model import RunIdentity
from tests.unit import summary_parts as parts

FAST = StatisticsConfig(bootstrap_resamples=400)
BY_SUBSET = BaselineConfig(run_dir=Path("runs/base"), max_regression=1.0, min_paired_samples=30, subsets=True)
SCORES = parts.scores(parts.group_scores(n=230, score=60.0, pass_rate=0.6))


def _results(subsets: list[str], correct: np.ndarray, run_id: str) -> RunResults:
    frame = pd.DataFrame({
        "sample_id": [f"s{i:04d}" for i in range(len(correct))], "subset": subsets, "format": "mcq",
        "l1": "Perception", "l2": None, "l3": None, "l4": None, "weight": 1.0, "status": "ok",
        "score": correct.astype(float), "passed": correct, "extracted": np.where(correct, "A", "B"),
        "media_digests": [[f"img{i}"] for i in range(len(correct))],
    })
    return RunResults(frame, RunIdentity(run_dir=f"runs/{run_id}", run_id=run_id, model=run_id), {"m": "f" * 64})


def _kitchen_lost() -> tuple[RunResults, RunResults]:
    """120 ShopFront samples the same in both runs, 90 Kitchen samples the candidate gets wrong where the baseline
    got 80 right, and 20 Video samples: too few to test alone."""
    rng = np.random.default_rng(3)
    subsets = ["ShopFront"] * 120 + ["Kitchen"] * 90 + ["Video"] * 20
    baseline = np.concatenate([rng.random(120) < 0.6, np.arange(90) < 80, rng.random(20) < 0.5])
    candidate = baseline.copy()
    candidate[120:210] = np.arange(90) < 20
    return _results(subsets, candidate, "cand"), _results(subsets, baseline, "base")


def test_the_comparison_records_each_subsets_p_value_only_when_the_gate_tests_subsets() -> None:
    candidate, baseline = _kitchen_lost()
    plain = compare(candidate, baseline, FAST, regression_margin=1.0)
    tested = compare(candidate, baseline, FAST, regression_margin=1.0, subset_regressions=True)
    assert all(group is not None and group.p_regressed is None for group in plain.by_subset.values())
    assert {name: group is not None and group.p_regressed is not None
            for name, group in tested.by_subset.items()} == {"Kitchen": True, "ShopFront": True, "Video": True}
    kitchen, shop = tested.by_subset["Kitchen"], tested.by_subset["ShopFront"]
    assert kitchen is not None and shop is not None and kitchen.p_regressed is not None
    assert kitchen.p_regressed <= 1 / FAST.bootstrap_resamples < 0.5 < (shop.p_regressed or 0)  # the least it can be


def test_a_regressed_subset_fails_the_gate_by_name_with_its_interval_and_p_value() -> None:
    candidate, baseline = _kitchen_lost()
    comparison = compare(candidate, baseline, FAST, regression_margin=1.0, subset_regressions=True)
    checks = decide_suites([SuiteGate("shopbench", SCORES, GateConfig(baseline=BY_SUBSET), comparison=comparison)])
    # Video's 20 shared samples are under min_paired_samples: not tested, and not counted in the family.
    assert [(check.name, check.group, check.outcome) for check in checks] == [
        ("shopbench: no regression against baseline", "overall", "failed"),
        ("shopbench: subset Kitchen: no regression against baseline", "subset:Kitchen", "failed"),
        ("shopbench: subset ShopFront: no regression against baseline", "subset:ShopFront", "passed"),
    ]
    kitchen = checks[1]
    kitchen_group = comparison.by_subset["Kitchen"]
    assert kitchen_group is not None and kitchen_group.delta_ci is not None
    assert kitchen.samples == 90 and kitchen.value == kitchen_group.delta_ci[0] < -50
    assert kitchen.p_value == kitchen_group.p_regressed
    assert "90 paired samples of subset Kitchen" in (kitchen.note or "")
    assert "the change is -66.67 points" in (kitchen.note or "")
    assert "Holm-corrected over 3 regression tests" in (kitchen.note or "")
    decision = verdict(checks)
    assert decision.status == "failed"
    assert "shopbench: subset Kitchen: no regression against baseline" in decision.failed_checks


def test_without_subsets_the_gate_decides_on_the_overall_test_alone() -> None:
    candidate, baseline = _kitchen_lost()
    comparison = compare(candidate, baseline, FAST, regression_margin=1.0)
    gate = GateConfig(baseline=BaselineConfig(run_dir=Path("runs/base"), max_regression=1.0))
    checks = decide_suites([SuiteGate(None, SCORES, gate, comparison=comparison)])
    assert [(check.name, check.group) for check in checks] == [("no regression against baseline", "overall")]
    assert "Holm" not in (checks[0].note or "")
