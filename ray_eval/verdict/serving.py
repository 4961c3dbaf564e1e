"""How the engine served the run, from what every run already records: answers per second over the busy window,
latency per request (p50, p95), completion tokens per answer, and the engine's error rate (summary.json's
`serving`).

The numbers are the run's own: latency is measured under the load the run put on the engine (its requests in
flight), so it compares across runs only on the same serving config and sizing. The busy window runs from the first
request sent to the last answer back (a row's send time is its answer time less its latency, retries included); for a
resumed run it spans every session and the pause between them, so its answers per second are a lower bound.

With gate.serving configured, latency p50 and p95 also get a bootstrap interval over the answered requests
(latency_intervals), which the gate's serving checks decide on (verdict/serving_gate.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ray_eval.config import StatisticsConfig
from ray_eval.verdict.stats import bootstrap_means
from ray_eval.verdict.summary_model import Serving

BEFORE_THE_ENGINE = ("read", "preprocess")  # error stages of rows that never reached the engine
RESAMPLE_CHUNK_VALUES = 4_000_000  # latencies drawn at once by bootstrap_percentiles (32 MB of floats)
SERVING_COLUMNS = ["status", "error_stage", "latency_s", "answered_at", "completion_tokens"]


def reached_the_engine(results: pd.DataFrame) -> pd.Series:
    """Rows sent to the engine: answered, or ended in an error at or after inference."""
    return (results["status"] == "ok") | ~results["error_stage"].isin(BEFORE_THE_ENGINE)


def engine_error_rows(results: pd.DataFrame) -> pd.Series:
    """Rows that ended in an error of the engine, not of the model's answer or the input."""
    return (results["status"] != "ok") & (results["error_stage"] == "inference")


def answered_latencies(results: pd.DataFrame) -> np.ndarray:
    """Latency per request, in seconds, of the requests the engine answered."""
    answered = results[reached_the_engine(results) & ~engine_error_rows(results)]
    return answered["latency_s"].dropna().to_numpy(dtype=float)


def serving_of(results: pd.DataFrame, statistics: StatisticsConfig) -> Serving:
    """summary.json's `serving` section of these result rows (SERVING_COLUMNS)."""
    reached = reached_the_engine(results)
    errors = engine_error_rows(results)
    answered = results[reached & ~errors]
    latency = answered_latencies(results)
    timed = results[reached].dropna(subset=["latency_s", "answered_at"])
    sent_at = timed["answered_at"] - timed["latency_s"]
    window = float(timed["answered_at"].max() - sent_at.min()) if len(timed) else None
    tokens = answered["completion_tokens"].dropna().to_numpy(dtype=float)
    interval = (bootstrap_means({"tokens": tokens}, resamples=statistics.bootstrap_resamples,
                                confidence=statistics.confidence, seed=statistics.seed)["tokens"]
                if tokens.size else None)
    p50, p95 = (np.percentile(latency, [50, 95]) if latency.size else (None, None))
    return Serving(
        answers=len(answered),
        busy_window_s=_rounded(window),
        answers_per_s=_rounded(len(answered) / window if window else None),
        latency_p50_s=_rounded(p50),
        latency_p95_s=_rounded(p95),
        completion_tokens_per_answer=_rounded(float(tokens.mean()) if tokens.size else None),
        completion_tokens_per_answer_ci=None if interval is None else [_rounded(interval[0]), _rounded(interval[1])],
        engine_errors=int(errors.sum()),
        engine_error_rate=_rounded(float(errors.sum()) / int(reached.sum()) if int(reached.sum()) else None),
    )


def latency_intervals(results: pd.DataFrame, statistics: StatisticsConfig
                      ) -> tuple[list[float | None], list[float | None]] | None:
    """Bootstrap intervals of latency p50 and p95 over this run's answered requests (percentile bootstrap, the
    statistics block's confidence, resamples and seed); None without answers. They say how precisely this run's
    requests pin the percentiles down, not how much another run's would differ."""
    intervals = bootstrap_percentiles(answered_latencies(results), (50, 95), resamples=statistics.bootstrap_resamples,
                                      confidence=statistics.confidence, seed=statistics.seed)
    if intervals is None:
        return None
    (p50_low, p50_high), (p95_low, p95_high) = intervals
    return [_rounded(p50_low), _rounded(p50_high)], [_rounded(p95_low), _rounded(p95_high)]


def bootstrap_percentiles(values: np.ndarray, percentiles: tuple[float, ...], *, resamples: int, confidence: float,
                          seed: int) -> list[tuple[float, float]] | None:
    """Percentile-bootstrap interval of each percentile of `values` (numpy's linear rule, as the point values), one
    (low, high) per percentile; None when there are no values. Deterministic for a seed; resamples are drawn in
    chunks of at most RESAMPLE_CHUNK_VALUES values, so memory stays bounded for any number of requests."""
    if values.size == 0:
        return None
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, RESAMPLE_CHUNK_VALUES // values.size)
    drawn = np.empty((resamples, len(percentiles)))
    for start in range(0, resamples, rows_per_chunk):
        rows = min(rows_per_chunk, resamples - start)
        resampled = values[rng.integers(0, values.size, size=(rows, values.size))]
        drawn[start:start + rows] = np.percentile(resampled, percentiles, axis=1).T
    tail = (1 - confidence) / 2
    low, high = np.quantile(drawn, [tail, 1 - tail], axis=0)
    return [(float(low[i]), float(high[i])) for i in range(len(percentiles))]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
