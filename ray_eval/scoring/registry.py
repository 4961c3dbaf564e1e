"""Scorers by name: small functions `fn(response, target) -> ScoreResult`, registered with `@scorer("name")`.

A configuration names a scorer per answer format (config.DEFAULT_FORMAT_SCORERS unless overridden), and the
pipeline looks it up here (`scorer_entry`). Most scorers are plain functions, called in the scoring stage as they
are; two names stand for more and are registered here with what they need: `token_f1_cosine` loads an embedding
model in each actor, and `judge` leaves its answers to a stage of its own (the pipeline's JudgeStage). Scorers only
measure: a score in [0, 1] and what was read. Whether a sample passes is the pipeline's
decision (one threshold for every scorer, in the config), so no scorer hides its own pass mark the way the seed
article's keyword check did with its 0.7.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

from ray_eval.config import EMBEDDING_SCORER, JUDGE_SCORER
from ray_eval.data.acceptable_answers import acceptable_answers
from ray_eval.data.taxonomy import AnswerFormat
from ray_eval.errors import ConfigError
from ray_eval.scoring.choice import read_choice
from ray_eval.scoring.lexical import overlap, tokenize
from ray_eval.scoring.structured import canonical_json, find_json_object, read_structured
from ray_eval.scoring.text import normalize_text, strip_reasoning
from ray_eval.scoring.yes_no import expected_yes_no, read_yes_no

if TYPE_CHECKING:
    from ray_eval.config import ScoringConfig


@dataclass(frozen=True)
class ScoringTarget:
    """What a response is scored against.

    answer: mcq, the correct letter; open, the reference text; format, the answer object as JSON text.
    """

    format: str
    options: tuple[str, ...] = ()
    answer: str = ""
    answer_schema: dict | None = None

    def __post_init__(self) -> None:
        formats = [fmt.value for fmt in AnswerFormat]
        if self.format not in formats:
            raise ValueError(f"format must be one of {', '.join(formats)}; got {self.format!r}")
        # Rows from Arrow/pandas carry options as numpy arrays, whose truth value is an error: test for None.
        options = () if self.options is None else self.options
        object.__setattr__(self, "options", tuple(str(option) for option in options))
        if not isinstance(self.answer, str):
            raise TypeError(f"answer must be text (a letter, reference text or JSON); got {type(self.answer).__name__}")


@dataclass(frozen=True)
class ScoreResult:
    """score in [0, 1]; extracted: what was read from the response (letter, canonical JSON, answer text);
    unparsed: no answer could be read; details: JSON-serialisable specifics for reports."""

    score: float
    extracted: str | None
    unparsed: bool
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.score, (int, float)) and math.isfinite(self.score) and 0.0 <= self.score <= 1.0):
            raise ValueError(f"score must be a number in [0, 1]; got {self.score!r}")
        object.__setattr__(self, "score", float(self.score))


Scorer = Callable[[str, ScoringTarget], ScoreResult]

_SCORERS: dict[str, Scorer] = {}
SCORERS: Mapping[str, Scorer] = MappingProxyType(_SCORERS)  # read-only view; register with @scorer


class UnknownScorerError(KeyError, ConfigError):
    """A scorer name that is not registered (a KeyError for lookups, a ConfigError for the command line)."""

    def __init__(self, name: str, known: list[str]):
        message = f"unknown scorer {name!r}; known scorers: {', '.join(known) or '(none)'}"
        super().__init__(message)
        self.name = name
        self.known = known
        self.message = message

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return self.message


def scorer(name: str) -> Callable[[Scorer], Scorer]:
    """Register a scorer under name. Registering a different function under a taken name is an error."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a scorer name must be non-empty text; got {name!r}")

    def register(fn: Scorer) -> Scorer:
        existing = _SCORERS.get(name)
        # The same function seen again (a module reloaded) replaces itself; a different one is a clash.
        if existing is not None and (existing.__module__, existing.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"scorer {name!r} is already registered ({existing.__module__}.{existing.__qualname__})")
        _SCORERS[name] = fn
        return fn

    return register


