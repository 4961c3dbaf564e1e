"""results.parquet, written as results arrive: complete Parquet parts first (each written atomically, so a crash
loses at most the rows still buffered), merged into one file when the run ends.

A resumed run keeps the parts (and a finished run's results.parquet, which becomes the first part) and writes new
parts after them; the merge keeps the last row written for each sample id, so a sample re-run after an error
replaces its error row and every sample ends as exactly one row.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ray_eval.malloc import release_free_memory
from ray_eval.outputs.atomic import write_atomically
from ray_eval.records import RESULT_SCHEMA

RESULTS_FILE = "results.parquet"
BLIND_RESULTS_FILE = "blind_results.parquet"  # the blind pass's rows (diagnostics.blind_pass), one per sample with media
# Results written before thumbnails were kept per media item hold one `thumbnail`: a JPEG of the first image or frame.
LEGACY_THUMBNAIL = "thumbnail"
LEGACY_CAPTION = "first image or frame"


def parts_dir(run_dir: Path, file_name: str = RESULTS_FILE) -> Path:
    return Path(run_dir) / file_name.replace(".parquet", ".parts")


def part_files(run_dir: Path, file_name: str = RESULTS_FILE) -> list[Path]:
    return sorted(parts_dir(run_dir, file_name).glob("part-*.parquet"))


class ResultWriter:
    def __init__(self, run_dir: Path, rows_per_part: int = 2000, flush_interval_s: float = 30.0,
                 file_name: str = RESULTS_FILE):
        self.run_dir = Path(run_dir)
        self.file_name = file_name
        self.parts_dir = parts_dir(self.run_dir, file_name)
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        finished = self.run_dir / file_name
        if finished.exists():  # resuming a finished run: its rows are the first part
            os.replace(finished, self.parts_dir / "part-00000.parquet")
        existing = part_files(self.run_dir, file_name)
        self._parts = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
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
        path = self.parts_dir / f"part-{self._parts:05d}.parquet"
        _write_part(pa.concat_tables(self._buffer), path)
        self._parts += 1
        self.rows_written += self._buffered
        self._buffer, self._buffered = [], 0
        self._last_flush = time.monotonic()
        release_free_memory()  # else the driver's memory grows with every part though it holds none of them

    def close(self) -> Path:
        """Merge the parts into the results file (part by part, the last row of each sample id kept), remove them."""
        self.flush()
        parts = part_files(self.run_dir, self.file_name)
        keep = _last_rows(parts)
        target = self.run_dir / self.file_name

        def merge(temporary: Path) -> None:
            with pq.ParquetWriter(temporary, RESULT_SCHEMA, compression="zstd") as writer:
                for part, rows in zip(parts, keep):
                    table = read_results_table(part)
                    writer.write_table(table if rows is None else table.take(rows))
                    del table
                    release_free_memory()  # one part at a time in memory, not every part's pages kept

        # On failure the parts stay: nothing is lost, and resuming redoes the merge.
        write_atomically(target, merge, f"the parts in {self.parts_dir} are whole: free space and resume with "
                                        f"`ray-eval run --resume {self.run_dir}`")
        shutil.rmtree(self.parts_dir)
        return target


def _last_rows(parts: list[Path]) -> list[pa.Array | None]:
    """Per part, the row positions to keep (None: all of them): the last occurrence of each sample id."""
    ids = [pq.read_table(part, columns=["sample_id"])["sample_id"] for part in parts]
    seen: set[str] = set()
    keep: list[pa.Array | None] = [None] * len(parts)
    for index in range(len(parts) - 1, -1, -1):  # newest part first: its rows win
        values = ids[index].to_pylist()
        rows = [row for row in range(len(values) - 1, -1, -1) if not (values[row] in seen or seen.add(values[row]))]
        if len(rows) != len(values):
            keep[index] = pa.array(sorted(rows), type=pa.int64())
    return keep


def read_results_table(path: Path) -> pa.Table:
    """A results file in RESULT_SCHEMA (a column it lacks is null). One written before `thumbnails` keeps its single
    thumbnail as a one-item list, so resuming or rescoring a run of an older version does not lose it."""
    table = pq.read_table(path, schema=RESULT_SCHEMA)
    present = pq.read_schema(path).names
    if LEGACY_THUMBNAIL not in present or "thumbnails" in present:
        return table
    legacy = [legacy_thumbnails(blob) for blob in pq.read_table(path, columns=[LEGACY_THUMBNAIL])[0].to_pylist()]
    for name, values in zip(("thumbnails", "thumbnail_captions"), zip(*legacy) if legacy else ((), ())):
        field = RESULT_SCHEMA.field(name)
        table = table.set_column(RESULT_SCHEMA.get_field_index(name), field, pa.array(values, field.type))
    return table


def legacy_thumbnails(blob: bytes | None) -> tuple[list[bytes] | None, list[str] | None]:
    """An old row's single `thumbnail` as the `thumbnails` and `thumbnail_captions` of today's rows."""
    return ([blob], [LEGACY_CAPTION]) if blob is not None else (None, None)


def done_sample_ids(run_dir: Path, retry_errors: bool) -> frozenset[str]:
    """Sample ids a resumed run need not evaluate again: every one with a row, or only those that ended ok."""
    sources = part_files(run_dir) + ([Path(run_dir) / RESULTS_FILE] if (Path(run_dir) / RESULTS_FILE).exists() else [])
    latest: dict[str, str] = {}
    for source in sorted(sources, key=lambda path: (path.name != RESULTS_FILE, path.name)):
        table = pq.read_table(source, columns=["sample_id", "status"])
        latest.update(zip(table["sample_id"].to_pylist(), table["status"].to_pylist()))
    return frozenset(sid for sid, status in latest.items() if not retry_errors or status == "ok")


def _write_part(table: pa.Table, path: Path) -> None:
    """A part is whole or absent; a failed write (a full disk) stops the run with an OutputError naming it."""
    write_atomically(path, lambda temporary: pq.write_table(table, temporary, compression="zstd"),
                     "the parts written so far are whole: free space and resume with "
                     f"`ray-eval run --resume {path.parent.parent}`")


def read_results(run_dir: Path, columns: list[str] | None = None, file_name: str = RESULTS_FILE) -> pd.DataFrame:
    path = Path(run_dir) / file_name
    return pq.read_table(path, columns=columns).to_pandas()


__all__ = ["BLIND_RESULTS_FILE", "RESULTS_FILE", "ResultWriter", "done_sample_ids", "legacy_thumbnails", "read_results",
           "read_results_table"]
