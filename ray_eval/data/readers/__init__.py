"""Dataset readers, picked by name or by `format: auto` from the file itself."""

from __future__ import annotations

from pathlib import Path

from ray_eval.data.readers.base import Chunk, RawRow, Reader, SampleInvalid, SuiteThresholds
from ray_eval.data.readers.manifest import JsonlManifestReader, ParquetManifestReader
from ray_eval.data.readers.seed_suite import SeedSuiteReader
from ray_eval.data.readers.vlmeval_tsv import VlmevalTsvReader
from ray_eval.errors import DatasetError

READERS: dict[str, tuple[type[Reader], ...]] = {
    "manifest": (JsonlManifestReader, ParquetManifestReader),
    "seed_json": (SeedSuiteReader,),
    "vlmeval_tsv": (VlmevalTsvReader,),
}


def open_reader(path: Path, format: str = "auto", root: Path | None = None,
                format_option: str = "dataset.format") -> Reader:
    """The reader for a dataset file; DatasetError when the file is missing, unrecognised or unreadable (naming
    `format_option`, the setting that picks the reader: a config key or a command's option)."""
    path = Path(path).absolute()
    if not path.is_file():
        raise DatasetError(f"dataset file {path} does not exist")
    if root is not None:
        root = Path(root).absolute()
        if not root.is_dir():
            raise DatasetError(f"dataset root {root} is not a folder")
    if format != "auto" and format not in READERS:
        raise DatasetError(f"{format_option}: unknown dataset format {format!r}; known: auto, {', '.join(READERS)}")
    candidates = READERS[format] if format != "auto" else tuple(c for group in READERS.values() for c in group)
    chosen = [reader for reader in candidates if reader.sniff(path)]
    if not chosen:
        if format == "auto":
            raise DatasetError(
                f"cannot tell the format of {path}: expected .jsonl/.parquet (manifest), .json with test_cases "
                f"(seed suite) or .tsv (VLMEvalKit); set {format_option}"
            )
        raise DatasetError(f"{path} does not look like a {format} file (its extension or content), "
                           f"as {format_option} says")
    try:
        return chosen[0](path, root)
    except (ValueError, OSError) as exc:
        raise DatasetError(str(exc)) from None


__all__ = ["Chunk", "RawRow", "Reader", "SampleInvalid", "SuiteThresholds", "READERS", "open_reader"]
