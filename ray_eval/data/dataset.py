"""A dataset as the run sees it: one validating pass on the driver (counts, problems, fingerprint, chunk
boundaries; constant memory but for the set of ids), then a Ray Data source that streams the rows."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from ray_eval.config import EvalConfig, SuiteConfig, datasets_fingerprint, suite_name_of
from ray_eval.data.readers import Chunk, Reader, SampleInvalid, SuiteThresholds, open_reader
from ray_eval.errors import DatasetError, RowProblem
from ray_eval.records import READ_SCHEMA, invalid_row, sample_row
from ray_eval.verdict.gate import Coverage

SCAN_CHUNK_ROWS = 64  # the scan's unit; a read task takes its rows from one or more chunks (ChunkSlice)


@dataclass
class DatasetScan:
    """What the validating pass learnt about a dataset file: one suite's rows."""

    suite: str
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
    suite: str | None = None,
) -> DatasetScan:
    """Read every row once, validate it, find duplicate ids; its rows are `suite`'s (default: named after the file,
    as a one-dataset config names it). Raises DatasetError when the file itself is unusable (naming
    `format_option` where the format is the problem)."""
    reader = open_reader(path, format, root, format_option)
    try:
        every_chunk = reader.chunks(rows_per_chunk)
        thresholds = reader.suite_thresholds()
    except (ValueError, OSError) as exc:
        raise DatasetError(str(exc)) from None
    chunks = _limit_chunks(every_chunk, limit)
    file_rows = sum(chunk.rows for chunk in every_chunk)
    scan = DatasetScan(suite=suite or suite_name_of(path), path=reader.path, reader=reader,
                       rows=0, chunks=chunks, fingerprint=file_sha256(reader.path),
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


def file_sha256(path: Path) -> str:
    """A file's SHA-256, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_rows(suite: str, reader: Reader, chunk: Chunk, duplicate_rows: dict[int, int], skip: int = 0,
              take: int | None = None) -> Iterator[dict]:
    """READ_SCHEMA rows of one chunk of a suite (those from `skip`, `take` of them: default all); a bad row becomes
    an error row, so every input row reaches the results."""
    source = reader.path.name
    for raw in itertools.islice(reader.read_chunk(chunk), skip, skip + (chunk.rows - skip if take is None else take)):
        if raw.row_number in duplicate_rows:
            reason = f"id: duplicate id, first used at {reader.row_word} {duplicate_rows[raw.row_number]}"
            duplicate = f"{raw.sample_id}#{reader.row_word}{raw.row_number}"
            yield invalid_row(suite, source, raw.row_number, duplicate, reason)
            continue
        try:
            yield sample_row(reader.to_sample(raw), suite, source, raw.row_number)
        except SampleInvalid as exc:
            reason = f"{exc.field}: {exc.reason}" if exc.field else exc.reason
            yield invalid_row(suite, source, raw.row_number, raw.sample_id, reason)


class ShopBenchDatasource(Datasource):
    """Streams a run's scanned suites into Ray Data, rows in READ_SCHEMA, one suite after the other: one read task,
    and one block, per `rows_per_task[suite]` rows of a suite (its last task fewer). Ray Data merges what a read task
    yields into one block, so the task is the block: the pipeline makes it one inference batch. `skip`: the sample
    ids a resumed run already has, by suite."""

    def __init__(self, scans: RunScan, skip: Mapping[str, frozenset[str]], rows_per_task: Mapping[str, int]):
        super().__init__()
        self._tasks = [_ChunkRead(scan, slices, skip.get(scan.suite, frozenset()))
                       for scan in scans.suites for slices in _slice_rows(scan.chunks, rows_per_task[scan.suite])]
        self._resuming = any(skip.values())

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
        for read in self._tasks:
            metadata = BlockMetadata(num_rows=None if self._resuming else read.rows, size_bytes=None, exec_stats=None,
                                     input_files=(str(read.reader.path),))
            tasks.append(ReadTask(read, metadata, schema=READ_SCHEMA, per_task_row_limit=per_task_row_limit))
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

    def __init__(self, scan: DatasetScan, slices: list[ChunkSlice], skip: frozenset[str]):
        self.suite, self.reader, self.slices = scan.suite, scan.reader, slices
        self.duplicates = {row: first for row, first in scan.duplicate_rows.items()
                           if slices[0].chunk.first_row <= row}
        self.skip = skip
        self.rows = sum(piece.take for piece in slices)

    def __call__(self) -> Iterator[pa.Table]:
        rows = [row for piece in self.slices
                for row in read_rows(self.suite, self.reader, piece.chunk, self.duplicates, piece.skip, piece.take)
                if row["sample_id"] not in self.skip]
        yield pa.Table.from_pylist(rows, schema=READ_SCHEMA)


@dataclass(frozen=True)
class RunScan:
    """The scans of a run's suites, in the config's order."""

    suites: list[DatasetScan]

    @property
    def rows(self) -> int:
        return sum(scan.rows for scan in self.suites)

    @property
    def fingerprint(self) -> str | None:
        """What the run evaluated (config.datasets_fingerprint): a run directory resumes only under the same."""
        return datasets_fingerprint([scan.fingerprint for scan in self.suites])

    @property
    def coverage(self) -> Coverage:
        return Coverage.of_all(scan.coverage for scan in self.suites)

    def describe(self) -> str:
        return ", ".join(f"{scan.suite}: {scan.rows} from {scan.path} ({scan.format})" for scan in self.suites)


def scan_suites(config: EvalConfig) -> RunScan:
    """Every suite's scan; DatasetError (nothing evaluated) when one has bad rows and its config refuses them."""
    return RunScan([scan_or_refuse(suite) for suite in config.evaluated_suites()])


def scan_or_refuse(suite: SuiteConfig) -> DatasetScan:
    """A suite's scan; DatasetError (nothing evaluated) when it has bad rows and its config refuses them."""
    dataset = suite.dataset
    scan = scan_dataset(dataset.path, dataset.format, dataset.root, dataset.rows_per_read_task or SCAN_CHUNK_ROWS,
                        dataset.limit, suite=suite.name)
    if scan.rows == 0:
        raise DatasetError(f"suite {suite.name}: dataset {scan.path} has no samples")
    if scan.problem_count and dataset.invalid_rows == "refuse":
        listed = "\n  ".join(str(problem) for problem in scan.problems[:50])
        more = f"\n  ... and {scan.problem_count - 50} more" if scan.problem_count > 50 else ""
        raise DatasetError(
            f"suite {suite.name}: {scan.path}: {scan.problem_count} of {scan.rows} rows are invalid (set "
            f"dataset.invalid_rows=error_row to evaluate the rest):\n  {listed}{more}",
            problems=scan.problems,
        )
    return scan
