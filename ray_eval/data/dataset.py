"""A dataset as the run sees it: one validating pass on the driver (counts, problems, fingerprint, chunk
boundaries; constant memory but for the set of ids), then a Ray Data source that streams the rows."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from ray_eval.config import EvalConfig
from ray_eval.data.readers import Chunk, Reader, SampleInvalid, SuiteThresholds, open_reader
from ray_eval.errors import DatasetError, RowProblem
from ray_eval.records import READ_SCHEMA, invalid_row, sample_row
from ray_eval.verdict.gate import Coverage

SCAN_CHUNK_ROWS = 64  # the scan's unit; a read task takes its rows from one or more chunks (ChunkSlice)


@dataclass
class DatasetScan:
    """What the validating pass learnt about a dataset file."""

    path: Path
    reader: Reader
    rows: int
    chunks: list[Chunk]
    fingerprint: str  # sha256 of the file's bytes
    problems: list[RowProblem] = field(default_factory=list)  # the first `max_problems` bad rows
    problem_count: int = 0
    duplicate_rows: dict[int, int] = field(default_factory=dict)  # row number -> row number of the first use
    suite_thresholds: SuiteThresholds | None = None
    file_rows: int | None = None  # rows in the whole file, when dataset.limit kept fewer of them

    @property
    def format(self) -> str:
        return self.reader.name

    @property
    def coverage(self) -> Coverage:
        return Coverage(self.rows, self.rows if self.file_rows is None else self.file_rows)


def scan_dataset(
    path: Path,
    format: str = "auto",
    root: Path | None = None,
    rows_per_chunk: int = 256,
    limit: int | None = None,
    max_problems: int = 1000,
    format_option: str = "dataset.format",
) -> DatasetScan:
    """Read every row once, validate it, find duplicate ids. Raises DatasetError when the file itself is unusable
    (naming `format_option` where the format is the problem)."""
    reader = open_reader(path, format, root, format_option)
    try:
        every_chunk = reader.chunks(rows_per_chunk)
        thresholds = reader.suite_thresholds()
    except (ValueError, OSError) as exc:
        raise DatasetError(str(exc)) from None
    chunks = _limit_chunks(every_chunk, limit)
    file_rows = sum(chunk.rows for chunk in every_chunk)
    scan = DatasetScan(path=reader.path, reader=reader, rows=0, chunks=chunks, fingerprint=_sha256(reader.path),
                       suite_thresholds=thresholds,
                       file_rows=file_rows if file_rows > sum(chunk.rows for chunk in chunks) else None)
    first_use: dict[str, int] = {}
    source = reader.path.name
    for raw in iter_raw_rows(reader, chunks):
        scan.rows += 1
        problem = None
        try:
            sample = reader.to_sample(raw)
        except SampleInvalid as exc:
            problem = RowProblem(source, raw.row_number, raw.sample_id, exc.field, exc.reason, reader.row_word)
            # An invalid row's id is taken too: a later row of the same id is a duplicate, so that no two result
            # rows ever share a sample id (the merge of results keeps one row per id).
            if raw.sample_id and raw.sample_id in first_use:
                scan.duplicate_rows[raw.row_number] = first_use[raw.sample_id]
            elif raw.sample_id:
                first_use[raw.sample_id] = raw.row_number
        else:
            if sample.id in first_use:
                scan.duplicate_rows[raw.row_number] = first_use[sample.id]
                problem = RowProblem(source, raw.row_number, sample.id, "id",
                                     f"duplicate id, first used at {reader.row_word} {first_use[sample.id]}",
                                     reader.row_word)
            else:
                first_use[sample.id] = raw.row_number
        if problem is not None:
            scan.problem_count += 1
            if len(scan.problems) < max_problems:
                scan.problems.append(problem)
    return scan


def iter_raw_rows(reader: Reader, chunks: list[Chunk]) -> Iterator:
    for chunk in chunks:
        yield from itertools.islice(reader.read_chunk(chunk), chunk.rows)


def _limit_chunks(chunks: list[Chunk], limit: int | None) -> list[Chunk]:
    if limit is None:
        return chunks
    kept, remaining = [], limit
    for chunk in chunks:
        if remaining <= 0:
            break
        kept.append(replace(chunk, rows=min(chunk.rows, remaining)))
        remaining -= kept[-1].rows
    return kept


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_rows(reader: Reader, chunk: Chunk, duplicate_rows: dict[int, int], skip: int = 0,
              take: int | None = None) -> Iterator[dict]:
    """READ_SCHEMA rows of one chunk (those from `skip`, `take` of them: default all); a bad row becomes an error
    row, so every input row reaches the results."""
    source = reader.path.name
    for raw in itertools.islice(reader.read_chunk(chunk), skip, skip + (chunk.rows - skip if take is None else take)):
        if raw.row_number in duplicate_rows:
            reason = f"id: duplicate id, first used at {reader.row_word} {duplicate_rows[raw.row_number]}"
            yield invalid_row(source, raw.row_number, f"{raw.sample_id}#{reader.row_word}{raw.row_number}", reason)
            continue
        try:
            yield sample_row(reader.to_sample(raw), source, raw.row_number)
        except SampleInvalid as exc:
            reason = f"{exc.field}: {exc.reason}" if exc.field else exc.reason
            yield invalid_row(source, raw.row_number, raw.sample_id, reason)


class ShopBenchDatasource(Datasource):
    """Streams a scanned dataset into Ray Data, rows in READ_SCHEMA: one read task, and one block, per
    `rows_per_task` rows (the last task fewer). Ray Data merges what a read task yields into one block, so the task
    is the block: the pipeline makes it one inference batch."""

    def __init__(self, scan: DatasetScan, skip: frozenset[str] = frozenset(), rows_per_task: int = 1):
        super().__init__()
        self._reader = scan.reader
        self._tasks = _slice_rows(scan.chunks, rows_per_task)
        self._duplicates = scan.duplicate_rows
        self._skip = skip  # sample ids a resumed run already has

    def get_name(self) -> str:
        return "ShopBench"

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    @property
    def read_task_count(self) -> int:
        return len(self._tasks)

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context=None) -> list[ReadTask]:
        tasks = []
        for slices in self._tasks:
            rows = sum(piece.take for piece in slices)
            metadata = BlockMetadata(num_rows=None if self._skip else rows, size_bytes=None, exec_stats=None,
                                     input_files=(str(self._reader.path),))
            tasks.append(ReadTask(_ChunkRead(self._reader, slices, self._duplicates, self._skip), metadata,
                                  schema=READ_SCHEMA, per_task_row_limit=per_task_row_limit))
        return tasks


@dataclass(frozen=True)
class ChunkSlice:
    """Rows [skip, skip + take) of a chunk: a read task's rows need not follow the scan's chunks."""

    chunk: Chunk
    skip: int
    take: int


def _slice_rows(chunks: list[Chunk], rows_per_task: int) -> list[list[ChunkSlice]]:
    """The rows of `chunks`, in order, cut into tasks of `rows_per_task` rows (the last one fewer)."""
    tasks: list[list[ChunkSlice]] = [[]]
    room = rows_per_task
    for chunk in chunks:
        done = 0
        while done < chunk.rows:
            if room == 0:
                tasks.append([])
                room = rows_per_task
            take = min(room, chunk.rows - done)
            tasks[-1].append(ChunkSlice(chunk, done, take))
            done, room = done + take, room - take
    return [task for task in tasks if task]


class _ChunkRead:
    """The read function of one task (a class, so that Ray pickles only what the chunks need)."""

    def __init__(self, reader: Reader, slices: list[ChunkSlice], duplicates: dict[int, int], skip: frozenset[str]):
        self.reader, self.slices = reader, slices
        self.duplicates = {row: first for row, first in duplicates.items() if slices[0].chunk.first_row <= row}
        self.skip = skip

    def __call__(self) -> Iterator[pa.Table]:
        rows = [row for piece in self.slices
                for row in read_rows(self.reader, piece.chunk, self.duplicates, piece.skip, piece.take)
                if row["sample_id"] not in self.skip]
        yield pa.Table.from_pylist(rows, schema=READ_SCHEMA)


def scan_or_refuse(config: EvalConfig) -> DatasetScan:
    """The dataset's scan; DatasetError (nothing evaluated) when it has bad rows and the config refuses them."""
    dataset = config.dataset
    scan = scan_dataset(dataset.path, dataset.format, dataset.root, dataset.rows_per_read_task or SCAN_CHUNK_ROWS,
                        dataset.limit)
    if scan.rows == 0:
        raise DatasetError(f"dataset {scan.path} has no samples")
    if scan.problem_count and dataset.invalid_rows == "refuse":
        listed = "\n  ".join(str(problem) for problem in scan.problems[:50])
        more = f"\n  ... and {scan.problem_count - 50} more" if scan.problem_count > 50 else ""
        raise DatasetError(
            f"{scan.path}: {scan.problem_count} of {scan.rows} rows are invalid (set dataset.invalid_rows=error_row "
            f"to evaluate the rest):\n  {listed}{more}",
            problems=scan.problems,
        )
    return scan