def get_scorer(name: str) -> Scorer:
    """The scorer registered under name; UnknownScorerError (a KeyError) names the known ones otherwise."""
    try:
        return _SCORERS[name]
    except (KeyError, TypeError):
        raise UnknownScorerError(name, sorted(_SCORERS)) from None


# ---- what a scorer name stands for in the pipeline ----------------------------------------------------------------


class ScorerEntry:
    """What the pipeline needs to know of a scorer name: whether its answers are scored by a stage of their own
    (`own_stage`: the judge's), what to check on the driver before a run, and how an actor makes the scorer."""

    own_stage: ClassVar[bool] = False  # answers left unscored by the scoring stage, for a stage after it

    def check(self, config: ScoringConfig) -> None:
        """Before anything runs (on the driver): ConfigError when the scorer cannot work with this config."""

    def make(self, config: ScoringConfig) -> Scorer:
        """The scorer the scoring stage calls, made in the actor on first use (a model loads there, not on the
        driver)."""
        raise NotImplementedError(f"{type(self).__name__} is not called by the scoring stage")


@dataclass(frozen=True)
class FunctionScorer(ScorerEntry):
    """A scorer registered with @scorer: called as it is."""

    function: Scorer

    def make(self, config: ScoringConfig) -> Scorer:
        return self.function


class EmbeddingScorer(ScorerEntry):
    """`token_f1_cosine`: token F1 and a sentence-embedding cosine; each actor loads scoring.embedding_model."""

    def check(self, config: ScoringConfig) -> None:
        if not self.model_dir(config).is_dir():
            raise ConfigError(f"scoring.embedding_model: {config.embedding_model} is not a folder")

    def make(self, config: ScoringConfig) -> Scorer:
        from ray_eval.scoring.embedding import TokenF1CosineScorer  # torch and transformers, in the actor only

        return TokenF1CosineScorer(self.model_dir(config))

    @staticmethod
    def model_dir(config: ScoringConfig) -> Path:
        assert config.embedding_model is not None  # ScoringConfig refuses this scorer without a model folder
        return Path(config.embedding_model)


class JudgeScorer(ScorerEntry):
    """`judge`: open answers graded by an LLM judge (scoring.judge) in a stage of their own after scoring (the
    pipeline's JudgeStage, actors waiting on the judge's engine)."""

    own_stage = True


_ENTRIES: Mapping[str, ScorerEntry] = MappingProxyType({EMBEDDING_SCORER: EmbeddingScorer(),
                                                         JUDGE_SCORER: JudgeScorer()})


def scorer_entry(name: str) -> ScorerEntry:
    """What a configured scorer name stands for; UnknownScorerError (a KeyError) names the known scorers."""
    entry = _ENTRIES.get(name)
    return entry if entry is not None else FunctionScorer(get_scorer(name))


def own_stage_formats(scorers: Mapping[AnswerFormat, str]) -> frozenset[str]:
    """The formats (values) whose answers are scored by a stage of their own, the judge's."""
    return frozenset(fmt.value for fmt, name in scorers.items() if name in _ENTRIES and _ENTRIES[name].own_stage)


# ---- built-in scorers -----------------------------------------------------------------------------------------------


@scorer("choice")
def choice_scorer(response: str, target: ScoringTarget) -> ScoreResult:
    """Multiple choice: 1.0 when the letter read from the response is the answer; unparsed when none is read."""
    if not target.options:
        raise ValueError("the choice scorer needs the question's options")
    reading = read_choice(response, target.options)
    return _one_answer_read(target.answer.strip().upper(), reading.letter, reading.rule, reading.note)


@scorer("structured")
def structured_scorer(response: str, target: ScoringTarget) -> ScoreResult:
    """Format questions: the share of the answer object's fields matched; unparsed when no JSON object is found."""
    expected = _answer_object(target)
    result = read_structured(response, expected, target.answer_schema)
    details = {
        "field_results": result.field_results,
        "fields_matched": sum(result.field_results.values()),
        "fields_total": len(result.field_results),
        "schema_errors": result.schema_errors,
    }
    extracted = None if result.parsed is None else canonical_json(result.parsed)
    return ScoreResult(result.score, extracted, result.unparsed, details)


