"""What a comparison of two runs says, in one word: regressed, improved, no significant change, or too few samples to
tell. Decided here only, on a typed paired group, for `ray-eval compare`'s text, summary.md, report.html and the gate.

A change is regressed or improved when its paired test is significant at the statistics' confidence (McNemar's exact
test at any size; a paired-bootstrap p-value only from min_paired_samples samples on). It is too few samples to tell
when it is not significant and fewer samples are paired than the baseline gate asks for by default
(min_paired_samples), or when the samples form a single media cluster: the cluster bootstrap then has nothing to
resample, its interval is the point estimate (zero width) and says nothing about the uncertainty. A zero-width
interval over several clusters is not that case: every paired difference was the same (two identical runs give
[0, 0]), which is evidence.

Kept apart from compare.py, which imports pandas, pyarrow and the outputs package: the gate (imported by the CLI at
start) and the report's views and charts (imported by compare.py's own imports) read this module too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any, overload

from ray_eval.config import BaselineConfig
from ray_eval.verdict.summary_model import Comparison, PairedGroupScores

MIN_PAIRED_SAMPLES: int = BaselineConfig.model_fields["min_paired_samples"].default


class ComparisonVerdict(str, Enum):
    REGRESSED = "regressed"
    IMPROVED = "improved"
    NO_CHANGE = "no significant change"
    TOO_FEW = "too few samples to tell"

    @property
    def row_word(self) -> str:
        """The word of one group's row in a table (short enough for a column)."""
        return "too few to tell" if self is ComparisonVerdict.TOO_FEW else self.value

    @property
    def decided(self) -> bool:
        """Regressed or improved: a significant change."""
        return self in (ComparisonVerdict.REGRESSED, ComparisonVerdict.IMPROVED)


@dataclass(frozen=True)
class PairedGroup:
    """One group of paired samples of a comparison (summary.json's comparison.overall, .by_subset.X, ...)."""

    n: int | None  # None: not recorded (a comparison edited by hand)
    clusters: int | None  # media clusters among the n samples; None in comparisons written before they were counted
    baseline_score: float | None
    candidate_score: float | None
    delta: float | None  # candidate - baseline, score points
    delta_ci: tuple[float, float] | None
    p_value: float | None
    test: str | None  # "mcnemar" or "paired_bootstrap"
    significant: bool

    @overload
    @classmethod
    def of(cls, stored: PairedGroupScores) -> PairedGroup: ...

    @overload
    @classmethod
    def of(cls, stored: None) -> None: ...

    @overload
    @classmethod
    def of(cls, stored: PairedGroupScores | None) -> PairedGroup | None: ...

    @classmethod
    def of(cls, stored: PairedGroupScores | None) -> PairedGroup | None:
        """The group as summary.json's comparison holds it; None where the comparison has none (no paired sample)."""
        if stored is None:
            return None
        return cls(n=stored.n, clusters=stored.clusters, baseline_score=_finite(stored.baseline_score),
                   candidate_score=_finite(stored.candidate_score), delta=_finite(stored.delta),
                   delta_ci=_interval(stored.delta_ci), p_value=_finite(stored.p_value), test=stored.test,
                   significant=stored.significant)

    @property
    def degenerate(self) -> bool:
        """The bootstrap had one cluster to resample: its interval is the point estimate and means nothing. An old
        comparison without a cluster count shows it only as a zero-width interval."""
        if self.clusters is not None:
            return self.clusters < 2
        return self.delta_ci is not None and self.delta_ci[0] == self.delta_ci[1]

    @property
    def shown_interval(self) -> tuple[float, float] | None:
        """The interval worth showing: none for a degenerate bootstrap."""
        return None if self.degenerate else self.delta_ci

    def too_few_reason(self, min_samples: int = MIN_PAIRED_SAMPLES) -> str | None:
        """Why this group cannot tell a change from noise; None when it can."""
        if self.degenerate:
            return f"the {self.n} paired samples share one media cluster, so the interval has no width"
        if self._significant_change(min_samples):
            return None
        if self.n is None or self.n < min_samples:
            return f"{'an unknown number of' if self.n is None else self.n} paired samples, {min_samples} needed"
        return None

    def _significant_change(self, min_samples: int) -> bool:
        """Significant, by a test that holds at this size: McNemar's exact test at any size (10 of 10 lost is a
        regression however small the group), a bootstrap p-value only from `min_samples` samples on."""
        if not self.significant or not self.delta:
            return False
        return self.test == "mcnemar" or (self.n is not None and self.n >= min_samples)

    def verdict(self, min_samples: int = MIN_PAIRED_SAMPLES) -> ComparisonVerdict:
        if self.too_few_reason(min_samples) is not None:
            return ComparisonVerdict.TOO_FEW
        if self.delta is not None and self._significant_change(min_samples):
            return ComparisonVerdict.REGRESSED if self.delta < 0 else ComparisonVerdict.IMPROVED
        return ComparisonVerdict.NO_CHANGE

    def as_dict(self, min_samples: int = MIN_PAIRED_SAMPLES) -> dict[str, Any]:
        """The stored form, with its verdict word for readers of comparison.json."""
        return {
            "n": self.n, "clusters": self.clusters, "baseline_score": self.baseline_score,
            "candidate_score": self.candidate_score, "delta": self.delta,
            "delta_ci": None if self.delta_ci is None else list(self.delta_ci), "p_value": self.p_value,
            "test": self.test, "significant": self.significant, "verdict": self.verdict(min_samples).value,
        }


def min_paired_samples(comparison: Comparison) -> int:
    """The minimum the comparison was made with (the gate's, when a run compared itself with its baseline)."""
    return comparison.min_paired_samples or MIN_PAIRED_SAMPLES


def overall_group(comparison: Comparison) -> PairedGroup | None:
    return PairedGroup.of(comparison.overall)


def comparison_verdict(comparison: Comparison) -> ComparisonVerdict:
    """The verdict of the whole comparison: its overall group's (too few when no sample is shared)."""
    overall = overall_group(comparison)
    return ComparisonVerdict.TOO_FEW if overall is None else overall.verdict(min_paired_samples(comparison))


def too_few_reason(comparison: Comparison) -> str | None:
    overall = overall_group(comparison)
    if overall is None:
        return "no sample is shared by the two runs"
    return overall.too_few_reason(min_paired_samples(comparison))


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _interval(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    low, high = _finite(value[0]), _finite(value[1])
    return None if low is None or high is None else (min(low, high), max(low, high))
