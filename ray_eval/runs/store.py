"""The run store: the one place that reads and writes a run directory's files (their names and places are in
layout.py). Every file is written atomically (atomic.py).

verdict.json is what CI and `ray-eval runs` trust, so it vouches for the rest: it is removed before any output of the
run is (re)written, and written again last, once summary.json, summary.md, junit.xml and report.html are whole on
disk. A write that fails (a full disk) leaves no verdict: the run reads as unfinished, and `ray-eval report RUN_DIR`
(once summary.json is written; it holds the same decision) or `ray-eval run --resume RUN_DIR` writes the outputs again.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ray_eval.cluster.malloc import release_free_memory
from ray_eval.config import suite_name_of
from ray_eval.errors import OperatorError, OutputError, UsageError
from ray_eval.runs.atomic import fsync_path, write_atomically, write_json_atomically, write_text_atomically
from ray_eval.runs.layout import RUN_FILE, VERDICT_FILE, RunLayout
from ray_eval.runs.results import ResultWriter, read_results_table, write_results_file
from ray_eval.verdict.summary_model import Summary, Verdict, load_summary

RUN_AGAIN = "free space and run the command again"  # how to continue after a failed write of run.json
# Why a folder cannot be written that the operator must fix (exit 2); any other cause (a full disk) is exit 3.
OPERATOR_ERRNOS = {errno.EROFS: "a read-only file system", errno.EACCES: "permission denied",
                   errno.EPERM: "operation not permitted", errno.ENOTDIR: "a file stands where a folder should be",
                   errno.EEXIST: "a file stands where a folder should be"}


@dataclass(frozen=True)
class RunRecord:
    """run.json: the config a run started with (as stored: public_config) and the fingerprints it is resumed under."""

    config: dict[str, Any]
    config_fingerprint: str | None = None
    dataset_fingerprint: str | None = None
    started_at: str | None = None
    rescored_at: str | None = None  # set once `ray-eval rescore` scored the run's answers again

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        return cls(data["config"], data.get("config_fingerprint"), data.get("dataset_fingerprint"),
                   data.get("started_at"), data.get("rescored_at"))

    def as_json(self) -> dict[str, Any]:
        stored = {"config_fingerprint": self.config_fingerprint, "dataset_fingerprint": self.dataset_fingerprint,
                  "started_at": self.started_at, "config": self.config}
        return stored if self.rescored_at is None else stored | {"rescored_at": self.rescored_at}


@dataclass(frozen=True)
class ReportWriters:
    """How the reports are drawn (ray_eval.outputs); the store decides where they go and in what order."""

    markdown: Callable[[], str]  # summary.md's text
    junit: Callable[[Path], None]  # writes junit.xml's content into the file given
    report: Callable[[Path], None]  # writes report.html's content into the file given


def check_writable(run_dir: Path, option: str | None = None) -> None:
    """Before Ray starts and before anything is evaluated: a file can be written in run_dir, or, when it does not
    exist yet, in the nearest folder above it that does (nothing is created). Refused in one line naming the folder
    and the cause: OperatorError (exit 2) for what the operator must fix, OutputError (exit 3) for the rest."""
    target = next(folder for folder in (run_dir, *run_dir.parents) if folder.exists())
    try:
        if not target.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(target))
        with tempfile.TemporaryFile(dir=target, prefix=".ray-eval-probe-"):
            pass
    except OSError as exc:
        where = f"{option} {run_dir.parent}" if option else f"run directory {run_dir}"
        if exc.errno in OPERATOR_ERRNOS:
            raise OperatorError(f"{where}: cannot write in {target}: {OPERATOR_ERRNOS[exc.errno]}; nothing was "
                                "evaluated: choose a writable folder") from None
        raise OutputError(f"{where}: cannot write in {target}: {exc.strerror or exc}") from None


class RunStore(RunLayout):
    """One run directory's files, read and written."""

    # ---- the run: run.json ---------------------------------------------------------------------------------------

    def existing_run(self) -> RunRecord | None:
        """The run this directory holds, to resume; None when there is none yet (no folder, or an empty one). A folder
        holding other files is refused: it is not a ray-eval run."""
        if not (self.run_dir.exists() and any(self.run_dir.iterdir())):
            return None
        if not self.is_run():
            raise UsageError(f"run directory {self.run_dir} holds files but no {RUN_FILE}: not a ray-eval run to "
                             "resume; choose another run.run_id")
        return self.read_run_record()

    def require_run(self) -> None:
        if not self.is_run():
            raise UsageError(f"{self.run_dir} is not a run directory to resume: {RUN_FILE} is missing")

    def read_run_record(self) -> RunRecord:
        """run.json; a file there that is not one (not JSON, no config: edited by hand) is refused in one line."""
        self.require_run()
        try:
            return RunRecord.from_json(_read_json(self.run_file))
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{self.run_file} is not a ray-eval run record ({type(exc).__name__}: {exc}); "
                             "choose another run.run_id") from None

    def start(self, record: RunRecord, resuming: bool) -> None:
        """Create the run directory and record the run (run.json); a resumed run keeps its record, and its conclusion
        is withdrawn: the results change under it, and it is written again when the run ends."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resuming:
            self.withdraw_conclusion()
            return
        self.write_run_record(record)

    def write_run_record(self, record: RunRecord) -> None:
        write_json_atomically(self.run_file, record.as_json(), RUN_AGAIN)

    # ---- results ---------------------------------------------------------------------------------------------------

    def has_results(self, blind: bool = False) -> bool:
        """Whether the (merged) results file is there: a finished run's, not only its checkpoint parts."""
        return self.results_files(blind).merged.is_file()

    def read_results(self, columns: Sequence[str] | None = None, *, blind: bool = False) -> pa.Table:
        """The results file in RESULT_SCHEMA, all its columns or those named; a column it lacks (an older run) is
        null, but for the suite: a run made before suites had one, named in its config."""
        return read_results_table(self.results_files(blind).merged, columns, self.legacy_suite())

    def read_results_frame(self, columns: Sequence[str] | None = None, *, blind: bool = False) -> pd.DataFrame:
        return self.read_results(columns, blind=blind).to_pandas()

    def result_writer(self, *, blind: bool = False, rows_per_part: int, flush_interval_s: float) -> ResultWriter:
        """Checkpoint parts of the results as they arrive, merged into the results file when closed."""
        return ResultWriter(self.results_files(blind), rows_per_part, flush_interval_s, self.legacy_suite())

    def replace_results(self, table: pa.Table, *, blind: bool = False, then: str) -> None:
        """The whole results file written again (rescoring); a failed write leaves the old one as it was."""
        path = self.results_files(blind).merged
        write_results_file(table, path, f"{path} is as it was: {then}")

    def done_sample_ids(self, retry_errors: bool) -> dict[str, frozenset[str]]:
        """Sample ids a resumed run need not evaluate again, by suite: every one with a row, or only those that ended
        ok."""
        files = self.results
        sources = ([files.merged] if files.merged.exists() else []) + files.parts()  # the merged rows are the oldest
        latest: dict[tuple[str, str], str] = {}
        legacy_suite = self.legacy_suite()
        for source in sources:
            table = read_results_table(source, ["suite", "sample_id", "status"], legacy_suite)
            latest.update(zip(zip(table["suite"].to_pylist(), table["sample_id"].to_pylist(), strict=True),
                              table["status"].to_pylist(), strict=True))
        done: dict[str, set[str]] = {}
        for (suite, sample_id), status in latest.items():
            if not retry_errors or status == "ok":
                done.setdefault(suite, set()).add(sample_id)
        return {suite: frozenset(ids) for suite, ids in done.items()}

    def legacy_suite(self) -> str | None:
        """The name of a run's one suite when its config names one `dataset` (rows written before suites have
        none); None for a run of `suites`, whose every row has its suite."""
        source = self.run_file if self.run_file.is_file() else self.summary
        if not source.is_file():
            return None
        dataset = (_read_json(source).get("config") or {}).get("dataset")
        return suite_name_of(Path(dataset["path"])) if isinstance(dataset, dict) and "path" in dataset else None

    # ---- the conclusion: summary.json, the reports, verdict.json ---------------------------------------------------

    def read_summary(self) -> Summary | None:
        """summary.json as its model; one of an unknown version, or not a summary, is refused in one line."""
        return self._summary_model() if self.summary.is_file() else None

    def read_finished_summary(self) -> Summary:
        """summary.json of a finished run directory; refused in one line when it or the results are missing."""
        self.require_finished(self.results.merged, self.summary)
        return self._summary_model()

    def _summary_model(self) -> Summary:
        return load_summary(_read_json(self.summary), str(self.summary))

    def read_verdict(self) -> Verdict | None:
        return Verdict.model_validate(_read_json(self.verdict)) if self.verdict.is_file() else None

    def read_concluded(self) -> Summary:
        """A finished run's summary, holding its verdict. Without verdict.json (writing the reports failed, e.g. a full
        disk), the verdict is the copy summary.json holds: both are written from the same decision, summary.json
        first."""
        self.require_finished(self.summary, self.results.merged)
        summary = self._summary_model()
        decision = self.read_verdict()
        if decision is not None:
            return summary.model_copy(update={"verdict": decision})
        if summary.verdict.checks is None:  # a summary.json of an older version holds only the outcome
            raise UsageError(f"{self.run_dir} is not a finished run directory: {VERDICT_FILE} is missing")
        return summary

    def require_finished(self, *paths: Path) -> None:
        """Refuse a run directory that lacks one of these files (checked in this order) of a finished run."""
        for path in paths:
            if not path.is_file():
                raise UsageError(f"{self.run_dir} is not a finished run directory: {path.name} is missing")

    def withdraw_verdict(self) -> None:
        """Remove verdict.json before the files it vouches for change: until it is written again, the run has none."""
        try:
            self.verdict.unlink(missing_ok=True)
            fsync_path(self.run_dir)  # the removal reaches the disk before any new file does
        except OSError as exc:
            raise OutputError(f"cannot remove {self.verdict} before rewriting the outputs it vouches for: "
                              f"{exc.strerror or exc}") from None

    def withdraw_conclusion(self) -> None:
        """The verdict first, then the summary: the results are about to change, and until the run concludes again
        neither would be true."""
        self.withdraw_verdict()
        self.summary.unlink(missing_ok=True)

    def write_outputs(self, summary: Summary, reports: ReportWriters, then: str) -> None:
        """summary.json, the reports, and verdict.json last. `then` says how to continue when summary.json cannot be
        written; once it is, `ray-eval report RUN_DIR` writes the rest from it."""
        self.withdraw_verdict()
        write_json_atomically(self.summary, summary.stored(), then)
        rewrite = f"free space, then write the reports and verdict.json with `ray-eval report {self.run_dir}`"
        write_text_atomically(self.markdown, reports.markdown(), rewrite)
        write_atomically(self.junit, reports.junit, rewrite)
        release_free_memory()
        write_atomically(self.report, reports.report, rewrite)
        write_json_atomically(self.verdict, summary.verdict.model_dump(mode="json"), rewrite)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
