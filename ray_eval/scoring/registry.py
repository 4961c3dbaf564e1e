"""Scorers by name: small functions `fn(response, target) -> ScoreResult`, registered with `@scorer("name")`.

A configuration names a scorer per answer format (DEFAULT_SCORERS unless overridden), and the pipeline looks it
up here. Scorers only measure: a score in [0, 1] and what was read. Whether a sample passes is the pipeline's
decision (one threshold for every scorer, in the config), so no scorer hides its own pass mark the way the seed
article's keyword check did with its 0.7.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ray_eval.errors import ConfigError
from ray_eval.scoring.choice import read_choice
from ray_eval.scoring.lexical import overlap, tokenize
from ray_eval.scoring.structured import canonical_json, find_json_object, read_structured
from ray_eval.scoring.text import normalize_text, strip_reasoning

FORMATS = ("mcq", "format", "open")


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
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {self.format!r}")
        # Rows from Arrow/pandas carry options as numpy arrays, whose truth value is an error: test for None.
        options = () if self.options is None else self.options
        object.__setattr__(self, "options", tuple(str(option) for option in options))
        if not isinstance(self.answer, str):
            raise TypeError(f"answer must be text (a letter, reference text or JSON); got {type(self.answer).__name__}")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ScoringTarget:
        """From a pipeline row (records.SAMPLE_COLUMNS): answer_schema arrives as JSON text or null."""
        schema = row.get("answer_schema")
        if isinstance(schema, str):
            schema = json.loads(schema) if schema.strip() else None
        return cls(
            format=str(row["format"]),
            options=row.get("options"),
            answer=str(row.get("answer") or ""),
            answer_schema=schema,
        )


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

# The scorer each answer format gets unless the config names another. A plain dict so that it serialises and
# merges like the config's own mapping; copy it before changing anything.
DEFAULT_SCORERS: dict[str, str] = {"mcq": "choice", "format": "structured", "open": "token_f1"}


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


# ---- built-in scorers -----------------------------------------------------------------------------------------------


@scorer("choice")
def choice_scorer(response: str, target: ScoringTarget) -> ScoreResult:
    """Multiple choice: 1.0 when the letter read from the response is the answer; unparsed when none is read."""
    if not target.options:
        raise ValueError("the choice scorer needs the question's options")
    expected = target.answer.strip().upper()
    reading = read_choice(response, target.options)
    details = {"expected": expected, "rule": reading.rule, "note": reading.note}
    if reading.letter is None:
        return ScoreResult(0.0, None, True, details)
    return ScoreResult(float(reading.letter == expected), reading.letter, False, details)


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


def _answer_object(target: ScoringTarget) -> dict:
    try:
        expected = json.loads(target.answer)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a format question's answer must be a JSON object; it is not JSON: {exc}") from None
    if not isinstance(expected, dict):
        raise ValueError(f"a format question's answer must be a JSON object; got {type(expected).__name__}")
    return expected