@scorer("token_f1")
def token_f1_scorer(response: str, target: ScoringTarget) -> ScoreResult:
    """Open questions: token F1 against the reference; unparsed only when there is no answer text at all."""
    answer = strip_reasoning(response or "")
    if not answer:
        return ScoreResult(0.0, None, True, {"note": "empty response (after removing any reasoning block)"})
    precision, recall, f1 = overlap(answer, target.answer)
    details = {
        "precision": precision,
        "recall": recall,
        "response_tokens": len(tokenize(answer)),
        "reference_tokens": len(tokenize(target.answer)),
    }
    return ScoreResult(f1, answer, False, details)


@scorer("exact_match")
def exact_match_scorer(response: str, target: ScoringTarget) -> ScoreResult:
    """1.0 when the answer equals the expected one after normalisation (format: the parsed objects are equal)."""
    if target.format == "format":
        expected = _answer_object(target)
        parsed = find_json_object(response)
        if parsed is None:
            return ScoreResult(0.0, None, True, {"note": "no JSON object found"})
        return ScoreResult(float(parsed == expected), canonical_json(parsed), False, {})
    answer = strip_reasoning(response or "")
    if not answer:
        return ScoreResult(0.0, None, True, {"note": "empty response (after removing any reasoning block)"})
    normalized, expected_text = normalize_text(answer), normalize_text(target.answer)
    return ScoreResult(float(normalized == expected_text), answer, False, {"normalized": normalized})


@scorer("yes_no")
def yes_no_scorer(response: str, target: ScoringTarget) -> ScoreResult:
    """Yes/no questions (MME, POPE): 1.0 when the yes or no read from the response is the answer; unparsed when the
    response gives neither, both, or hedges (scoring/yes_no.py has the rules)."""
    reading = read_yes_no(response)
    return _one_answer_read(expected_yes_no(target.answer), reading.answer, reading.rule, reading.note)


def _one_answer_read(expected: str, read: str | None, rule: str | None, note: str) -> ScoreResult:
    """The score of a reply read as one answer (a letter, a yes or a no): 1.0 when it is the expected one; unparsed
    when none could be read."""
    details = {"expected": expected, "rule": rule, "note": note}
    if read is None:
        return ScoreResult(0.0, None, True, details)
    return ScoreResult(float(read == expected), read, False, details)


@scorer("ocr_contains_any")
def ocr_contains_any_scorer(response: str, target: ScoringTarget) -> ScoreResult:
    """OCR-style open answers (OCRBench): 1.0 when a normalised acceptable answer is contained in the normalised
    response. The answer is one text or a JSON list of acceptable texts (data/acceptable_answers.py)."""
    answers = acceptable_answers(target.answer)
    reply = strip_reasoning(response or "")
    if not reply:
        return ScoreResult(0.0, None, True, {"note": "empty response (after removing any reasoning block)"})
    normalized = _ocrbench_normalized(reply)
    matched = next((answer for answer in answers if _ocrbench_normalized(answer) in normalized), None)
    return ScoreResult(float(matched is not None), reply, False, {"matched": matched, "acceptable": list(answers)})


def _ocrbench_normalized(text: str) -> str:
    """OCRBench's comparison form, as VLMEvalKit's OCRBench_eval (vlmeval/dataset/utils/ocrbench.py) makes it for
    both the answer and the prediction: `text.lower().strip().replace('\\n', ' ')`. Its special case for the
    category Handwritten Mathematical Expression Recognition (every space removed) is left out: no scorer here knows a
    row's category."""
    return text.lower().strip().replace("\n", " ")


def _answer_object(target: ScoringTarget) -> dict:
    try:
        expected = json.loads(target.answer)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a format question's answer must be a JSON object; it is not JSON: {exc}") from None
    if not isinstance(expected, dict):
        raise ValueError(f"a format question's answer must be a JSON object; got {type(expected).__name__}")
    return expected
