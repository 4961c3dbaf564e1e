"""The fault suite's table: each row a fault an operator or the infrastructure inflicts on a run, the exit code and
verdict it must end with, and what continuing the run afterwards must give (exit code, verdict, how many requests
the engine gets again). tests/faults/test_fault_table.py runs every row through the real CLI on a local Ray against
a scripted OpenAI-compatible engine (ray_eval.testing.ScriptedOpenAIServer), and checks besides, for every row:
one row per sample after the last step (rows in = rows out), a finished run equal to an uninterrupted one, no
verdict.json without its reports, an incomplete summary.md naming the command that continues it, and a run that
stops with one line, not a traceback.

Each row's `fault` names a row of "Exit codes" in docs/reference/cli.md (what each fault maps to);
test_exit_code_contract.py checks that every scenario's exit code is the one its fault's cause class documents.

Adding a row: pick the engine's behaviour (an EngineBehaviour below, or one of your own), config overrides, and a
Fault action (tests/faults/actions.py) for what happens outside the engine. Engine faults (429 bursts, outages,
hanging requests, key leaks) go into ENGINE_SCENARIOS.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import pyarrow.parquet as pq

from ray_eval.runs.layout import RESULTS_FILE, RunLayout
from ray_eval.testing import Reply
from tests.faults.actions import (
    DiskFullAt,
    Fault,
    FileAsOutDir,
    KillDriverAt,
    ReadOnlyOutDir,
    SilentEndpoint,
    WorkerNodeLost,
)

# ---- what the engine does -------------------------------------------------------------------------------------------


class EngineBehaviour:
    """Answers every request with the sample's scripted answer (the uninterrupted run's engine)."""

    def reply(self, sample_id: str, answer: str) -> Reply:
        return Reply.text(answer)


class SlowAnswers(EngineBehaviour):
    """Answers, a little slowly: results reach disk over a few seconds, so a run can be stopped halfway."""

    def reply(self, sample_id: str, answer: str) -> Reply:
        return Reply.text(answer, delay_s=0.4)


class FailsMostSamples(EngineBehaviour):
    """HTTP 500 on every attempt for about 70 % of the samples (a fixed draw per sample id), answers for the rest."""

    def reply(self, sample_id: str, answer: str) -> Reply:
        draw = hashlib.sha256(sample_id.encode()).digest()[0] / 256
        return Reply.status(500) if draw < 0.7 else Reply.text(answer)


class NeverAnswers(EngineBehaviour):
    """Takes every chat request and never answers it (the server is stopped by the test)."""

    def reply(self, sample_id: str, answer: str) -> Reply:
        return Reply.hang(600)


class BurstOfErrors(EngineBehaviour):
    """The run's first 14 requests get an HTTP 500, a 429 or a hang past the client's timeout, in turn."""

    REQUESTS = 14  # every sample's first try, and some second ones

    def __init__(self) -> None:
        self.faults = itertools.cycle([Reply.status(500), Reply.status(429, retry_after=0), Reply.hang(3)])
        self.served = itertools.count()

    def reply(self, sample_id: str, answer: str) -> Reply:
        return next(self.faults) if next(self.served) < self.REQUESTS else Reply.text(answer)


# ---- continuing the run ---------------------------------------------------------------------------------------------


class Resent(Enum):
    """Which samples the engine is asked again when the run is continued, counted from the run directory."""

    NOTHING = "nothing"
    MISSING = "samples without a row"
    MISSING_AND_ERRORS = "samples without a row, and error rows"

    def expected(self, run_dir: Path, samples: int) -> int:
        if self is Resent.NOTHING:
            return 0
        statuses = rows_on_disk(run_dir)
        missing = samples - len(statuses)
        errors = sum(status != "ok" for status in statuses.values())
        return missing + (errors if self is Resent.MISSING_AND_ERRORS else 0)


def rows_on_disk(run_dir: Path) -> dict[str, str]:
    """The latest status of each sample id in a run directory (results.parquet, then the parts, in write order)."""
    files = RunLayout(run_dir).results
    sources = ([files.merged] if files.merged.is_file() else []) + files.parts()
    latest: dict[str, str] = {}
    for source in sources:
        table = pq.read_table(source, columns=["sample_id", "status"])
        latest.update(zip(table["sample_id"].to_pylist(), table["status"].to_pylist(), strict=True))
    return latest


@dataclass(frozen=True)
class Continue:
    """A command run after the fault is gone (space freed, the engine healthy), and what it must end with."""

    command: tuple[str, ...]  # after `ray-eval`; RUN_DIR stands for the run directory
    exit_code: int
    verdict: str | None
    resent: Resent

    def argv(self, run_dir: Path) -> list[str]:
        return [str(run_dir) if word == "RUN_DIR" else word for word in self.command]


def resume(exit_code: int = 0, verdict: str | None = "passed", resent: Resent = Resent.MISSING) -> Continue:
    return Continue(("run", "--resume", "RUN_DIR"), exit_code, verdict, resent)


def resume_retrying_errors(exit_code: int = 0, verdict: str | None = "passed") -> Continue:
    return Continue(("run", "--resume", "RUN_DIR", "--retry-errors"), exit_code, verdict, Resent.MISSING_AND_ERRORS)


def report(exit_code: int = 0, verdict: str | None = "passed") -> Continue:
    return Continue(("report", "RUN_DIR"), exit_code, verdict, Resent.NOTHING)


# ---- the table -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: str  # the "Exit codes" row (docs/reference/cli.md) it is an instance of
    exit_code: int  # of the faulted run; a driver killed by SIGKILL: what CI reports for a job that ended so
    verdict: str | None  # verdict.json's status after the faulted run; None: no verdict.json
    engine: Callable[[], EngineBehaviour] = EngineBehaviour
    overrides: tuple[str, ...] = ()  # --set for every command of the scenario
    action: Fault = field(default_factory=Fault)
    says: str | None = None  # in the faulted run's last line ({run_dir}, {out_dir} filled in)
    then: tuple[Continue, ...] = ()  # in order, once the fault is gone
    retried: int | None = None  # requests the faulted run sends beyond one per sample (None: not checked)


DISK_FULL = "disk full while writing results"
DISK_FULL_OUTPUTS = "disk full while writing summary, reports or verdict"
DRIVER_KILLED = "driver killed (SIGKILL, out of memory, its node lost)"
OUT_DIR_UNWRITABLE = "run.out_dir unwritable (read-only, no permission, a file in the way)"
ENGINE_BUDGET = "engine errors over run.max_engine_error_rate (every session of the run counted)"
ENGINE_STOPS = "engine stops answering mid-run (run.abort_after_consecutive_failures)"
ENGINE_UNREACHABLE = "engine unreachable or silent before the run"
RIDDEN_OUT = "engine trouble the retries ride out (429, 5xx, timeouts, refused connections)"
PAST_THE_WINDOW = "engine trouble past engine.retry_window_s (samples failed at the engine)"
NODE_LOST = "a Ray worker node lost mid-run (Ray restarts its actors and tasks)"

NO_SPACE = "No space left on device"


def full_disk_at_reports(file: str) -> Scenario:
    return Scenario(f"disk full at {file}", DISK_FULL_OUTPUTS, 3, None, action=DiskFullAt(file),
                    says=f"cannot write {{run_dir}}/{file}: {NO_SPACE}; free space, then write the reports and "
                         "verdict.json with `ray-eval report {run_dir}`",
                    then=(report(),))


VERDICT_SCENARIOS = [
    # A full disk at every write of a run directory: never a verdict the files do not back, always continued.
    Scenario("disk full at a results part", DISK_FULL, 3, None, action=DiskFullAt("part-00001.parquet"),
             says=f"cannot write {{run_dir}}/results.parts/part-00001.parquet: {NO_SPACE}; the parts written so far "
                  "are whole: free space and resume with `ray-eval run --resume {run_dir}`",
             then=(resume(),)),
    Scenario("disk full at the merge", DISK_FULL, 3, None, action=DiskFullAt(RESULTS_FILE),
             says=f"cannot write {{run_dir}}/results.parquet: {NO_SPACE}; the parts in {{run_dir}}/results.parts are "
                  "whole: free space and resume with `ray-eval run --resume {run_dir}`",
             then=(resume(resent=Resent.NOTHING),)),
    Scenario("disk full at summary.json", DISK_FULL_OUTPUTS, 3, None, action=DiskFullAt("summary.json"),
             says=f"cannot write {{run_dir}}/summary.json: {NO_SPACE}; free space and resume with "
                  "`ray-eval run --resume {run_dir}`",
             then=(resume(resent=Resent.NOTHING),)),
    *(full_disk_at_reports(file) for file in ("summary.md", "junit.xml", "report.html", "verdict.json")),
    # A plain --resume of a run the engine failed stays the engine's failure, not the model's.
    Scenario("engine errors over the budget, then resumed", ENGINE_BUDGET, 3, "incomplete", engine=FailsMostSamples,
             then=(resume(3, "incomplete", Resent.NOTHING), resume_retrying_errors())),
    Scenario("engine takes requests and never answers", ENGINE_STOPS, 3, "incomplete", engine=NeverAnswers,
             overrides=("run.abort_after_consecutive_failures=3", "engine.max_retries=0"),
             then=(resume_retrying_errors(),)),
    Scenario("engine takes connections and never answers", ENGINE_UNREACHABLE, 3, None, action=SilentEndpoint(),
             says="is unreachable"),
    # Operator errors: one line, before Ray starts, nothing evaluated.
    Scenario("out_dir on a read-only mount", OUT_DIR_UNWRITABLE, 2, None, action=ReadOnlyOutDir(),
             says="run.out_dir {out_dir}: cannot write in {out_dir.parent}: a read-only file system; nothing was "
                  "evaluated"),
    Scenario("a file where out_dir should be", OUT_DIR_UNWRITABLE, 2, None, action=FileAsOutDir(),
             says="run.out_dir {out_dir}: cannot write in {out_dir.parent}: a file stands where a folder should be"),
    # The driver killed: nothing lost, its Ray gone with it, and the resumed run equal to an uninterrupted one.
    Scenario("driver killed at its first checkpoint", DRIVER_KILLED, 3, None, engine=SlowAnswers,
             action=KillDriverAt(None), then=(resume(),)),
    Scenario("driver killed at the merge", DRIVER_KILLED, 3, None, action=KillDriverAt(RESULTS_FILE),
             then=(resume(resent=Resent.NOTHING),)),
    Scenario("driver killed writing report.html", DRIVER_KILLED, 3, None, action=KillDriverAt("report.html"),
             then=(resume(resent=Resent.NOTHING),)),
    # Ray restarts the lost actors and tasks: the same answers, scores and verdict as without the loss.
    Scenario("a worker node lost mid-run", NODE_LOST, 0, "passed", engine=SlowAnswers, action=WorkerNodeLost()),
]

# Engine faults run here; 429 bursts, outages and hanging requests, against an engine at a fixed address that can go
# down and come back, are the rows of tests/faults/test_engine_faults.py (its own table, in the same contract).
ENGINE_SCENARIOS: list[Scenario] = [
    Scenario("a burst of 500, 429 and timeouts", RIDDEN_OUT, 0, "passed", engine=BurstOfErrors,
             # More retries than the burst has requests: no sample can fail for good, however they fall.
             overrides=(f"engine.max_retries={BurstOfErrors.REQUESTS}",), retried=BurstOfErrors.REQUESTS),
]

SCENARIOS = [*VERDICT_SCENARIOS, *ENGINE_SCENARIOS]
