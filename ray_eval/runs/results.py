"""Result files, written as results arrive: complete Parquet parts first (each written atomically, so a crash loses
at most the rows still buffered), merged into one file when the run ends; and read back, whole or by columns, by one
reader.

A resumed run keeps the parts (and a finished run's results.parquet, which becomes the first part) and writes new
parts after them; the merge keeps the last row written for each sample (its suite and id), so a sample re-run after an
error replaces its error row and every sample ends as exactly one row.

Rows written before suites have no suite (null): such a run had one suite, whose name (`legacy_suite`, from the run's
config) is filled in wherever they are read.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ray_eval.cluster.malloc import release_free_memory
from ray_eval.records import RESULT_SCHEMA
from ray_eval.runs.atomic import write_atomically
from ray_eval.runs.layout import ResultsFiles

# Results written before thumbnails were kept per media item hold one `thumbnail`: a JPEG of the first image or frame.
LEGACY_THUMBNAIL = "thumbnail"
LEGACY_CAPTION = "first image or frame"
COMPRESSION = "zstd"


class ResultWriter:
    def __init__(self, files: ResultsFiles, rows_per_part: int = 2000, flush_interval_s: float = 30.0,
                 legacy_suite: str | None = None):
        self.files = files
        self.legacy_suite = legacy_suite
        self.files.parts_dir.mkdir(parents=True, exist_ok=True)
        if files.merged.exists():  # resuming a finished run: its rows are the first part
            os.replace(files.merged, files.part(0))
        existing = files.parts()
        self._parts = files.part_index(existing[-1]) + 1 if existing else 0
        self.rows_per_part = rows_per_part
        self.flush_interval_s = flush_interval_s
        self.rows_written = 0
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._last_flush = time.monotonic()

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._buffer.append(table.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA))
        self._buffered += table.num_rows
        if self._buffered >= self.rows_per_part or time.monotonic() - self._last_flush >= self.flush_interval_s:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        # A part is whole or absent; a failed write (a full disk) stops the run with an OutputError naming it.
        write_results_file(pa.concat_tables(self._buffer), self.files.part(self._parts),
                           "the parts written so far are whole: free space and resume with "
                           f"`ray-eval run --resume {self.files.run_dir}`")
        self._parts += 1
        self.rows_written += self._buffered
        self._buffer, self._buffered = [], 0
        self._last_flush = time.monotonic()
        release_free_memory()  # else the driver's memory grows with every part though it holds none of them

    def close(self) -> Path:
        """Merge the parts into the results file (part by part, the last row of each sample kept), remove them."""
        self.flush()
        parts = self.files.parts()
        keep = _last_rows(parts, self.legacy_suite)

        def merge(temporary: Path) -> None:
            with pq.ParquetWriter(temporary, RESULT_SCHEMA, compression=COMPRESSION) as writer:
                for part, rows in zip(parts, keep, strict=True):
                    table = read_results_table(part, legacy_suite=self.legacy_suite)
                    writer.write_table(table if rows is None else table.take(rows))
                    del table
                    release_free_memory()  # one part at a time in memory, not every part's pages kept

        # On failure the parts stay: nothing is lost, and resuming redoes the merge.
        write_atomically(self.files.merged, merge, f"the parts in {self.files.parts_dir} are whole: free space and "
                                                   f"resume with `ray-eval run --resume {self.files.run_dir}`")
        shutil.rmtree(self.files.parts_dir)
        return self.files.merged


def _last_rows(parts: list[Path], legacy_suite: str | None) -> list[pa.Array | None]:
    """Per part, the row positions to keep (None: all of them): the last occurrence of each sample (suite, id)."""
    ids = [list(zip(*(read_results_table(part, ["suite", "sample_id"], legacy_suite)[name].to_pylist()
                      for name in ("suite", "sample_id")), strict=True)) for part in parts]
    seen: set[tuple[str, str]] = set()
    keep: list[pa.Array | None] = [None] * len(parts)
    for index in range(len(parts) - 1, -1, -1):  # newest part first: its rows win
        values = ids[index]
        rows = []
        for row in range(len(values) - 1, -1, -1):  # last first: the last occurrence within the part wins too
            if values[row] not in seen:
                seen.add(values[row])
                rows.append(row)
        if len(rows) != len(values):
            keep[index] = pa.array(sorted(rows), type=pa.int64())
    return keep


def read_results_table(path: Path, columns: Sequence[str] | None = None, legacy_suite: str | None = None) -> pa.Table:
    """A results file (merged, or a part) in RESULT_SCHEMA, all its columns or those named (a column it lacks is
    null, but a row's missing suite is `legacy_suite`). One written before `thumbnails` keeps its single thumbnail
    as a one-item list, so resuming, rescoring or reporting a run of an older version does not lose it."""
    wanted = list(RESULT_SCHEMA.names if columns is None else columns)
    table = pq.read_table(path, columns=wanted, schema=RESULT_SCHEMA)
    if legacy_suite is not None and "suite" in wanted and table["suite"].null_count:
        index = wanted.index("suite")
        table = table.set_column(index, RESULT_SCHEMA.field("suite"), pc.fill_null(table["suite"], legacy_suite))
    present = pq.read_schema(path).names
    legacy = [name for name in ("thumbnails", "thumbnail_captions") if name in wanted]
    if not legacy or LEGACY_THUMBNAIL not in present or "thumbnails" in present:
        return table
    old = [legacy_thumbnails(blob) for blob in pq.read_table(path, columns=[LEGACY_THUMBNAIL])[0].to_pylist()]
    old_columns = zip(*old, strict=True) if old else ((), ())
    for name, values in zip(("thumbnails", "thumbnail_captions"), old_columns, strict=True):
        if name in legacy:
            field = RESULT_SCHEMA.field(name)
            table = table.set_column(wanted.index(name), field, pa.array(values, field.type))
    return table


def legacy_thumbnails(blob: bytes | None) -> tuple[list[bytes] | None, list[str] | None]:
    """An old row's single `thumbnail` as the `thumbnails` and `thumbnail_captions` of today's rows."""
    return ([blob], [LEGACY_CAPTION]) if blob is not None else (None, None)


def write_results_file(table: pa.Table, path: Path, then: str) -> Path:
    """A whole results file (a checkpoint part, or a rescored file in place of the old one), atomically."""
    return write_atomically(path, lambda temporary: pq.write_table(table, temporary, compression=COMPRESSION), then)
