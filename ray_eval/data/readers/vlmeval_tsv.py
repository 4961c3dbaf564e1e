"""VLMEvalKit-style TSV: index, question, option columns A, B, C ..., answer, category, l2-category, image.

The suites VLMEvalKit ships in this form read as they are: multiple choice (MMStar, MMBench, SEED-Bench: options in
A-D, the letter in `answer`), yes/no (MME, POPE: no options, `answer` Yes or No, format open) and OCR (OCRBench: no
options, `answer` one text or a list of acceptable texts, format open).

`image` holds base64 bytes, a JSON (or Python-literal) list of base64 strings for multi-image questions, or, as
VLMEvalKit writes when several questions share a picture, the `index` of the row that holds the bytes.
"""

from __future__ import annotations

import ast
import csv
import json
import re
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ray_eval.data.acceptable_answers import AnswerListError, answer_list_text, parse_answer_list
from ray_eval.data.readers.base import Chunk, RawRow, Reader, SampleInvalid

csv.field_size_limit(sys.maxsize)  # base64 images make fields of megabytes

KNOWN_COLUMNS = {
    "index", "question", "hint", "answer", "category", "l1-category", "l2-category", "l3-category", "subset",
    "format", "weight", "critical", "image", "image_path", "split", "source", "comment",
    *string.ascii_uppercase,
}
# A reference to another row is short; real base64 images are not.
MAX_REFERENCE_LENGTH = 64
NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _records(handle: IO[bytes], offset: int, line: int, stop: int | None) -> Iterator[tuple[int, int, list[str]]]:
    """(byte offset, line number, fields) of each TSV record, quoted multi-line fields included."""
    position = {"offset": offset, "line": line}

    def lines() -> Iterator[str]:
        while stop is None or position["offset"] < stop:
            raw = handle.readline()
            if not raw:
                return
            position["offset"] += len(raw)
            position["line"] += 1
            yield raw.decode("utf-8", errors="surrogateescape")

    start = (offset, line)
    for fields in csv.reader(lines(), delimiter="\t"):
        yield start[0], start[1], fields
        start = (position["offset"], position["line"])


