"""ray-eval's own manifest: JSONL (one sample per line) or Parquet (one per row). See
docs/reference/dataset-formats.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ray_eval.data.readers.base import Chunk, RawRow, Reader, SampleInvalid

MANIFEST_FIELDS = {
    "id", "subset", "format", "input_type", "question", "options", "answer", "schema", "media", "labels",
    "weight", "critical",
}
HF_IMAGE_COLUMNS = ("image", "images")


def canonical_manifest_row(row: dict[str, Any]) -> dict[str, Any]:
    """Check a manifest row's keys and bring JSON-in-a-string fields (Parquet answers, schemas) to objects."""
    unknown = set(row) - MANIFEST_FIELDS - set(HF_IMAGE_COLUMNS)
    if unknown:
        raise SampleInvalid(f"unknown field(s) {sorted(unknown)}", field=sorted(unknown)[0])
    data = {key: value for key, value in row.items() if key not in HF_IMAGE_COLUMNS}
    hf_media = _hf_image_media(row)
    if hf_media:
        if row.get("media"):
            raise SampleInvalid("has both media and an image column; give one", field="media")
        data["media"] = hf_media
    for key in ("answer", "schema"):
        text = data.get(key)
        if isinstance(text, str) and (key == "schema" or data.get("format") == "format"):
            try:
                data[key] = json.loads(text)
            except json.JSONDecodeError as exc:
                raise SampleInvalid(f"is not valid JSON text: {exc.msg}", field=key) from None
    if data.get("schema") is None:
        data.pop("schema", None)
    if isinstance(data.get("labels"), dict):
        data["labels"] = {k: v for k, v in data["labels"].items() if v is not None}
    return {key: value for key, value in data.items() if value is not None}


def _hf_image_media(row: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[Any] = []
    if row.get("image") is not None:
        items.append(row["image"])
    if row.get("images") is not None:
        items.extend(row["images"])
    media = []
    for item in items:
        if isinstance(item, dict) and item.get("bytes") is not None:
            media.append({"type": "image", "bytes": item["bytes"]})
        elif isinstance(item, dict) and item.get("path"):
            media.append({"type": "image", "path": item["path"]})
        else:
            raise SampleInvalid("an image column item needs bytes or a path", field="image")
    return media


def _raw_row(number: int, row: dict[str, Any], sample_id: str | None) -> RawRow:
    try:
        return RawRow(number, canonical_manifest_row(row), sample_id=sample_id)
    except SampleInvalid as exc:
        return RawRow(number, None, f"{exc.field}: {exc.reason}", sample_id=sample_id)
    except Exception as exc:  # noqa: BLE001 - an odd value must become this row's error, never stop the scan
        return RawRow(number, None, f"cannot be read ({type(exc).__name__}: {exc})", sample_id=sample_id)


class JsonlManifestReader(Reader):
    name = "manifest"
    row_word = "line"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return path.suffix.lower() in (".jsonl", ".ndjson")

    def chunks(self, rows_per_chunk: int) -> list[Chunk]:
        chunks: list[Chunk] = []
        start = offset = 0
        first_line = line = 1
        rows = 0
        with self.path.open("rb") as handle:
            for raw in handle:
                offset += len(raw)
                if raw.strip():
                    rows += 1
                line += 1
                if rows == rows_per_chunk:
                    chunks.append(Chunk(start=start, stop=offset, first_row=first_line, rows=rows))
                    start, first_line, rows = offset, line, 0
        if rows:
            chunks.append(Chunk(start=start, stop=offset, first_row=first_line, rows=rows))
        return chunks

    def read_chunk(self, chunk: Chunk) -> Iterator[RawRow]:
        with self.path.open("rb") as handle:
            handle.seek(chunk.start)
            line_number = chunk.first_row
            position = chunk.start
            while position < chunk.stop:
                raw = handle.readline()
                if not raw:
                    break
                position += len(raw)
                if raw.strip():  # blank lines are not samples
                    yield self._parse_line(line_number, raw)
                line_number += 1

    def _parse_line(self, line_number: int, raw: bytes) -> RawRow:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return RawRow(line_number, None, f"is not valid UTF-8 (byte {exc.start})")
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            return RawRow(line_number, None, f"is not valid JSON: {exc.msg} at column {exc.colno}")
        if not isinstance(row, dict):
            return RawRow(line_number, None, f"must be a JSON object, not {type(row).__name__}")
        sample_id = row.get("id") if isinstance(row.get("id"), str) else None
        return _raw_row(line_number, row, sample_id)


class ParquetManifestReader(Reader):
    name = "manifest"
    row_word = "row"

    @classmethod
    def sniff(cls, path: Path) -> bool:
        return path.suffix.lower() in (".parquet", ".pq")

    def chunks(self, rows_per_chunk: int) -> list[Chunk]:
        total = pq.ParquetFile(self.path).metadata.num_rows
        return [
            Chunk(start=start, stop=min(start + rows_per_chunk, total), first_row=start + 1,
                  rows=min(start + rows_per_chunk, total) - start)
            for start in range(0, total, rows_per_chunk)
        ]

    def read_chunk(self, chunk: Chunk) -> Iterator[RawRow]:
        parquet = pq.ParquetFile(self.path)
        row_index = 0
        # Row groups are the unit Parquet can read alone; skip the ones before the chunk, slice the overlap.
        for group in range(parquet.num_row_groups):
            group_rows = parquet.metadata.row_group(group).num_rows
            if row_index + group_rows <= chunk.start:
                row_index += group_rows
                continue
            if row_index >= chunk.stop:
                break
            table = parquet.read_row_group(group)
            lo, hi = max(chunk.start - row_index, 0), min(chunk.stop - row_index, group_rows)
            for offset, row in enumerate(table.slice(lo, hi - lo).to_pylist()):
                number = row_index + lo + offset + 1
                sample_id = row.get("id") if isinstance(row.get("id"), str) else None
                yield _raw_row(number, row, sample_id)
            row_index += group_rows
