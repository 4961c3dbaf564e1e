"""The gate blocks of a config (`gate`, each suite's `gate`): thresholds, the baseline check, partial runs and the
run-wide serving checks. Data only: the checks are in ray_eval/verdict/gate.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from ray_eval.config_fingerprint import CountsWhenSet
from ray_eval.config_loading import StrictModel
from ray_eval.data.taxonomy import AnswerFormat, Subset
from ray_eval.serving_gate_config import ServingGateConfig


class Thresholds(StrictModel):
    min_pass_rate: float | None = Field(None, ge=0, le=1, description="Lowest sample-weighted pass rate (0-1).")
    min_score: float | None = Field(None, ge=0, le=100, description="Lowest sample-weighted accuracy (0-100).")


class BaselineConfig(StrictModel):
    run_dir: Path = Field(description="Finished run directory of the baseline model or checkpoint.")
    max_regression: float = Field(
        1.0, ge=0, le=100, description="Margin, in score points (0-100): the gate passes only when the paired "
        "interval of (this run - baseline) lies above -max_regression."
    )
    min_paired_samples: int = Field(
        30, ge=1, description="Fewer samples shared with the baseline than this: undecided (too few to decide), not a "
                              "pass."
    )
    subsets: Annotated[bool, CountsWhenSet("issue 19: a regression test per subset")] = Field(
        False, description="Also test each subset for a regression beyond the same margin, in the same family of tests "
        "(Holm), so a failure names the subset that regressed. A subset with fewer than min_paired_samples shared "
        "samples is not tested; a tested subset whose interval straddles the margin is undecided, as the overall test."
    )


class GateConfig(Thresholds):
    max_error_rate: float | None = Field(None, ge=0, le=1, description="Highest share of samples ending in an error.")
    max_errors: int | None = Field(None, ge=0, description="Highest number of samples ending in an error (a count "
                                                           "budget).")
    max_unparsed_rate: float | None = Field(None, ge=0, le=1, description="Highest share of answers no scorer could "
                                                                          "read.")
    critical_min_pass_rate: float | None = Field(None, ge=0, le=1, description="Lowest pass rate of critical samples.")
    subsets: dict[Subset, Thresholds] = Field(default_factory=dict, description="Per-subset thresholds.")
    formats: dict[AnswerFormat, Thresholds] = Field(default_factory=dict, description="Per-format thresholds.")
    labels: dict[Literal["l1", "l2", "l3", "l4"], dict[str, Thresholds]] = Field(
        default_factory=dict, description="Per-category thresholds by label level, e.g. {l2: {OCR: {min_pass_rate: "
                                          "0.8}}}."
    )
    use_suite_thresholds: bool = Field(
        True, description="Apply a seed suite's own thresholds (the config's values win for the same check)."
    )
    baseline: BaselineConfig | None = Field(
        None, description="Fail on a significant regression against a baseline run of the same samples."
    )
    allow_partial: bool = Field(
        False, description="Let a run of part of the dataset (dataset.limit) pass: a smoke run. Without it such a run "
        "is undecided (exit 1), never a pass: N of M rows are no release verdict."
    )
    serving: Annotated[ServingGateConfig | None, CountsWhenSet("issue 18: serving checks")] = Field(
        None, description="Serving checks: answers per second, latency p50/p95 per request under the run's own "
        "load, completion tokens per answer and the engine error rate, absolute or against a baseline run."
    )
