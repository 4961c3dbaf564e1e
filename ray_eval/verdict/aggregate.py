"""Results -> scores: sample-weighted accuracy (0-100, as ShopBench reports) and pass rate, overall and by subset,
format, input type, each label level and the critical samples; counts of errors and unparsed answers.

A sample that ended in an error counts as a wrong answer (score 0, not passed) in every score, and is counted
as an error; error and unparsed rates are shares of samples (unweighted).

Every score and pass rate comes with a bootstrap interval. Samples that share an image or video are resampled
together (a cluster bootstrap): questions about one storefront photo succeed or fail together, and treating them
as independent would make the intervals too narrow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ray_eval.config import StatisticsConfig
from ray_eval.data.taxonomy import LABEL_LEVELS, NO_SUBSET
from ray_eval.verdict.stats import bootstrap_means, media_clusters
from ray_eval.verdict.summary_model import Scores, Statistics

AGGREGATE_COLUMNS = [
    "sample_id", "subset", "format", "input_type", *LABEL_LEVELS, "weight", "critical", "status", "error_stage",
    "error_type", "score", "passed", "unparsed", "latency_s", "prompt_tokens", "completion_tokens", "attempts",
    "media_digests",
]
CLUSTER = "_cluster"  # column added while aggregating: the media cluster of each sample


def group_scores(frame: pd.DataFrame, statistics: StatisticsConfig) -> dict[str, Any]:
    """Scores of one group of result rows, with their intervals."""
    n = len(frame)
    if n == 0:
        return {"n": 0, "weight": 0.0, "score": None, "score_ci": None, "pass_rate": None, "pass_rate_ci": None,
                "passed": 0, "errors": 0, "unparsed": 0, "error_rate": None, "unparsed_rate": None}
    weight = frame["weight"].to_numpy(dtype=float)
    score = frame["score"].fillna(0.0).to_numpy(dtype=float)
    passed = frame["passed"].fillna(False).to_numpy(dtype=bool)
    errors = int((frame["status"] != "ok").sum())
    unparsed = int(frame["unparsed"].fillna(False).sum())
    total_weight = float(weight.sum())
    intervals = bootstrap_means(
        {"score": score, "pass_rate": passed}, weight,
        frame[CLUSTER].to_numpy() if CLUSTER in frame else None,
        resamples=statistics.bootstrap_resamples, confidence=statistics.confidence, seed=statistics.seed,
    )
    return {
        "n": n,
        "weight": total_weight,
        "score": round(100.0 * float(weight @ score) / total_weight, 4),
        "score_ci": _interval(intervals["score"], 100.0, 4),
        "pass_rate": round(float(weight @ passed) / total_weight, 6),
        "pass_rate_ci": _interval(intervals["pass_rate"], 1.0, 6),
        "passed": int(passed.sum()),
        "errors": errors,
        "unparsed": unparsed,
        "error_rate": round(errors / n, 6),
        "unparsed_rate": round(unparsed / n, 6),
    }


def _interval(bounds: tuple[float, float] | None, scale: float, digits: int) -> list[float] | None:
    return None if bounds is None else [round(scale * bounds[0], digits), round(scale * bounds[1], digits)]


def _by(frame: pd.DataFrame, column: str, statistics: StatisticsConfig,
        fill: str | None = None) -> dict[str, dict[str, Any]]:
    keys = frame[column].fillna(fill) if fill is not None else frame[column]
    return {str(key): group_scores(part, statistics) for key, part in frame.groupby(keys, sort=True, dropna=True)}


def with_clusters(results: pd.DataFrame, statistics: StatisticsConfig) -> pd.DataFrame:
    """The results with their media cluster (one per sample when clustering is off or no media is known)."""
    if statistics.cluster_by_media and "media_digests" in results:
        clusters = media_clusters(list(results["media_digests"]))
    else:
        clusters = np.arange(len(results))
    return results.assign(**{CLUSTER: clusters})


def statistics_note(frame: pd.DataFrame, statistics: StatisticsConfig) -> Statistics:
    """How the intervals were made: summary.json's `statistics` section."""
    return Statistics(**{
        "confidence": statistics.confidence,
        "resamples": statistics.bootstrap_resamples,
        "method": "percentile bootstrap",
        "clustered": statistics.cluster_by_media,
        "clusters": int(frame[CLUSTER].nunique()) if CLUSTER in frame else len(frame),
    })


def summarize(results: pd.DataFrame, statistics: StatisticsConfig | None = None) -> Scores:
    """The `scores` section of summary.json (intervals as `statistics` says; default 95%, 1000 resamples)."""
    statistics = statistics or StatisticsConfig()
    frame = results if CLUSTER in results else with_clusters(results, statistics)
    latency = frame.loc[frame["status"] == "ok", "latency_s"].dropna().to_numpy(dtype=float)
    return Scores.model_validate({
        "overall": group_scores(frame, statistics),
        "by_subset": _by(frame, "subset", statistics, fill=NO_SUBSET),
        "by_format": _by(frame, "format", statistics),
        "by_input_type": _by(frame, "input_type", statistics),
        "by_label": {level: _by(frame, level, statistics) for level in LABEL_LEVELS if frame[level].notna().any()},
        "critical": group_scores(frame[frame["critical"].fillna(False).astype(bool)], statistics),
        "errors": {
            "total": int((frame["status"] != "ok").sum()),
            "by_stage": _counts(frame.loc[frame["status"] != "ok", "error_stage"]),
            "by_type": _counts(frame.loc[frame["status"] != "ok", "error_type"]),
        },
        "unparsed": int(frame["unparsed"].fillna(False).sum()),
        "latency_s": _latency(latency),
        "tokens": {
            "prompt": int(frame["prompt_tokens"].fillna(0).sum()),
            "completion": int(frame["completion_tokens"].fillna(0).sum()),
        },
        "retries": int((frame["attempts"].fillna(1) - 1).clip(lower=0).sum()),
        "weights": _weights(frame["weight"].to_numpy(dtype=float)),
    })


def _weights(weights: np.ndarray) -> dict[str, Any]:
    """Whether the samples' weights differ, so that a weighted pass rate differs from passed / n: the reports say so."""
    if weights.size == 0:
        return {"weighted": False, "min": None, "max": None}
    low, high = float(weights.min()), float(weights.max())
    return {"weighted": low != high, "min": low, "max": high}


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(key): int(value) for key, value in series.fillna("unknown").value_counts().sort_index().items()}


def _latency(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"mean": round(float(values.mean()), 6), "p50": round(float(p50), 6), "p90": round(float(p90), 6),
            "p99": round(float(p99), 6), "max": round(float(values.max()), 6)}
