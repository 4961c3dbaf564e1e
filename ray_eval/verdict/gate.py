"""The release gate: scores (+ a seed suite's own thresholds, + a comparison with a baseline run) -> a verdict
listing every check.

The baseline check is a non-inferiority test: it passes when the paired interval of (this run - baseline) lies
above -max_regression, fails when the one-sided test of a regression beyond the margin rejects, and is undecided
otherwise (the interval straddles the margin, or too few samples are shared): too few samples to decide is its own
verdict, never a pass. A decision over several suites holds one such test per suite with a baseline: they are one
family (baseline_checks), whose "failed" is Holm-corrected for how many tests it holds.

Exit codes of the whole tool live here too, since the verdict decides them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from ray_eval.config import BaselineConfig, GateConfig, Thresholds
from ray_eval.data.readers import SuiteThresholds
from ray_eval.verdict.comparison_verdict import ComparisonVerdict, PairedGroup
from ray_eval.verdict.stats import holm_adjusted, holm_rejections
from ray_eval.verdict.summary_model import (
    Comparison,
    DatasetInfo,
    GroupScores,
    PairedGroupScores,
    Scores,
    Verdict,
)

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3


OPTIONAL_STORED = frozenset({"p_value", "suite"})  # Check fields verdict.json holds only when set


@dataclass(frozen=True)
class Check:
    name: str  # e.g. "subset ShopFront pass rate"
    metric: str  # "pass_rate", "score", "error_rate", "errors", "unparsed_rate", "regression"
    group: str  # "overall", "subset:ShopFront", "label:l2:OCR", "critical", "format:mcq"
    value: float | None
    threshold: float
    comparison: str  # ">=" or "<="
    passed: bool
    source: str  # "config" or "suite"
    samples: int
    note: str | None = None
    outcome: str | None = None  # "passed" | "failed" | "undecided"; set from `passed` unless undecided
    p_value: float | None = None  # a baseline check's one-sided p-value of a regression beyond the margin
    suite: str | None = None  # the suite whose check it is, in a run of several suites (none: the run's own check)

    def __post_init__(self) -> None:
        if self.outcome is None:
            object.__setattr__(self, "outcome", "passed" if self.passed else "failed")

    def stored(self) -> dict[str, Any]:
        """The check as verdict.json holds it: `p_value` and `suite` only on a check that has them, so every other
        check (and every verdict written before they existed) is stored as it was."""
        return {name: value for name, value in asdict(self).items()
                if value is not None or name not in OPTIONAL_STORED}


@dataclass(frozen=True)
class Coverage:
    """How much of the dataset file a run evaluated: all of it, or the first rows (dataset.limit)."""

    evaluated_rows: int
    dataset_rows: int  # rows in the file

    @property
    def partial(self) -> bool:
        return self.evaluated_rows < self.dataset_rows

    def describe(self) -> str:
        return f"{self.evaluated_rows} of {self.dataset_rows} rows evaluated"

    @classmethod
    def of_all(cls, parts: Iterable[Coverage]) -> Coverage:
        """A run's coverage: its suites' added up."""
        parts = list(parts)
        return cls(sum(part.evaluated_rows for part in parts), sum(part.dataset_rows for part in parts))

    @classmethod
    def of_summary(cls, dataset: DatasetInfo) -> Coverage:
        """From summary.json's `dataset` section (a summary written before coverage was recorded: whole)."""
        return cls(dataset.rows, dataset.file_rows or dataset.rows)


@dataclass(frozen=True)
class SuiteGate:
    """What one suite brings to a decision: its scores, its gate, a seed suite's own thresholds, its comparison with
    the baseline run's same suite (compare.compare with regression_margin; required with gate.baseline) and how much
    of its dataset it evaluated."""

    name: str | None  # put before its checks' names in a run of several suites; None for a run of one dataset
    scores: Scores
    gate: GateConfig
    thresholds: SuiteThresholds | None = None
    comparison: Comparison | None = None
    coverage: Coverage | None = None


def decide_suites(suites: Sequence[SuiteGate]) -> list[Check]:
    """Every suite's checks, suite after suite; the suites' regression tests against their baselines are decided
    together, as one family (baseline_checks), so that more suites do not mean more false alarms."""
    tests_by_suite = [_regression_tests(suite) for suite in suites]
    decided = iter(baseline_checks([test for tests in tests_by_suite for test in tests]))
    checks: list[Check] = []
    for suite, tests in zip(suites, tests_by_suite, strict=True):
        own = threshold_checks(suite.scores, suite.gate, suite.thresholds, suite.coverage)
        checks += named_for_suite(own, suite.name) if suite.name is not None else own
        checks += [next(decided) for _ in tests]
    return checks


