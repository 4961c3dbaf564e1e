"""What a scorer name stands for in the pipeline (ray_eval.scoring.registry.scorer_entry): plain scorers called as
they are, the embedding scorer checked on the driver and made in the actor, the judge's answers left to its own
stage; the scoring stage and the pipeline ask those properties, not the names."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from ray_eval.config import JudgeConfig, OpenAIEngineConfig, ScoringConfig
from ray_eval.data.taxonomy import AnswerFormat
from ray_eval.errors import ConfigError
from ray_eval.pipeline import ScoringStage
from ray_eval.records import INFERRED_SCHEMA
from ray_eval.scoring import UnknownScorerError, get_scorer, own_stage_formats, scorer_entry

JUDGE = JudgeConfig(engine=OpenAIEngineConfig(base_url="http://judge.test/v1", model="judge"))


def test_a_plain_scorer_is_made_as_the_registered_function() -> None:
    entry = scorer_entry("exact_match")
    assert not entry.own_stage
    entry.check(ScoringConfig())  # nothing to check
    assert entry.make(ScoringConfig()) is get_scorer("exact_match")


def test_an_unknown_name_is_refused_naming_the_known_scorers() -> None:
    with pytest.raises(UnknownScorerError, match="unknown scorer 'bleu'; known scorers: choice, exact_match"):
        scorer_entry("bleu")


def test_the_embedding_scorer_checks_its_model_folder_on_the_driver(tmp_path: Path) -> None:
    missing = tmp_path / "no-model"
    config = ScoringConfig(scorers={AnswerFormat.OPEN: "token_f1_cosine"}, embedding_model=missing)
    entry = scorer_entry("token_f1_cosine")
    assert not entry.own_stage
    with pytest.raises(ConfigError, match=f"^scoring.embedding_model: {missing} is not a folder$"):
        entry.check(config)
    with pytest.raises(ConfigError, match=f"^scoring.embedding_model: {missing} is not a folder$"):
        ScoringStage(config)  # the stage asks every format's entry before anything runs


def test_the_judge_has_a_stage_of_its_own_and_the_scoring_stage_leaves_its_answers() -> None:
    config = ScoringConfig(scorers={AnswerFormat.OPEN: "judge"}, judge=JUDGE)
    assert scorer_entry("judge").own_stage
    assert own_stage_formats(config.scorers) == frozenset({"open"})
    assert own_stage_formats(ScoringConfig().scorers) == frozenset()
    with pytest.raises(NotImplementedError, match="JudgeScorer is not called by the scoring stage"):
        scorer_entry("judge").make(config)
    row = dict.fromkeys(INFERRED_SCHEMA.names)
    row.update(sample_id="o", status="ok", format="open", options=[], media_refs=[], weight=1.0, critical=False,
               answer="red apples", response="red apples")
    scored, = ScoringStage(config)(pa.Table.from_pylist([row], schema=INFERRED_SCHEMA)).to_pylist()
    assert (scored["scorer"], scored["score"], scored["passed"]) == ("judge", None, None)
