"""summary.json's sections of what a suite's results say: scores with their intervals by group, how the intervals were
made, how the engine served the run, the blind pass's diagnostics and the comparison with a baseline run. Part of
the summary's models (verdict/summary_model.py, which exports them too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from ray_eval.verdict.stored import Number, Stored

# ---- scores --------------------------------------------------------------------------------------------------------


class GroupScores(Stored):
    """One group's scores (aggregate.group_scores): score 0-100 and pass rate 0-1, each with its interval."""

    n: int
    weight: Number
    score: Number | None
    score_ci: list[Number] | None = None
    pass_rate: Number | None
    pass_rate_ci: list[Number] | None = None
    passed: int
    errors: int
    unparsed: int
    error_rate: Number | None
    unparsed_rate: Number | None

    def metric(self, name: str) -> Number | None:
        """A gate check's metric of this group, by the check's metric name (score, pass_rate, error_rate, errors,
        unparsed_rate)."""
        return getattr(self, name)


class ErrorCounts(Stored):
    total: int
    by_stage: dict[str, int]
    by_type: dict[str, int]


class Latency(Stored):
    mean: Number | None
    p50: Number | None
    p90: Number | None
    p99: Number | None
    max: Number | None


class Tokens(Stored):
    prompt: int
    completion: int


class Weights(Stored):
    weighted: bool
    min: Number | None
    max: Number | None


class Scores(Stored):
    """summary.json's `scores` (aggregate.summarize)."""

    overall: GroupScores
    by_subset: dict[str, GroupScores]
    by_format: dict[str, GroupScores]
    by_input_type: dict[str, GroupScores] = {}
    by_label: dict[str, dict[str, GroupScores]] = {}
    critical: GroupScores
    errors: ErrorCounts | None = None
    unparsed: int | None = None
    latency_s: Latency | None = None
    tokens: Tokens | None = None
    retries: int | None = None
    weights: Weights | None = None

    def groups(self) -> Iterator[tuple[str, str, GroupScores]]:
        """(dimension, group name, scores) of every group: overall, critical, each subset, format and input type,
        then each label level's categories (the level is the dimension), in the order summary.json holds them."""
        yield "overall", "overall", self.overall
        yield "critical", "critical", self.critical
        for dimension, groups in (("subset", self.by_subset), ("format", self.by_format),
                                  ("input_type", self.by_input_type), *self.by_label.items()):
            for name, group in groups.items():
                yield dimension, name, group


class Statistics(Stored):
    """How the intervals were made (aggregate.statistics_note)."""

    confidence: Number
    resamples: int
    method: str
    clustered: bool
    clusters: int


class ServingSetup(Stored):
    """What a run's serving numbers were measured under (verdict/serving_gate.py): a bound relative to a baseline run
    is decided only when the baseline's setup is the same, the model aside (the model is what is compared)."""

    engine_kind: str
    model: str | None
    serve_config_sha256: str | None  # of the Serve config file deployed for the run; None: none was deployed
    engine_capacity: int  # requests the engine works on at once
    requests_in_flight: int  # actors x max in flight per actor: the run's own load
    max_tokens: int  # inference.sampling.max_tokens


class Serving(Stored):
    """How the engine served the run (verdict/serving.py): throughput over the busy window, latency per request
    under the run's own load, completion tokens per answer with its interval, and the engine's errors. With
    gate.serving configured, also the latency intervals and the setup the numbers were measured under."""

    answers: int
    busy_window_s: Number | None
    answers_per_s: Number | None
    latency_p50_s: Number | None
    latency_p95_s: Number | None
    completion_tokens_per_answer: Number | None
    completion_tokens_per_answer_ci: list[Number | None] | None
    engine_errors: int
    engine_error_rate: Number | None
    latency_p50_s_ci: list[Number] | None = None  # written only with gate.serving
    latency_p95_s_ci: list[Number] | None = None
    setup: ServingSetup | None = None


# ---- diagnostics ---------------------------------------------------------------------------------------------------


class DiagnosticsGroup(Stored):
    """The blind pass's visual diagnostics of one group (scoring/diagnostics.py)."""

    n: int
    excluded: int
    accuracy_with_vision: Number | None
    accuracy_without_vision: Number | None
    MG: Number | None  # the paper's names, as stored
    VNR: Number | None
    VIF: Number | None
    MG_ci: list[Number] | None = None  # MG's paired bootstrap interval; None in runs concluded before it was made


class Diagnostics(Stored):
    overall: DiagnosticsGroup
    by_subset: dict[str, DiagnosticsGroup]


# ---- comparison with a baseline ------------------------------------------------------------------------------------


class RunIdentity(Stored):
    run_dir: str | None = None
    run_id: str | None = None
    model: str | None = None


class PairedGroupScores(Stored):
    """One group of paired samples (comparison_verdict.PairedGroup.as_dict)."""

    n: int | None
    clusters: int | None = None
    baseline_score: Number | None
    candidate_score: Number | None
    delta: Number | None
    delta_ci: list[Number] | None
    p_value: Number | None
    test: str | None
    significant: bool
    verdict: str | None = None
    p_regressed: Number | None = None  # one-sided p of a regression beyond the gate's margin (overall; tested subsets)


class Flip(Stored):
    sample_id: str
    subset: str | None
    format: str | None
    change: Literal["gained", "lost"]
    baseline_extracted: str | None
    candidate_extracted: str | None
    baseline_error: bool
    candidate_error: bool


class FlipTotals(Stored):
    gained: int
    lost: int


class Comparison(Stored):
    """The comparison of this run (the candidate) with a baseline run on the samples both have (compare.compare)."""

    baseline: RunIdentity
    candidate: RunIdentity
    paired_samples: int
    only_in_baseline: int
    only_in_candidate: int
    confidence: Number
    min_paired_samples: int | None = None
    notes: list[str]
    overall: PairedGroupScores | None
    by_subset: dict[str, PairedGroupScores | None]
    by_format: dict[str, PairedGroupScores | None]
    by_label: dict[str, dict[str, PairedGroupScores | None]] = {}
    flipped_total: FlipTotals
    flipped: list[Flip]
    verdict: str | None = None
