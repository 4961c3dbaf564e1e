"""The scoring blocks of a config (`scoring`, `statistics`, `diagnostics`, each suite's `scoring`): which scorer reads
each answer format, the judge, and how scores are summarised. Data only: the scorers are in ray_eval/scoring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from ray_eval.config_fingerprint import FingerprintedWhole
from ray_eval.config_loading import StrictModel
from ray_eval.data.taxonomy import AnswerFormat
from ray_eval.engine_config import JudgeEngineConfig

JUDGE_SCORER = "judge"  # the scorer name that routes a format's answers to the judge stage
EMBEDDING_SCORER = "token_f1_cosine"  # the scorer that needs scoring.embedding_model


class JudgeConfig(StrictModel):
    """An LLM judge for open answers: a fixed rubric, temperature 0, verdicts cached on disk."""

    # Unlike the model's engine, the judge's request policy always counted: leaving it out now would refuse to resume
    # the run directories of judged runs made before.
    engine: Annotated[JudgeEngineConfig, FingerprintedWhole("judged runs made before still resume")] = Field(
        description="The judge's endpoint: an openai or serve_handle engine block.")
    max_tokens: int = Field(256, ge=16, description="Longest judge reply, in tokens (the verdict plus a short reason).")
    cache_dir: Path | None = Field(
        None, description="Folder of cached verdicts, keyed by question, reference, answer, judge model and rubric; "
        "default <run.out_dir>/judge-cache."
    )
    actors: int = Field(1, ge=1, description="Judge actors; each holds one client.")
    max_in_flight_per_actor: int = Field(8, ge=1, description="Judge requests each actor keeps in flight at once.")
    batch_size: int = Field(8, ge=1, description="Samples per judge batch.")


DEFAULT_FORMAT_SCORERS = {AnswerFormat.MCQ: "choice", AnswerFormat.FORMAT: "structured", AnswerFormat.OPEN: "token_f1"}


class ScoringConfig(StrictModel):
    scorers: dict[AnswerFormat, str] = Field(
        default_factory=lambda: dict(DEFAULT_FORMAT_SCORERS),
        description="Scorer (by registered name) for each answer format; formats not named keep their default. "
        "`judge` (open answers only) needs scoring.judge.",
    )
    format_pass_threshold: float = Field(1.0, ge=0, le=1, description="A format answer passes with this share of "
                                                                      "fields right.")
    open_pass_threshold: float = Field(0.5, ge=0, le=1, description="An open answer passes at this score (lexical or "
                                                                    "judge).")
    judge: JudgeConfig | None = Field(None, description="The LLM judge used when an answer format's scorer is `judge`.")
    embedding_model: Path | None = Field(
        None, description="Local sentence-embedding model folder (e.g. all-MiniLM-L6-v2, no download) for the "
        "`token_f1_cosine` scorer; needs transformers and torch."
    )

    @field_validator("scorers", mode="after")
    @classmethod
    def _over_defaults(cls, scorers: dict[AnswerFormat, str]) -> dict[AnswerFormat, str]:
        return {**DEFAULT_FORMAT_SCORERS, **scorers}

    @model_validator(mode="after")
    def _judge_where_named(self) -> ScoringConfig:
        judged = [fmt.value for fmt, name in self.scorers.items() if name == JUDGE_SCORER]
        if judged and self.judge is None:
            raise ValueError(f"scorer {JUDGE_SCORER!r} for {', '.join(judged)} needs a scoring.judge block")
        if any(fmt != AnswerFormat.OPEN for fmt in self.scorers if self.scorers[fmt] == JUDGE_SCORER):
            raise ValueError(f"scorer {JUDGE_SCORER!r} scores open answers only")
        if EMBEDDING_SCORER in self.scorers.values() and self.embedding_model is None:
            raise ValueError(f"scorer {EMBEDDING_SCORER!r} needs scoring.embedding_model (a local model folder)")
        return self

    @property
    def judged_formats(self) -> frozenset[str]:
        return frozenset(fmt.value for fmt, name in self.scorers.items() if name == JUDGE_SCORER)


class StatisticsConfig(StrictModel):
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Level of every reported interval and of the paired "
                                                              "tests.")
    bootstrap_resamples: int = Field(1000, ge=100, description="Bootstrap resamples per interval.")
    seed: int = Field(0, description="Seed of the bootstrap: same results, same intervals.")
    cluster_by_media: bool = Field(
        True, description="Resample samples sharing an image or video together (a cluster bootstrap), since their "
        "answers are not independent."
    )


class DiagnosticsConfig(StrictModel):
    blind_pass: bool = Field(
        False, description="Also ask every question with media again without its images or video, in the same job, "
        "for the visual diagnostics MG, VNR and VIF (doubles the requests of those samples)."
    )
