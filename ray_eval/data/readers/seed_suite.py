"""The seed article's test-suite JSON: {"test_suite": {...}, "test_cases": [...], "thresholds": {...}}.

Someone who followed the article points ray-eval at their existing file and gets the same cases and the same
thresholds. Its image paths are relative to the folder the article's scripts ran in, so this reader's default
root is the working directory, not the file's folder (set dataset.root to change it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from ray_eval.data.readers.base import Chunk, RawRow, Reader, SampleInvalid, SuiteThresholds
from ray_eval.data.taxonomy import option_letter

TEST_TYPES = {"open_qa": "open", "mcq": "mcq", "structured": "format"}
CASE_FIELDS = {
    "id", "category", "subcategory", "image_path", "image_paths", "question", "expected_answer", "test_type",
    "options", "weight", "critical", "schema",
}
# "A. text", "A、text", "(A) text", "A) text": the article wrote the letters into the option texts.
OPTION_PREFIX = re.compile(r"^\s*[\(（]?([A-Za-z])\s*[\)）.．、:：]\s*")


class SeedSuiteReader(Reader):
    name = "seed_json"
    row_word = "case"

    def __init__(self, path: Path, root: Path | None = None):
        super().__init__(path, root if root is not None else Path.cwd())

    @classmethod
    def sniff(cls, path: Path) -> bool:
        if path.suffix.lower() != ".json":
            return False
        try:
            with path.open("rb") as handle:
                head = handle.read(65536)
        except OSError:
            return False
        return b'"test_cases"' in head

    @cached_property
    def _document(self) -> dict[str, Any]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{self.path} is not a valid UTF-8 JSON document: {exc}") from None
        if not isinstance(document, dict) or not isinstance(document.get("test_cases"), list):
            raise ValueError(f"{self.path}: a seed suite needs a test_cases list")
        return document

    def chunks(self, rows_per_chunk: int) -> list[Chunk]:
        total = len(self._document["test_cases"])
        return [
            Chunk(start=s, stop=min(s + rows_per_chunk, total), first_row=s + 1,
                  rows=min(s + rows_per_chunk, total) - s)
            for s in range(0, total, rows_per_chunk)
        ]

    def read_chunk(self, chunk: Chunk) -> Iterator[RawRow]:
        for index in range(chunk.start, chunk.stop):
            case = self._document["test_cases"][index]
            sample_id = case.get("id") if isinstance(case, dict) and isinstance(case.get("id"), str) else None
            try:
                yield RawRow(index + 1, case_to_row(case), sample_id=sample_id)
            except SampleInvalid as exc:
                yield RawRow(index + 1, None, f"{exc.field}: {exc.reason}" if exc.field else exc.reason, sample_id)
            except Exception as exc:  # noqa: BLE001 - an odd value must become this case's error, never stop the scan
                yield RawRow(index + 1, None, f"cannot be read ({type(exc).__name__}: {exc})", sample_id)

    def suite_thresholds(self) -> SuiteThresholds | None:
        thresholds = self._document.get("thresholds")
        if not thresholds:
            return None
        if not isinstance(thresholds, dict):
            raise ValueError(f"{self.path}: thresholds must be an object")
        unknown = set(thresholds) - {"overall_pass_rate", "category_pass_rate", "minimum_score"}
        if unknown:
            raise ValueError(f"{self.path}: unknown threshold(s) {sorted(unknown)}")
        categories = thresholds.get("category_pass_rate") or {}
        try:
            return SuiteThresholds(
                # A null rate is no threshold.
                min_pass_rate=None if thresholds.get("overall_pass_rate") is None
                else _rate(thresholds["overall_pass_rate"], "overall_pass_rate"),
                # The article's scores are 0-1; ray-eval reports 0-100 as ShopBench does.
                min_score=None if thresholds.get("minimum_score") is None
                else 100.0 * _rate(thresholds["minimum_score"], "minimum_score"),
                category_pass_rates=tuple((str(name), _rate(rate, f"category_pass_rate.{name}"))
                                          for name, rate in categories.items() if rate is not None),
            )
        except ValueError as exc:
            raise ValueError(f"{self.path}: thresholds.{exc}") from None


def _rate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
    return float(value)


def case_to_row(case: Any) -> dict[str, Any]:
    """A seed test case as a canonical row (Sample field names)."""
    if not isinstance(case, dict):
        raise SampleInvalid(f"a test case must be an object, not {type(case).__name__}")
    unknown = set(case) - CASE_FIELDS
    if unknown:
        raise SampleInvalid(f"unknown field(s) {sorted(unknown)}", field=sorted(unknown)[0])
    test_type = case.get("test_type", "open_qa")
    if not isinstance(test_type, str) or test_type not in TEST_TYPES:
        raise SampleInvalid(f"must be one of {sorted(TEST_TYPES)}, got {test_type!r}", field="test_type")
    answer_format = TEST_TYPES[test_type]
    for name in ("image_paths", "options"):
        if case.get(name) is not None and not isinstance(case[name], list):
            raise SampleInvalid(f"must be a list, got {type(case[name]).__name__}", field=name)
    paths = case.get("image_paths") or ([case["image_path"]] if case.get("image_path") else [])
    row: dict[str, Any] = {
        "id": case.get("id"),
        "format": answer_format,
        "question": case.get("question"),
        "media": [{"type": "image", "path": path} for path in paths],
        "labels": {"l2": case.get("category"), "l3": case.get("subcategory")},
        "weight": case.get("weight", 1.0),
        "critical": case.get("critical", False),
    }
    expected = case.get("expected_answer")
    if answer_format == "mcq":
        options = case.get("options") or []
        row["options"] = [_strip_letter(option, index) for index, option in enumerate(options)]
        row["answer"] = _mcq_letter(expected)
    elif answer_format == "format":
        row["answer"] = _json_object(expected)
        if case.get("schema") is not None:
            row["schema"] = case["schema"]
    else:
        row["answer"] = expected
    return row


def _strip_letter(option: Any, index: int) -> Any:
    if not isinstance(option, str):
        return option
    match = OPTION_PREFIX.match(option)
    if match and match.group(1).upper() == option_letter(index):
        return option[match.end():]
    return option


def _mcq_letter(expected: Any) -> Any:
    """'D', 'd', 'D.' or 'D. 所有以上' name option D; anything else is left for validation to refuse."""
    if isinstance(expected, str):
        match = OPTION_PREFIX.match(expected + ".") if len(expected.strip()) == 1 else OPTION_PREFIX.match(expected)
        if match:
            return match.group(1).upper()
    return expected


def _json_object(expected: Any) -> Any:
    if isinstance(expected, str):
        try:
            return json.loads(expected)
        except json.JSONDecodeError:
            raise SampleInvalid("a structured case's expected_answer must be a JSON object",
                                field="expected_answer") from None
    return expected
