"""The canary's configuration tree (`ray-eval canary -c CONFIG`), validated once at load like a run's.

It reuses the run's models (engine, sampling, preprocess, scoring) so that a probe is asked and scored exactly as
the evaluation asks and scores it. Unknown keys are errors naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ray_eval.config import (
    DEFAULT_FORMAT_SCORERS,
    JUDGE_SCORER,
    SUITE_NAME,
    EvalConfig,
    OpenAIEngineConfig,
    PreprocessConfig,
    SamplingConfig,
    ScoringConfig,
    ScriptedEngineConfig,
    ServeHandleEngineConfig,
    suite_name_of,
)
from ray_eval.config_loading import StrictModel, load
from ray_eval.data.taxonomy import AnswerFormat
from ray_eval.engines.kinds import EndpointConfig, engine_kind
from ray_eval.errors import ConfigError

# scripted: the evaluation's stand-in model, started by `ray-eval canary` itself (ray_eval.canary.once), for trying it.
CanaryEngineConfig = Annotated[OpenAIEngineConfig | ServeHandleEngineConfig | ScriptedEngineConfig,
                               Field(discriminator="kind")]
NO_JUDGE = ("an LLM judge would double every probe's cost and add a second endpoint that can fail; score open "
            "answers with token_f1, token_f1_cosine or exact_match")


class SuiteProbesConfig(StrictModel):
    """Where a suite's probes come from: a dataset, read once at start; each probe keeps its prepared request."""

    path: Path = Field(
        description="Manifest (.jsonl/.parquet), seed suite (.json) or VLMEvalKit TSV (.tsv) of the probe pool."
    )
    format: Literal["auto", "manifest", "seed_json", "vlmeval_tsv"] = Field(
        "auto", description="Reader to use; auto picks one from the file's extension and content."
    )
    root: Path | None = Field(
        None, description="Folder relative media paths are resolved in and may not leave; default the file's folder "
        "(a seed suite .json: the working directory)."
    )
    critical_only: bool = Field(True, description="Keep only the samples marked critical as probes.")
    limit: int | None = Field(None, ge=1, description="Keep at most this many probes (the first ones of the file).")


ROTATION_KEYS = frozenset({"per_round", "seed"})  # the top-level probes keys of a canary with suites


class ProbesConfig(SuiteProbesConfig):
    """The one probe pool (its path and what to keep), and the rotation that draws each round from the whole pool."""

    path: Path | None = Field(  # type: ignore[assignment]  # None only with suites: the validator requires it else
        None, description="Manifest (.jsonl/.parquet), seed suite (.json) or VLMEvalKit TSV (.tsv) of the probe pool; "
        "required unless `suites` name the pools (then this block holds only per_round and seed)."
    )
    per_round: int = Field(
        8, ge=1, description="Probes sent each round, taken in turn from a shuffled cycle over the pool (with "
        "suites: over all suites' probes together)."
    )
    seed: int = Field(0, description="Seed of the rotation: cycle c is the pool shuffled with seed + c.")

    def pool(self) -> SuiteProbesConfig:
        """The pool part of a one-pool canary's block."""
        return SuiteProbesConfig.model_validate(self.model_dump(exclude=set(ROTATION_KEYS)))


class CanaryServerConfig(StrictModel):
    host: str = Field(
        "127.0.0.1", description="Address the /metrics, /healthz and /state endpoints listen on (plain process mode)."
    )
    port: int = Field(9400, ge=1, le=65535, description="Port of those endpoints (plain process mode).")


class CanaryScoringConfig(ScoringConfig):
    """The evaluation's scoring block without the judge."""

    scorers: dict[AnswerFormat, str] = Field(
        default_factory=lambda: dict(DEFAULT_FORMAT_SCORERS),
        description="Scorer (by registered name) for each answer format; formats not named keep their default. "
        "`judge` is not available in the canary.",
    )
    judge: None = Field(None, description="Not available in the canary: an error names the scorers to use instead.")

    @field_validator("scorers", mode="before")
    @classmethod
    def _no_judge_scorer(cls, scorers: Any) -> Any:
        if isinstance(scorers, dict) and JUDGE_SCORER in scorers.values():
            raise ValueError(f"scorer {JUDGE_SCORER!r} is not available: {NO_JUDGE}")
        return scorers

    @field_validator("judge", mode="before")
    @classmethod
    def _no_judge_block(cls, judge: Any) -> Any:
        if judge is not None:
            raise ValueError(f"the canary has no judge: {NO_JUDGE}")
        return judge


