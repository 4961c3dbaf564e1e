"""What every reader shares: chunks of rows, and turning a canonical row dict into a validated Sample."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse

from pydantic import ValidationError

from ray_eval.records import Sample

_TYPE_TAG = re.compile(r"^(str|int|float|bool|bytes|list|tuple|dict|none)(\[.*\])?$|^[\w-]+\[.*\]$")
REMOTE_SCHEMES = ("http", "https", "s3", "gs", "gcs", "hdfs", "abfs", "abfss")


@dataclass(frozen=True)
class Chunk:
    """A slice of a dataset file one Ray Data read task reads: byte offsets (text files) or row indexes."""

    start: int
    stop: int
    first_row: int  # row number (1-based line, row or case) of the chunk's first row
    rows: int


@dataclass(frozen=True)
class RawRow:
    """One row as read: its canonical dict (Sample field names), or why it could not even be parsed."""

    row_number: int
    data: dict[str, Any] | None
    error: str | None = None
    sample_id: str | None = None


@dataclass(frozen=True)
class SuiteThresholds:
    """Gate thresholds a dataset file carries itself (the seed article's suites)."""

    min_pass_rate: float | None = None
    min_score: float | None = None  # 0-100, converted from the suite's 0-1 scale
    category_pass_rates: tuple[tuple[str, float], ...] = ()  # on label l2, where the seed reader puts categories
    category_level: str = "l2"


class SampleInvalid(ValueError):
    """A row that cannot become a Sample; `field` names the offending field where known."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


class Reader:
    """Reads one dataset file as chunks of canonical rows. Subclasses set `name` and implement the three methods."""

    name: ClassVar[str]
    # How a row is called in messages: "line" for text files, "row" for tables, "case" for suites.
    row_word: ClassVar[str] = "row"

    def __init__(self, path: Path, root: Path | None = None):
        self.path = Path(path)
        self.root = Path(root) if root is not None else self.path.parent
        if not self.path.is_file():
            raise FileNotFoundError(str(self.path))

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """Whether `format: auto` should pick this reader for the file."""
        raise NotImplementedError

    def chunks(self, rows_per_chunk: int) -> list[Chunk]:
        """Split the file into chunks of about `rows_per_chunk` rows (a cheap sequential pass)."""
        raise NotImplementedError

    def read_chunk(self, chunk: Chunk) -> Iterator[RawRow]:
        raise NotImplementedError

    def suite_thresholds(self) -> SuiteThresholds | None:
        return None

    def to_sample(self, raw: RawRow) -> Sample:
        """Validate a parsed row; media paths are resolved in the dataset root and must exist inside it."""
        if raw.data is None:
            raise SampleInvalid(raw.error or "unreadable row")
        try:
            return build_sample(raw.data, self.root)
        except SampleInvalid:
            raise
        except Exception as exc:  # noqa: BLE001 - an odd value must become this row's error, never stop the scan
            raise SampleInvalid(f"cannot be read ({type(exc).__name__}: {exc})") from None


def build_sample(data: dict[str, Any], root: Path) -> Sample:
    data = dict(data)
    check_text(data)
    media = data.get("media")
    if not isinstance(media, list):
        raise SampleInvalid("must be a list of media items", field="media")
    data["media"] = [_media_item(item, root, index) for index, item in enumerate(media)]
    if data.get("input_type") is None:
        data["input_type"] = _input_type_of(data["media"])
    try:
        return Sample.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        # Union members appear in the location as type tags ("answer.str"); the field is what the row calls it.
        field = ".".join(str(part) for part in error["loc"] if not _TYPE_TAG.match(str(part))) or None
        reason = error["msg"].removeprefix("Value error, ")
        if error["type"].endswith("_type"):  # a wrong type: say what was given
            reason += f" (got {type(error['input']).__name__} {_short(error['input'])})"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise SampleInvalid(reason + more, field=field) from None


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_text(value: Any, field: str = "") -> None:
    """Refuse strings that cannot be written as UTF-8: JSON's "\\udcff" escapes decode to lone surrogates, which
    would pass the reader and break the Arrow columns later. `field` is the dotted path of the value."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SampleInvalid(
                f"is not valid UTF-8 text (lone surrogate {value[exc.start]!r} at character {exc.start})",
                field=field or None,
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, field)
            check_text(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_text(item, f"{field}.{index}" if field else str(index))


def _input_type_of(media: list[dict[str, Any]]) -> str:
    kinds = [item["kind"] for item in media]
    if kinds == ["video"]:
        return "video"
    return "multi" if len(kinds) > 1 else "single"


def _media_item(item: Any, root: Path, index: int) -> dict[str, Any]:
    field = f"media.{index}"
    if not isinstance(item, dict):
        raise SampleInvalid("must be an object with type and one of path, uri, bytes", field=field)
    unknown = set(item) - {"type", "kind", "path", "uri", "bytes", "data"}
    if unknown:
        raise SampleInvalid(f"unknown key(s) {sorted(unknown)}", field=field)
    kind = item.get("type", item.get("kind"))
    if kind not in ("image", "video"):
        raise SampleInvalid(f"type must be 'image' or 'video', got {kind!r}", field=f"{field}.type")
    sources = {k: item[k] for k in ("path", "uri", "bytes", "data") if item.get(k) is not None}
    if len(sources) != 1:
        raise SampleInvalid(f"needs exactly one of path, uri or bytes; got {sorted(sources) or 'none'}", field=field)
    (key, value), = sources.items()
    if key in ("path", "uri") and not isinstance(value, str):
        raise SampleInvalid(f"must be a string, got {type(value).__name__} {_short(value)}", field=f"{field}.{key}")
    if key in ("bytes", "data"):
        return {"kind": kind, "data": _decode_bytes(value, field)}
    if key == "uri":
        return _media_from_uri(kind, str(value), root, field)
    return {"kind": kind, "path": resolve_media_path(str(value), root, field)}


def _decode_bytes(value: Any, field: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    else:
        try:
            data = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise SampleInvalid("bytes are not valid base64", field=field) from None
    if not data:
        raise SampleInvalid("media bytes are empty", field=field)
    return data


def _media_from_uri(kind: str, uri: str, root: Path, field: str) -> dict[str, Any]:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return {"kind": kind, "path": resolve_media_path(unquote(parsed.path), root, field)}
    if parsed.scheme == "data" or parsed.scheme in REMOTE_SCHEMES:
        return {"kind": kind, "uri": uri}
    raise SampleInvalid(f"unsupported URI scheme {parsed.scheme!r}", field=field)


def resolve_media_path(path: str, root: Path, field: str) -> str:
    """The absolute path of a media file, refused when it leaves the dataset root (symlinks followed)."""
    if not path:
        raise SampleInvalid("media path is empty", field=field)
    real_root = os.path.realpath(root)
    resolved = os.path.realpath(os.path.join(real_root, path))
    if os.path.commonpath([real_root, resolved]) != real_root:
        raise SampleInvalid(f"media path {path!r} leaves the dataset root {root}", field=field)
    if not os.path.isfile(resolved):
        raise SampleInvalid(f"media file {path!r} does not exist (looked up in {root})", field=field)
    if os.path.getsize(resolved) == 0:  # cheap to know here, before anything runs
        raise SampleInvalid(f"media file {path!r} is empty (0 bytes)", field=field)
    return resolved
