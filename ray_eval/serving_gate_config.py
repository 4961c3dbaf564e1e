"""The gate's serving block (`gate.serving`): bounds on how the engine served the run, absolute and relative to a
baseline run measured under the same serving setup. Data only: the checks are in ray_eval/verdict/serving_gate.py.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ray_eval.config_loading import StrictModel


class ServingBaselineConfig(StrictModel):
    """Bounds relative to a baseline run's serving numbers, decided only when both runs were measured under the same
    serving setup (engine kind, Serve config file, engine capacity, requests in flight, sampling.max_tokens)."""

    run_dir: Path = Field(description="Finished run directory whose summary.json's serving section is the reference "
                                      "(its summary.json is all that is read).")
    max_latency_p95_ratio: float | None = Field(
        None, gt=0, description="Highest latency p95 as a multiple of the baseline's, e.g. 1.2: its interval must lie "
        "wholly at or below 1.2 x the baseline's p95.")
    max_completion_tokens_ratio: float | None = Field(
        None, gt=0, description="Highest completion tokens per answer as a multiple of the baseline's, e.g. 1.5: a "
        "checkpoint that talks longer costs more GPU time per answer.")
    min_answers_per_s_ratio: float | None = Field(
        None, gt=0, description="Lowest answers per second as a multiple of the baseline's, e.g. 0.8; decided on "
        "the value (one busy window has no interval).")


class ServingGateConfig(StrictModel):
    """Serving checks. Each bound is optional; an empty block (`serving: {}`) checks nothing but records what the
    serving numbers were measured under, and the latency intervals, so the run can serve as a baseline."""

    min_answers_per_s: float | None = Field(
        None, ge=0, description="Lowest answers per second over the busy window; decided on the value (one busy "
        "window has no interval).")
    max_latency_p50_s: float | None = Field(
        None, gt=0, description="Highest median latency per request, in seconds, under the run's own load: its "
        "bootstrap interval must lie wholly at or below it.")
    max_latency_p95_s: float | None = Field(
        None, gt=0, description="Highest 95th-percentile latency per request, in seconds, under the run's own load "
        "(interval rule as max_latency_p50_s).")
    max_completion_tokens_per_answer: float | None = Field(
        None, gt=0, description="Highest mean completion tokens per answer (interval rule as max_latency_p50_s).")
    max_engine_error_rate: float | None = Field(
        None, ge=0, le=1, description="Highest share of the requests sent to the engine that ended in an engine "
        "error; decided on the value (a count of what happened).")
    baseline: ServingBaselineConfig | None = Field(
        None, description="Bounds relative to a baseline run of the same serving setup.")