class CanarySuiteConfig(StrictModel):
    """One suite of the probe pool: its probes, scored by its own scorers, with a window of its own."""

    name: str = Field(pattern=SUITE_NAME, description="The suite's name in /state and the metrics' `suite` label "
                      "(lower case a-z, 0-9, _ and -); unique in the canary.")
    probes: SuiteProbesConfig
    scoring: CanaryScoringConfig = CanaryScoringConfig()

    @field_validator("probes", mode="before")
    @classmethod
    def _rotation_is_the_canarys(cls, probes: Any) -> Any:
        if isinstance(probes, dict):
            for key in sorted(ROTATION_KEYS & set(probes)):
                raise ValueError(f"{key}: the rotation draws over the whole pool; set probes.{key} at the top level")
        return probes


class CanaryConfig(StrictModel):
    """A canary: probes sent to a production endpoint every interval, scored, exported for Prometheus."""

    probes: ProbesConfig = Field(
        ProbesConfig(), description="The one probe pool (named after its file) and the rotation; with `suites`, "
        "only the rotation (per_round, seed).")
    suites: list[CanarySuiteConfig] = Field(
        default_factory=list, description="Several probe pools (ShopBench's critical questions and general-ability "
        "guards), each with its probes and scoring, drawn from together by one rotation; instead of probes.path "
        "and `scoring`. The canary alerts when any suite's window is surely below target_pass_ratio.")
    engine: CanaryEngineConfig
    sampling: SamplingConfig = SamplingConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    scoring: CanaryScoringConfig = CanaryScoringConfig()
    interval_s: float = Field(
        300.0, gt=0, description="Seconds from the start of one probe round to the start of the next."
    )
    request_timeout_s: float = Field(
        30.0, gt=0,
        description="Timeout of one probe request; replaces engine.timeout_s, whose default suits batch runs.",
    )
    window: int = Field(50, ge=1, description="Probes in the sliding window of the pass ratio and its Wilson bounds.")
    min_window_probes: int = Field(
        20, ge=1, description="Fewer probes than this in the window: never alerting, whatever the ratio (anti-flap)."
    )
    target_pass_ratio: float = Field(
        0.9, gt=0, le=1, description="Pass ratio production must hold; /state's alert is true when the window holds "
        "min_window_probes and its 95% Wilson upper bound is below this (the alert rules' condition)."
    )
    stale_after_intervals: float = Field(
        3.0, gt=0, description="/healthz turns 503 when no round finished within this many intervals (counted from "
        "the start before the first round)."
    )
    recent_results: int = Field(100, ge=0, description="Probes whose last result /state lists (the most recent ones).")
    server: CanaryServerConfig = CanaryServerConfig()

    @classmethod
    def unknown_key_note(cls, key: str) -> str:
        # `gate:` or `dataset:` in a canary's file: the user took the evaluation's config for this one.
        if key in EvalConfig.model_fields:
            return f" ({key} is a section of the evaluation's config, not of this one)"
        return ""

    @model_validator(mode="after")
    def _window_holds_the_minimum(self) -> CanaryConfig:
        if self.min_window_probes > self.window:
            raise ValueError(f"min_window_probes ({self.min_window_probes}) must not exceed window ({self.window}): "
                             "the alert could never fire")
        return self

    @model_validator(mode="after")
    def _one_way_to_name_the_pools(self) -> CanaryConfig:
        # The evaluation's rule (EvalConfig): one pool (probes.path, scoring) or suites, never both.
        if not self.suites:
            if self.probes.path is None:
                raise ValueError("probes.path or suites is required")
            return self
        pool_keys = sorted(self.probes.model_fields_set - ROTATION_KEYS)
        if pool_keys:
            raise ValueError(f"probes.{pool_keys[0]}: with suites, each suite has its own probes block "
                             "(suites[i].probes); the top-level probes block holds only per_round and seed")
        if self.scoring.model_fields_set:
            raise ValueError(f"scoring.{sorted(self.scoring.model_fields_set)[0]}: with suites, each suite has its "
                             "own scoring block (suites[i].scoring)")
        names = [suite.name for suite in self.suites]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"suites: the name {name!r} is used twice; suite names must be unique")
        return self

    def probe_suites(self) -> list[CanarySuiteConfig]:
        """The pool's suites: `suites`, or the one pool named after its file with the top-level scoring."""
        if self.suites:
            return self.suites
        assert self.probes.path is not None  # the validator requires it without suites
        return [CanarySuiteConfig(name=suite_name_of(self.probes.path), probes=self.probes.pool(),
                                  scoring=self.scoring)]

    def engine_for_probes(self) -> EndpointConfig:
        """The engine block with the canary's request timeout."""
        endpoint = engine_kind(self.engine).endpoint
        if endpoint is None:
            raise ConfigError("engine.kind scripted: the stand-in model is started by `ray-eval canary` "
                              "(a plain process), not by the canary's Serve app")
        return endpoint.model_copy(update={"timeout_s": self.request_timeout_s})


def load_canary_config(path: Path | None, overrides: Sequence[str] = ()) -> CanaryConfig:
    """Read a YAML file, apply `dotted.key=value` overrides, validate; ConfigError names every bad field."""
    return load(path, CanaryConfig, overrides)