def _regression_tests(suite: SuiteGate) -> list[BaselineTest]:
    """A suite's tests against its baseline run: overall, then each subset with enough paired samples (in name
    order) where baseline.subsets asks for them."""
    baseline = suite.gate.baseline
    if baseline is None:
        return []
    if suite.comparison is None:
        raise ValueError("gate.baseline is set but no comparison with the baseline run was given")
    tests = [BaselineTest(suite.name, suite.comparison, baseline)]
    if baseline.subsets:
        tests += [BaselineTest(suite.name, suite.comparison, baseline, subset)
                  for subset, group in sorted(suite.comparison.by_subset.items())
                  if group is not None and (group.n or 0) >= baseline.min_paired_samples]
    return tests


def evaluate_gate(scores: Scores, gate: GateConfig, suite: SuiteThresholds | None = None,
                  comparison: Comparison | None = None, coverage: Coverage | None = None) -> list[Check]:
    """The checks of a run of one dataset (decide_suites with one suite)."""
    return decide_suites([SuiteGate(None, scores, gate, suite, comparison, coverage)])


def threshold_checks(scores: Scores, gate: GateConfig, suite: SuiteThresholds | None = None,
                     coverage: Coverage | None = None) -> list[Check]:
    """Every configured check of one suite but its baseline check, with its value, threshold and result; `coverage`
    adds a check when the suite evaluated only part of its dataset."""
    checks: list[Check] = []
    if coverage is not None and coverage.partial:
        checks.append(coverage_check(coverage, gate.allow_partial))

    def add(name: str, group_key: str, group: GroupScores | None, metric: str, threshold: float | None,
            comparison: str, source: str = "config") -> None:
        if threshold is None:
            return
        samples = group.n if group else 0
        value = group.metric(metric) if group else None
        if value is None:
            checks.append(Check(name, metric, group_key, None, threshold, comparison, False, source, samples,
                                note="no samples in this group"))
            return
        ok = value >= threshold if comparison == ">=" else value <= threshold
        checks.append(Check(name, metric, group_key, value, threshold, comparison, ok, source, samples))

    def add_thresholds(label: str, group_key: str, group: GroupScores | None, limits: Thresholds,
                       source: str = "config") -> None:
        add(f"{label} pass rate", group_key, group, "pass_rate", limits.min_pass_rate, ">=", source)
        add(f"{label} score", group_key, group, "score", limits.min_score, ">=", source)

    overall = scores.overall
    add_thresholds("overall", "overall", overall, gate)
    if suite is not None and gate.use_suite_thresholds:
        add_thresholds("overall", "overall", overall, Thresholds(
            min_pass_rate=suite.min_pass_rate if gate.min_pass_rate is None else None,
            min_score=suite.min_score if gate.min_score is None else None,
        ), source="suite")
    add("error rate", "overall", overall, "error_rate", gate.max_error_rate, "<=")
    add("error count", "overall", overall, "errors", gate.max_errors, "<=")
    add("unparsed rate", "overall", overall, "unparsed_rate", gate.max_unparsed_rate, "<=")
    add("critical samples pass rate", "critical", scores.critical, "pass_rate", gate.critical_min_pass_rate, ">=")
    for subset, limits in gate.subsets.items():
        add_thresholds(f"subset {subset.value}", f"subset:{subset.value}", scores.by_subset.get(subset.value), limits)
    for answer_format, limits in gate.formats.items():
        add_thresholds(f"format {answer_format.value}", f"format:{answer_format.value}",
                       scores.by_format.get(answer_format.value), limits)
    for level, categories in gate.labels.items():
        for name, limits in categories.items():
            group = scores.by_label.get(level, {}).get(name)
            add_thresholds(f"{level} {name}", f"label:{level}:{name}", group, limits)
    if suite is not None and gate.use_suite_thresholds:
        configured = {str(level): limits for level, limits in gate.labels.items()}.get(suite.category_level, {})
        for name, rate in suite.category_pass_rates:
            if name in configured and configured[name].min_pass_rate is not None:
                continue  # the config's own value for this category wins
            group = scores.by_label.get(suite.category_level, {}).get(name)
            add(f"category {name} pass rate", f"label:{suite.category_level}:{name}", group, "pass_rate", rate, ">=",
                "suite")
    return checks


