"""A/B comparison of two finished runs on the samples they share: paired differences, a paired test, deltas by
subset, format and category, and the samples that flipped.

The runs are paired by sample id, so a model is compared with another only on the same questions. The test is
McNemar's exact test where every shared score is right-or-wrong with equal weights (multiple choice); otherwise a
paired bootstrap of the weighted score difference. Either way the interval of the difference is a paired bootstrap,
clustered by shared media like the run's own intervals. Each group records its cluster count and its verdict word
(comparison_verdict.py decides it); the comparison's own verdict is its overall group's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ray_eval.config import BaselineConfig, StatisticsConfig, datasets_fingerprint
from ray_eval.data.taxonomy import LABEL_LEVELS, NO_SUBSET
from ray_eval.errors import UsageError
from ray_eval.runs.store import RunStore
from ray_eval.verdict.aggregate import CLUSTER, with_clusters
from ray_eval.verdict.comparison_verdict import MIN_PAIRED_SAMPLES, PairedGroup, comparison_verdict
from ray_eval.verdict.stats import mcnemar, paired_difference
from ray_eval.verdict.summary_model import Comparison, RunIdentity

COMPARED_COLUMNS = ["suite", "sample_id", "subset", "format", *LABEL_LEVELS, "weight", "status", "score", "passed",
                    "extracted", "media_digests"]
MAX_FLIPPED = 200  # flipped samples listed by sample; the totals count them all
COMPARISON_FILE = "comparison.json"


@dataclass(frozen=True)
class RunResults:
    """One side of a comparison: its result rows (COMPARED_COLUMNS), who it is, and its suites' dataset
    fingerprints. Compared one suite at a time (of_suite): sample ids are unique within a suite."""

    results: pd.DataFrame
    identity: RunIdentity
    dataset_fingerprints: Mapping[str, str | None]  # by suite name

    @property
    def dataset_fingerprint(self) -> str | None:
        """What the run evaluated (config.datasets_fingerprint of its suites)."""
        return datasets_fingerprint(list(self.dataset_fingerprints.values()))

    def of_suite(self, name: str) -> RunResults:
        """This run's rows of one suite (none, when it has no such suite)."""
        return RunResults(self.results[self.results["suite"] == name], self.identity,
                          {name: self.dataset_fingerprints.get(name)})

    def paired_with(self, suite: str, alone: bool) -> RunResults:
        """The rows of this (baseline) run to compare with a candidate's suite: its suite of the same name. A
        candidate with one suite (`alone`) is paired with a baseline of one suite whatever its name, as runs were
        compared before suites (a one-dataset run's suite is named after its dataset file)."""
        if alone and len(self.dataset_fingerprints) == 1:
            return self.of_suite(next(iter(self.dataset_fingerprints)))
        return self.of_suite(suite)


def compare_runs(candidate_dir: Path, baseline_dir: Path, statistics: StatisticsConfig | None = None,
                 max_flipped: int = MAX_FLIPPED, min_paired_samples: int = MIN_PAIRED_SAMPLES,
                 suite: str | None = None, regression_margin: float | None = None) -> Comparison:
    """The comparison of two finished run directories on one suite: `suite`, or the candidate's only one (a run of
    several suites needs it named: UsageError listing them)."""
    candidate = load_run_results(candidate_dir)
    suites = list(candidate.dataset_fingerprints)
    if suite is None and len(suites) > 1:
        raise UsageError(f"run {candidate.identity.run_dir} holds the suites {', '.join(suites)}: name the one to "
                         "compare with --suite")
    if suite is not None and suite not in suites:
        raise UsageError(f"run {candidate.identity.run_dir} has no suite {suite!r} (it has {', '.join(suites)})")
    name = suite or suites[0]
    return compare(candidate.of_suite(name), load_run_results(baseline_dir).paired_with(name, alone=len(suites) == 1),
                   statistics, max_flipped, min_paired_samples, regression_margin)


