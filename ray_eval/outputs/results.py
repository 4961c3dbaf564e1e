"""results.parquet, written as results arrive: complete Parquet parts first (a crash loses at most the rows
still buffered), merged into one file when the run ends."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ray_eval.records import RESULT_SCHEMA

RESULTS_FILE = "results.parquet"
BLIND_RESULTS_FILE = "blind_results.parquet"  # the blind pass's rows (diagnostics.blind_pass), one per sample with media


class ResultWriter:
    def __init__(self, run_dir: Path, rows_per_part: int = 2000, flush_interval_s: float = 30.0,
                 file_name: str = RESULTS_FILE):
        self.run_dir = Path(run_dir)
        self.file_name = file_name
        self.parts_dir = self.run_dir / file_name.replace(".parquet", ".parts")
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        self.rows_per_part = rows_per_part
        self.flush_interval_s = flush_interval_s
        self.rows_written = 0
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._parts = 0
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
        _write_atomically(pa.concat_tables(self._buffer), path)
        self._parts += 1
        self.rows_written += self._buffered
        self._buffer, self._buffered = [], 0
        self._last_flush = time.monotonic()

    def close(self) -> Path:
        """Merge the parts into results.parquet (streaming, part by part) and remove them."""
        self.flush()
        target = self.run_dir / self.file_name
        temporary = target.with_suffix(".parquet.tmp")
        with pq.ParquetWriter(temporary, RESULT_SCHEMA, compression="zstd") as writer:
            for part in sorted(self.parts_dir.glob("part-*.parquet")):
                writer.write_table(pq.read_table(part, schema=RESULT_SCHEMA))
        os.replace(temporary, target)
        shutil.rmtree(self.parts_dir)
        return target


def _write_atomically(table: pa.Table, path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, path)


def read_results(run_dir: Path, columns: list[str] | None = None, file_name: str = RESULTS_FILE) -> pd.DataFrame:
    path = Path(run_dir) / file_name
    return pq.read_table(path, columns=columns).to_pandas()