def named_for_suite(checks: list[Check], suite: str) -> list[Check]:
    """A suite's checks as a run of several suites lists them: each says its suite, and its name starts with it."""
    return [replace(check, name=f"{suite}: {check.name}", suite=suite) for check in checks]


def coverage_check(coverage: Coverage, allow_partial: bool) -> Check:
    """A partial run is a smoke run: it passes only where the config says so, and is otherwise undecided (no
    release verdict), not failed: the model was not found wanting."""
    name = "whole dataset evaluated"
    if allow_partial:
        return Check(name, "rows", "overall", coverage.evaluated_rows, coverage.dataset_rows, ">=", True, "config",
                     coverage.evaluated_rows, note=f"{coverage.describe()}: a smoke run (gate.allow_partial)",
                     outcome="passed")
    return Check(name, "rows", "overall", coverage.evaluated_rows, coverage.dataset_rows, ">=", False, "config",
                 coverage.evaluated_rows, outcome="undecided",
                 note=f"only {coverage.describe()} (dataset.limit): a partial run is no release verdict; "
                      "set gate.allow_partial: true for a smoke run")


@dataclass(frozen=True)
class BaselineTest:
    """One no-regression test of a decision: a suite's comparison with its baseline run (compare.compare, given
    regression_margin=config.max_regression) and that suite's baseline config."""

    label: str | None  # the suite's name, put before the check's name; None for a run of one dataset
    comparison: Comparison
    config: BaselineConfig
    subset: str | None = None  # a test of this subset's paired samples (baseline.subsets); None: all of them

    @property
    def paired(self) -> PairedGroupScores | None:
        """The paired samples this test decides on, as the comparison holds them."""
        return self.comparison.overall if self.subset is None else self.comparison.by_subset.get(self.subset)

    @property
    def paired_samples(self) -> int:
        if self.subset is None:
            return self.comparison.paired_samples
        return (self.paired.n or 0) if self.paired is not None else 0

    @property
    def name(self) -> str:
        name = "no regression against baseline" if self.subset is None else \
            f"subset {self.subset}: no regression against baseline"
        return name if self.label is None else f"{self.label}: {name}"


def baseline_check(comparison: Comparison, baseline: BaselineConfig) -> Check:
    """No significant regression beyond the margin, as the only regression test of the decision."""
    return baseline_checks([BaselineTest(None, comparison, baseline)])[0]


def baseline_checks(tests: Sequence[BaselineTest]) -> list[Check]:
    """One check per regression test, in order, decided as one family.

    Passed: the lower end of the paired interval of the score difference (points) at the statistics' confidence is
    >= -max_regression, for each test alone. The decision passes only when every test passes, an intersection-union
    test, whose error of passing a regressed model is at most each test's own: no correction is needed there.
    Failed: rejected by Holm's step-down over the family's one-sided p-values of a regression beyond the margin
    (p_regressed) at alpha = (1 - confidence) / 2, the level of the interval's upper end; m counts every test, those
    with too few samples too. So the chance that a model within the margin on every suite fails any of them stays
    at most alpha however many suites there are. With one test this is the interval's rule: failed when the upper
    end lies below the margin (up to the boundary resample, see stats.paired_difference). Otherwise undecided."""
    if not tests:
        return []
    confidences = {test.comparison.confidence for test in tests}
    if len(confidences) > 1:
        raise ValueError(f"the regression tests of one decision must share one confidence, got {sorted(confidences)}")
    alpha = (1 - confidences.pop()) / 2
    p_values = [_p_regressed(test) for test in tests]
    rejected = holm_rejections(p_values, alpha)
    adjusted = holm_adjusted(p_values)
    return [_baseline_check(test, p, adjusted_p, rejected_here, alpha, len(tests))
            for test, p, adjusted_p, rejected_here in zip(tests, p_values, adjusted, rejected, strict=True)]


def _p_regressed(test: BaselineTest) -> float | None:
    """The test's p-value; None where it cannot be made (too few samples, one media cluster)."""
    paired, n = test.paired, test.paired_samples
    if paired is None or n < test.config.min_paired_samples or PairedGroup.of(paired).degenerate:
        return None
    if paired.p_regressed is None:
        raise ValueError(f"the comparison with baseline run {test.comparison.baseline.run_id or '?'} has no "
                         "p_regressed: compare() must be given regression_margin=gate.baseline.max_regression (and "
                         "subset_regressions=gate.baseline.subsets)")
    return float(paired.p_regressed)


