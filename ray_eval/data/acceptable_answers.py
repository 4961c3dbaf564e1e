"""Several acceptable answers to one open question (OCRBench style), carried in the answer text itself.

A Sample's open answer is one string, and results.parquet's `answer` column stays one string for every dataset.
Several acceptable answers travel as that string holding a JSON list of strings, `["350 g", "350g"]`: readers
write the list in this one canonical form (a TSV cell may hold a JSON list or a Python-literal list, as VLMEvalKit's
OCRBench TSV writes), and the scorer that accepts any of several answers (`ocr_contains_any`) reads it back. Any
other scorer sees the list as the reference text it is, so no other dataset's rows change.

An answer text that opens with "[" and closes with "]" is a list, and must be a well-formed one: "[closed]" is
refused (the row's error names its `answer` field) rather than guessed to be one answer; a text answer that really is
bracketed is written as a list of one, `["[closed]"]`.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence


class AnswerListError(ValueError):
    """An answer text that is written as a list but is not a list of non-empty strings."""


def looks_like_list(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("[") and stripped.endswith("]")


def parse_answer_list(text: str) -> list[str] | None:
    """The acceptable answers a list-shaped text holds (JSON, or a Python literal as VLMEvalKit writes it); None for
    a text that is one answer; AnswerListError for a list-shaped text that is no list of non-empty strings."""
    if not looks_like_list(text):
        return None
    stripped = text.strip()
    try:
        items = json.loads(stripped)
    except json.JSONDecodeError:
        try:
            items = ast.literal_eval(stripped)  # "['Centre', 'centre']", as VLMEvalKit's OCRBench TSV writes it
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise AnswerListError(
                f"{_short(stripped)} is neither a JSON nor a Python list of answers (write one bracketed answer as a "
                'list of one: ["..."])'
            ) from None
    if not isinstance(items, list) or not items:
        raise AnswerListError(f"{_short(stripped)} must be a non-empty list of answer texts")
    for position, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise AnswerListError(f"item {position} of {_short(stripped)} is not a non-empty text ({item!r})")
    return items


def answer_list_text(answers: Sequence[str]) -> str:
    """The canonical answer text of several acceptable answers: a JSON list, non-ASCII kept as it is."""
    return json.dumps(list(answers), ensure_ascii=False)


def acceptable_answers(answer: str) -> tuple[str, ...]:
    """Every acceptable answer an answer text stands for: the list's items, or the text itself."""
    listed = parse_answer_list(answer)
    return (answer,) if listed is None else tuple(listed)


def _short(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[: limit - 3] + "...")