class VlmevalTsvReader(Reader):
    name = "vlmeval_tsv"
    row_word = "line"

    def __init__(self, path: Path, root: Path | None = None):
        super().__init__(path, root)
        with self.path.open("rb") as handle:
            header = next(_records(handle, 0, 1, None), None)
            if header is None:
                raise ValueError(f"{self.path} is empty")
            self._data_offset = handle.tell()
        self.header = [name.strip() for name in header[2]]
        missing = {"index", "question", "answer"} - set(self.header)
        if missing:
            raise ValueError(f"{self.path}: the header lacks column(s) {sorted(missing)}")
        if "image" not in self.header and "image_path" not in self.header:
            raise ValueError(f"{self.path}: the header needs an image or image_path column")
        unknown = set(self.header) - KNOWN_COLUMNS
        if unknown:
            raise ValueError(f"{self.path}: unknown column(s) {sorted(unknown)}")
        self._image_rows: dict[str, int] = {}  # index -> byte offset of the row holding that image's bytes

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return path.suffix.lower() == ".tsv"

    def chunks(self, rows_per_chunk: int) -> list[Chunk]:
        chunks: list[Chunk] = []
        image_column = self.header.index("image") if "image" in self.header else None
        index_column = self.header.index("index")
        with self.path.open("rb") as handle:
            handle.seek(self._data_offset)
            begun: tuple[int, int] | None = None  # the chunk's first row: its byte offset and line number
            rows = 0
            for offset, line, fields in _records(handle, self._data_offset, 2, None):
                if begun is None:
                    begun = offset, line
                if image_column is not None and len(fields) > max(image_column, index_column):
                    if len(fields[image_column]) > MAX_REFERENCE_LENGTH:
                        self._image_rows[fields[index_column].strip()] = offset
                rows += 1
                if rows == rows_per_chunk:
                    chunks.append(Chunk(start=begun[0], stop=handle.tell(), first_row=begun[1], rows=rows))
                    begun, rows = None, 0
            if begun is not None:  # rows left over
                chunks.append(Chunk(start=begun[0], stop=handle.tell(), first_row=begun[1], rows=rows))
        return chunks

    def read_chunk(self, chunk: Chunk) -> Iterator[RawRow]:
        with self.path.open("rb") as handle:
            handle.seek(chunk.start)
            for _, line, fields in _records(handle, chunk.start, chunk.first_row, chunk.stop):
                sample_id = fields[self.header.index("index")].strip() if len(fields) == len(self.header) else None
                try:
                    yield RawRow(line, self._to_row(fields), sample_id=sample_id)
                except SampleInvalid as exc:
                    yield RawRow(line, None, f"{exc.field}: {exc.reason}" if exc.field else exc.reason, sample_id)
                except Exception as exc:  # noqa: BLE001 - an odd cell must become this line's error, never stop the scan
                    yield RawRow(line, None, f"cannot be read ({type(exc).__name__}: {exc})", sample_id)

    def _to_row(self, fields: list[str]) -> dict[str, Any]:
        if len(fields) != len(self.header):
            raise SampleInvalid(f"has {len(fields)} columns, the header has {len(self.header)}")
        for name, value in zip(self.header, fields, strict=True):
            if NOT_UTF8.search(value):
                raise SampleInvalid("is not valid UTF-8", field=name)
        cells = {name: value.strip() for name, value in zip(self.header, fields, strict=True) if name not in ("image",)}
        cells = {name: value for name, value in cells.items() if value != "" and value.lower() != "nan"}
        letters = [letter for letter in string.ascii_uppercase if letter in cells]
        if letters and letters != list(string.ascii_uppercase[: len(letters)]):
            raise SampleInvalid(f"option columns {''.join(letters)} have a gap", field=letters[-1])
        answer_format = cells.get("format", "mcq" if letters else "open")
        question = cells.get("question", "")
        if cells.get("hint"):
            question = f"{cells['hint']}\n{question}"
        row: dict[str, Any] = {
            "id": cells.get("index"),
            "subset": cells.get("subset"),
            "format": answer_format,
            "question": question,
            "options": [cells[letter] for letter in letters],
            "answer": cells.get("answer"),
            "labels": {"l1": cells.get("l1-category"), "l2": cells.get("l2-category"),
                       "l3": cells.get("l3-category"), "l4": cells.get("category")},
            "media": self._media(fields),
        }
        if answer_format == "open" and isinstance(row["answer"], str):
            row["answer"] = _open_answer(row["answer"])
        if answer_format == "format" and isinstance(row["answer"], str):
            try:
                row["answer"] = json.loads(row["answer"])
            except json.JSONDecodeError:
                raise SampleInvalid("a format answer must be JSON text", field="answer") from None
        for name, convert in (("weight", float), ("critical", _boolean)):
            if name in cells:
                try:
                    row[name] = convert(cells[name])
                except ValueError:
                    raise SampleInvalid(f"{cells[name]!r} is not a valid {name}", field=name) from None
        return {key: value for key, value in row.items() if value is not None}

    def _media(self, fields: list[str]) -> list[dict[str, Any]]:
        cells = dict(zip(self.header, fields, strict=True))
        image = (cells.get("image") or "").strip()
        if image:
            if len(image) <= MAX_REFERENCE_LENGTH:
                image = self._referenced_image(image)
            return [{"type": "image", "bytes": data} for data in _one_or_list(image, "image")]
        paths = (cells.get("image_path") or "").strip()
        if paths:
            return [{"type": "image", "path": path} for path in _one_or_list(paths, "image_path")]
        raise SampleInvalid("has neither image bytes nor an image_path", field="image")

    def _referenced_image(self, reference: str) -> str:
        offset = self._image_rows.get(reference)
        if offset is None:
            raise SampleInvalid(f"refers to row index {reference!r}, which holds no image", field="image")
        with self.path.open("rb") as handle:
            handle.seek(offset)
            _, _, fields = next(_records(handle, offset, 0, None))
        return fields[self.header.index("image")].strip()


def _one_or_list(value: str, field: str) -> list[str]:
    if not value.startswith("["):
        return [value]
    try:
        items = json.loads(value)
    except json.JSONDecodeError:
        try:
            items = ast.literal_eval(value)  # VLMEvalKit writes Python list literals
        except (ValueError, SyntaxError):
            raise SampleInvalid("is neither base64 nor a list of base64 strings", field=field) from None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise SampleInvalid("must be a list of strings", field=field)
    return items


def _open_answer(cell: str) -> str:
    """An open answer's text: one answer as it is, or a list of acceptable answers (OCRBench's TSV writes a Python
    list literal) as the canonical JSON list the scorers read (data/acceptable_answers.py)."""
    try:
        answers = parse_answer_list(cell)
    except AnswerListError as exc:
        raise SampleInvalid(str(exc), field="answer") from None
    return cell if answers is None else answer_list_text(answers)


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise ValueError(text)
