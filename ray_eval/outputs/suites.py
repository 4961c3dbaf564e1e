"""A several-suite run's suites as the reports open with them: one row per suite (its dataset, samples, score and pass
rate with their intervals, errors, what its checks decided and what its comparison with the baseline says), the same
in summary.md and report.html. A one-suite run has no such table: its reports are as they were before suites.

The verdict is one decision over every suite; a check of a several-suite run names its suite (Check.suite; its name
starts with it too: "guard-ocr: overall score"). Checks of the run itself (the serving checks) belong to none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ray_eval.verdict.comparison_verdict import comparison_verdict
from ray_eval.verdict.summary_model import Check, SuiteResult, Summary

ChecksOutcome = Literal["passed", "failed", "undecided", "no checks"]


@dataclass(frozen=True)
class SuiteRow:
    """One suite's row; numbers as stored, each output formats them its own way."""

    name: str
    dataset: str  # the dataset file's name
    samples: str  # "60", or "20 of 60" for a partial run (dataset.limit)
    score: float | None
    score_ci: list[float] | None
    pass_rate: float | None
    pass_rate_ci: list[float] | None
    errors: int
    checks: ChecksOutcome
    baseline: str | None  # the comparison's verdict word (comparison_verdict); None without a baseline


def several_suites(summary: Summary) -> bool:
    """Whether the reports show the suite table and a section per suite (a one-suite run's stay as they were)."""
    return len(summary.suites) > 1


def suite_checks(summary: Summary, suite: SuiteResult) -> list[Check]:
    """The verdict's checks of this suite: with one suite, every check; with several, those that say it."""
    checks = summary.verdict.checks or []
    if not several_suites(summary):
        return list(checks)
    return [check for check in checks if check.suite == suite.name]


def checks_outcome(checks: list[Check]) -> ChecksOutcome:
    """Failed when any check failed, else undecided when any is, else passed; "no checks" without any."""
    if not checks:
        return "no checks"
    results = {check.result for check in checks}
    return "failed" if "failed" in results else "undecided" if "undecided" in results else "passed"


def samples_text(suite: SuiteResult) -> str:
    dataset = suite.dataset
    return f"{dataset.rows} of {dataset.file_rows}" if dataset.partial else str(dataset.rows)


def suite_rows(summary: Summary) -> list[SuiteRow]:
    rows = []
    for suite in summary.suites:
        overall = suite.scores.overall
        rows.append(SuiteRow(
            name=suite.name, dataset=Path(suite.dataset.path).name, samples=samples_text(suite),
            score=overall.score, score_ci=overall.score_ci, pass_rate=overall.pass_rate,
            pass_rate_ci=overall.pass_rate_ci, errors=suite.counts.errors,
            checks=checks_outcome(suite_checks(summary, suite)),
            baseline=comparison_verdict(suite.comparison).value if suite.comparison else None))
    return rows
