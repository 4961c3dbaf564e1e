"""Every file of a run directory is written whole or not at all: into a temporary file beside it, flushed to the
disk (fsync), then renamed over the target (os.replace is atomic within a folder). A write that fails (a full disk,
a read-only or vanished mount, no permission) removes its temporary file, leaves the previous version of the target
as it was, and raises an OutputError naming the file, the cause and how to continue."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray_eval.errors import OutputError

TEMPORARY_SUFFIX = ".tmp"


def temporary_for(path: Path) -> Path:
    """The temporary name a write of `path` goes to first: in the same folder, so the rename cannot cross disks."""
    return path.with_name(path.name + TEMPORARY_SUFFIX)


def write_atomically(path: Path, write: Callable[[Path], Any], then: str) -> Path:
    """Call `write(temporary)` to write the whole file, make it durable, and rename it to `path`. On failure, raise
    an OutputError whose message ends with `then`: what the operator does next (e.g. the resume command)."""
    path = Path(path)
    temporary = temporary_for(path)
    try:
        write(temporary)
        fsync_path(temporary)
        os.replace(temporary, path)
        fsync_path(path.parent)  # the rename itself reaches the disk: a power cut cannot bring the old file back
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {cause(exc)}; {then}") from None
    return path


def cause(exc: OSError) -> str:
    """The operating system's words for a failed write ("No space left on device"), also from pyarrow's errors,
    whose text wraps them ("Error writing bytes to file. Detail: [errno 28] No space left on device")."""
    wrapped = re.search(r"\[errno (\d+)\]", str(exc), flags=re.IGNORECASE)
    if wrapped:
        return os.strerror(int(wrapped.group(1)))
    return exc.strerror or str(exc)


def write_text_atomically(path: Path, text: str, then: str) -> Path:
    return write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"), then)


def write_json_atomically(path: Path, data: Any, then: str) -> Path:
    text = json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    return write_text_atomically(path, text, then)


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename, a removal), to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