def compare_suite(candidate: RunResults, baseline: RunResults, suite: str, *, alone: bool,
                  statistics: StatisticsConfig, gate: BaselineConfig) -> Comparison:
    """A suite's comparison for its baseline check: the candidate run's suite with the baseline run's same suite
    (RunResults.paired_with; `alone`: the candidate has no other suite), too few samples to tell under the gate's
    minimum (so summary.md agrees with the gate), and the p-value of a regression beyond the gate's margin."""
    return compare(candidate.of_suite(suite), baseline.paired_with(suite, alone=alone), statistics,
                   min_paired_samples=gate.min_paired_samples, regression_margin=gate.max_regression,
                   subset_regressions=gate.subsets)


def compare(candidate: RunResults, baseline: RunResults, statistics: StatisticsConfig | None = None,
            max_flipped: int = MAX_FLIPPED, min_paired_samples: int = MIN_PAIRED_SAMPLES,
            regression_margin: float | None = None, subset_regressions: bool = False) -> Comparison:
    """The comparison of candidate against baseline (summary.json's `comparison` section). A group with fewer
    than `min_paired_samples` samples is too few to tell (comparison_verdict). With a `regression_margin` (score
    points: the gate's max_regression), the overall group also records `p_regressed`, the one-sided p-value of a
    regression beyond it (stats.paired_difference) that the gate's Holm correction takes, and so does each subset
    with `subset_regressions` (the gate's baseline.subsets); without one the comparison is stored as before."""
    statistics = statistics or StatisticsConfig()
    _check_unique(candidate)
    _check_unique(baseline)
    paired = candidate.results.merge(baseline.results.drop(columns=["media_digests"]), on="sample_id", how="inner",
                                     suffixes=("", "_baseline")).sort_values("sample_id", ignore_index=True)
    paired = with_clusters(paired, statistics)
    paired["subset"] = paired["subset"].fillna(NO_SUBSET)
    only_candidate = len(candidate.results) - len(paired)
    only_baseline = len(baseline.results) - len(paired)
    notes = []
    if candidate.dataset_fingerprint != baseline.dataset_fingerprint:
        notes.append("the runs used different datasets; they are compared on the samples both have")
    if only_candidate or only_baseline:
        notes.append(f"{only_candidate} samples only in the candidate run and {only_baseline} only in the baseline "
                     "run are left out")

    def by(column: str, margin: float | None = None) -> dict[str, Any]:
        return {str(key): paired_group(part, statistics, min_paired_samples, margin)
                for key, part in paired.groupby(column, sort=True, dropna=True)}

    gained, lost = _flips(paired)
    flipped = pd.concat([lost.assign(change="lost"), gained.assign(change="gained")])
    comparison = Comparison.model_validate({
        "baseline": baseline.identity,
        "candidate": candidate.identity,
        "paired_samples": len(paired),
        "only_in_baseline": only_baseline,
        "only_in_candidate": only_candidate,
        "confidence": statistics.confidence,
        "min_paired_samples": min_paired_samples,
        "notes": notes,
        "overall": paired_group(paired, statistics, min_paired_samples, regression_margin),
        "by_subset": by("subset", regression_margin if subset_regressions else None),
        "by_format": by("format"),
        "by_label": {level: by(level) for level in LABEL_LEVELS if paired[level].notna().any()},
        "flipped_total": {"gained": len(gained), "lost": len(lost)},
        "flipped": [_flip_view(row) for row in flipped.head(max_flipped).to_dict("records")],
    })
    return comparison.model_copy(update={"verdict": comparison_verdict(comparison).value})


