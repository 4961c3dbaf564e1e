"""Scoring: pure functions from (response, target) to a score in [0, 1], registered by name; no Ray needed.

    from ray_eval.scoring import get_scorer, ScoringTarget
    result = get_scorer("choice")("The answer is B.", ScoringTarget("mcq", ("x", "y"), "B"))

Passing is not decided here: the pipeline compares `ScoreResult.score` with its configured threshold.
"""

from ray_eval.scoring.choice import ChoiceReading, extract_choice, read_choice
from ray_eval.scoring.diagnostics import visual_diagnostics
from ray_eval.scoring.judge import (
    RUBRIC_VERSION,
    JudgeVerdict,
    JudgeVerdictError,
    VerdictCache,
    cache_key,
    judge_messages,
    parse_verdict,
)
from ray_eval.scoring.lexical import token_f1, token_recall, tokenize
from ray_eval.scoring.registry import (
    SCORERS,
    ScorerEntry,
    ScoreResult,
    ScoringTarget,
    UnknownScorerError,
    get_scorer,
    own_stage_formats,
    scorer,
    scorer_entry,
)
from ray_eval.scoring.structured import StructuredScore, find_json_object, read_structured, score_structured
from ray_eval.scoring.text import strip_reasoning

__all__ = [
    "RUBRIC_VERSION",
    "SCORERS",
    "ChoiceReading",
    "JudgeVerdict",
    "JudgeVerdictError",
    "ScoreResult",
    "ScorerEntry",
    "ScoringTarget",
    "StructuredScore",
    "UnknownScorerError",
    "VerdictCache",
    "cache_key",
    "extract_choice",
    "find_json_object",
    "get_scorer",
    "own_stage_formats",
    "judge_messages",
    "parse_verdict",
    "read_choice",
    "read_structured",
    "score_structured",
    "scorer",
    "scorer_entry",
    "strip_reasoning",
    "token_f1",
    "token_recall",
    "tokenize",
    "visual_diagnostics",
]
