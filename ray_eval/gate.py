"""The release gate: scores (+ a seed suite's own thresholds) -> a verdict listing every check.

Exit codes of the whole tool live here too, since the verdict decides them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ray_eval.config import GateConfig, Thresholds
from ray_eval.shopbench.readers import SuiteThresholds

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3


@dataclass(frozen=True)
class Check:
    name: str  # e.g. "subset ShopFront pass rate"
    metric: str  # "pass_rate", "score", "error_rate", "unparsed_rate"
    group: str  # "overall", "subset:ShopFront", "label:l2:OCR", "critical", "format:mcq"
    value: float | None
    threshold: float
    comparison: str  # ">=" or "<="
    passed: bool
    source: str  # "config" or "suite"
    samples: int
    note: str | None = None


def evaluate_gate(scores: dict[str, Any], gate: GateConfig, suite: SuiteThresholds | None = None) -> list[Check]:
    """Every configured check, with its value, threshold and result."""
    checks: list[Check] = []

    def add(name: str, group_key: str, group: dict[str, Any] | None, metric: str, threshold: float | None,
            comparison: str, source: str = "config") -> None:
        if threshold is None:
            return
        samples = group["n"] if group else 0
        value = group.get(metric) if group else None
        if value is None:
            checks.append(Check(name, metric, group_key, None, threshold, comparison, False, source, samples,
                                note="no samples in this group"))
            return
        ok = value >= threshold if comparison == ">=" else value <= threshold
        checks.append(Check(name, metric, group_key, value, threshold, comparison, ok, source, samples))

    def add_thresholds(label: str, group_key: str, group: dict[str, Any] | None, limits: Thresholds,
                       source: str = "config") -> None:
        add(f"{label} pass rate", group_key, group, "pass_rate", limits.min_pass_rate, ">=", source)
        add(f"{label} score", group_key, group, "score", limits.min_score, ">=", source)

    overall = scores["overall"]
    add_thresholds("overall", "overall", overall, gate)
    if suite is not None and gate.use_suite_thresholds:
        add_thresholds("overall", "overall", overall, Thresholds(
            min_pass_rate=suite.min_pass_rate if gate.min_pass_rate is None else None,
            min_score=suite.min_score if gate.min_score is None else None,
        ), source="suite")
    add("error rate", "overall", overall, "error_rate", gate.max_error_rate, "<=")
    add("unparsed rate", "overall", overall, "unparsed_rate", gate.max_unparsed_rate, "<=")
    add("critical samples pass rate", "critical", scores["critical"], "pass_rate", gate.critical_min_pass_rate, ">=")
    for subset, limits in gate.subsets.items():
        add_thresholds(f"subset {subset.value}", f"subset:{subset.value}", scores["by_subset"].get(subset.value), limits)
    for answer_format, limits in gate.formats.items():
        add_thresholds(f"format {answer_format.value}", f"format:{answer_format.value}",
                       scores["by_format"].get(answer_format.value), limits)
    for level, categories in gate.labels.items():
        for name, limits in categories.items():
            group = scores["by_label"].get(level, {}).get(name)
            add_thresholds(f"{level} {name}", f"label:{level}:{name}", group, limits)
    if suite is not None and gate.use_suite_thresholds:
        configured = gate.labels.get(suite.category_level, {})
        for name, rate in suite.category_pass_rates:
            if name in configured and configured[name].min_pass_rate is not None:
                continue  # the config's own value for this category wins
            group = scores["by_label"].get(suite.category_level, {}).get(name)
            add(f"category {name} pass rate", f"label:{suite.category_level}:{name}", group, "pass_rate", rate, ">=", "suite")
    return checks


def verdict(checks: list[Check], *, complete: bool = True, incomplete_reason: str | None = None) -> dict[str, Any]:
    """verdict.json: the decision, its exit code and every check."""
    failed = [check.name for check in checks if not check.passed]
    if not complete:
        status, code = "incomplete", EXIT_INCOMPLETE
    elif failed:
        status, code = "failed", EXIT_FAILED
    else:
        status, code = "passed", EXIT_PASSED
    return {
        "status": status,
        "passed": status == "passed",
        "exit_code": code,
        "reason": incomplete_reason,
        "failed_checks": failed,
        "checks": [asdict(check) for check in checks],
        "note": None if checks else "no thresholds are configured: the gate passes any complete run",
    }