def paired_group(frame: pd.DataFrame, statistics: StatisticsConfig, min_paired_samples: int = MIN_PAIRED_SAMPLES,
                 regression_margin: float | None = None) -> dict[str, Any] | None:
    """Scores of both runs on one group of paired samples, their difference, its interval, the test and the
    verdict (PairedGroup.as_dict); with a margin (points), also `p_regressed`."""
    if frame.empty:
        return None
    candidate, baseline = _scores(frame, ""), _scores(frame, "_baseline")
    weight = frame["weight"].to_numpy(dtype=float)
    difference = paired_difference(candidate, baseline, weight, frame[CLUSTER].to_numpy(),
                                   resamples=statistics.bootstrap_resamples, confidence=statistics.confidence,
                                   seed=statistics.seed,
                                   margin=None if regression_margin is None else regression_margin / 100.0)
    binary = bool(np.isin(candidate, (0.0, 1.0)).all() and np.isin(baseline, (0.0, 1.0)).all())
    if binary and np.allclose(weight, weight[0]):
        test, p_value = "mcnemar", mcnemar(candidate == 1.0, baseline == 1.0).p_value
    else:
        test, p_value = "paired_bootstrap", difference.p_value
    total = weight.sum()
    group = PairedGroup(
        n=len(frame),
        clusters=int(frame[CLUSTER].nunique()),
        baseline_score=round(100.0 * float(weight @ baseline) / total, 4),
        candidate_score=round(100.0 * float(weight @ candidate) / total, 4),
        delta=round(100.0 * difference.mean, 4),
        delta_ci=(round(100.0 * difference.ci[0], 4), round(100.0 * difference.ci[1], 4)),
        p_value=round(float(p_value), 6),
        test=test,
        significant=bool(p_value < 1.0 - statistics.confidence),
    ).as_dict(min_paired_samples)
    if difference.p_regressed is not None:
        group["p_regressed"] = round(difference.p_regressed, 6)
    return group


def write_comparison(out_dir: Path, comparison: Comparison) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / COMPARISON_FILE
    text = json.dumps(comparison.model_dump(mode="json"), ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _scores(frame: pd.DataFrame, suffix: str) -> np.ndarray:
    # An error is a wrong answer here too, as in the run's own scores.
    ok = (frame["status" + suffix] == "ok").to_numpy()
    return np.where(ok, frame["score" + suffix].fillna(0.0).to_numpy(dtype=float), 0.0)


def _flips(paired: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    passed = paired["passed"].fillna(False).astype(bool) & (paired["status"] == "ok")
    passed_before = paired["passed_baseline"].fillna(False).astype(bool) & (paired["status_baseline"] == "ok")
    order = ["subset", "sample_id"]
    return paired[passed & ~passed_before].sort_values(order), paired[~passed & passed_before].sort_values(order)


def _flip_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "sample_id": row["sample_id"],
        "subset": row["subset"],
        "format": row["format"],
        "change": row["change"],
        "baseline_extracted": _text_or_none(row["extracted_baseline"]),
        "candidate_extracted": _text_or_none(row["extracted"]),
        "baseline_error": row["status_baseline"] != "ok",
        "candidate_error": row["status"] != "ok",
    }


def _text_or_none(value: Any) -> str | None:
    """An unparsed answer's extraction is null; pandas turns it into NaN when the lost and gained rows are joined."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def load_run_results(run_dir: Path) -> RunResults:
    """The comparable side of a finished run directory. A run written before media digests were recorded has
    none (null): each of its samples is a cluster of its own."""
    store = RunStore(run_dir)
    run_dir = store.run_dir
    summary = store.read_finished_summary()
    results = store.read_results_frame(COMPARED_COLUMNS)
    identity = RunIdentity(run_dir=str(run_dir), run_id=summary.run_id, model=summary.model.label)
    return RunResults(results, identity, {suite.name: suite.dataset.fingerprint for suite in summary.suites})


def _check_unique(run: RunResults) -> None:
    duplicated = run.results["sample_id"][run.results["sample_id"].duplicated()]
    if not duplicated.empty:
        raise UsageError(f"run {run.identity.run_dir}: sample ids repeat "
                         f"({', '.join(map(str, duplicated.head(5)))}); runs can only be paired by unique sample ids")