def _baseline_check(test: BaselineTest, p: float | None, adjusted_p: float | None, rejected: bool, alpha: float,
                    family: int) -> Check:
    comparison, baseline = test.comparison, test.config
    paired, margin = test.paired, -baseline.max_regression
    n = test.paired_samples
    group = "overall" if test.subset is None else f"subset:{test.subset}"

    def check(value: float | None, outcome: str, note: str) -> Check:
        return Check(test.name, "regression", group, value, margin, ">=", outcome == "passed", "config", n,
                     note=note, outcome=outcome, p_value=p, suite=test.label)

    if paired is None or n < baseline.min_paired_samples:
        return check(None, "undecided", f"too few samples to decide: {n} shared with the baseline run, "
                                        f"{baseline.min_paired_samples} needed")
    if PairedGroup.of(paired).degenerate:  # its interval is the point estimate: no evidence either way
        return check(None, "undecided", f"too few samples to decide: the {n} samples shared with the baseline run "
                                        "form one media cluster, so the paired interval has no width")
    assert paired.delta_ci is not None, "compare() gives every group of paired samples its interval"
    assert p is not None and adjusted_p is not None, "a test with enough samples has its p-value (_p_regressed)"
    low, high = paired.delta_ci
    run_id = comparison.baseline.run_id or "?"
    of_subset = "" if test.subset is None else f" of subset {test.subset}"
    # The value is the interval's lower end, not the change itself: say so, or -0.8 beside a change of +1.2 misleads.
    what = (f"value = the lower end of the {comparison.confidence:.0%} interval of the score change against "
            f"baseline run {run_id} ({n} paired samples{of_subset}); the change is {paired.delta:+.2f} points "
            f"[{low:+.2f}, {high:+.2f}]")
    # One test alone keeps the notes it always had; in a family each says what the correction did.
    corrected = "" if family == 1 else (f"; one-sided p = {p:.4g} of a regression beyond the margin, Holm-corrected "
                                        f"over {family} regression tests: adjusted p = {adjusted_p:.4g}")
    if low >= margin:
        return check(low, "passed", what + corrected)
    if rejected:
        return check(low, "failed", f"a regression beyond the margin of {baseline.max_regression} points: {what}"
                                    + corrected)
    if high < margin:
        kept = (f"Holm's correction over {family} regression tests kept it from failing (adjusted p = "
                f"{adjusted_p:.4g}, fails at <= {alpha:.4g})" if family > 1 else
                f"the one-sided test of a regression beyond the margin is not significant at its boundary resample "
                f"(p = {p:.4g}, fails at <= {alpha:.4g})")
        return check(low, "undecided", f"too few samples to decide: the interval lies below "
                                       f"-{baseline.max_regression} points, but {kept}; {what}")
    return check(low, "undecided", f"too few samples to decide: the interval straddles -{baseline.max_regression} "
                                   f"points; {what}" + corrected)


def compare_exit_code(comparison_verdict: ComparisonVerdict, fail_on_regression: bool) -> int:
    """`ray-eval compare`'s exit code. 0 whatever the verdict, unless `--fail-on-regression`: then 1 when the
    candidate regressed, and also when there are too few samples to tell (as the gate's undecided: never a pass)."""
    if fail_on_regression and comparison_verdict in (ComparisonVerdict.REGRESSED, ComparisonVerdict.TOO_FEW):
        return EXIT_FAILED
    return EXIT_PASSED


def verdict(checks: list[Check], *, complete: bool = True, incomplete_reason: str | None = None,
            coverage: Coverage | None = None) -> Verdict:
    """verdict.json: the decision, its exit code, every check, and how much of the dataset it stands on."""
    failed = [check.name for check in checks if not check.passed]
    undecided = [check for check in checks if check.outcome == "undecided"]
    if not complete:
        status, code = "incomplete", EXIT_INCOMPLETE
    elif len(failed) > len(undecided):
        status, code = "failed", EXIT_FAILED
    elif undecided:
        # Not a pass: the gate cannot vouch for the model. The same exit code as a failure, its own status.
        status, code = "undecided", EXIT_FAILED
        incomplete_reason = incomplete_reason or "; ".join(f"{check.name}: {check.note}" for check in undecided)
    else:
        status, code = "passed", EXIT_PASSED
    return Verdict.model_validate({
        "status": status,
        "passed": status == "passed",
        "exit_code": code,
        "reason": incomplete_reason,
        "failed_checks": failed,
        "checks": [check.stored() for check in checks],
        "note": None if checks else "no thresholds are configured: the gate passes any complete run",
        "coverage": None if coverage is None else {**asdict(coverage), "partial": coverage.partial},
    })
