"""One Ray job, submitted and followed from this process through Ray's job API (`ray.job_submission`), for
`ray-eval ci submit`.

Why not the `ray job submit` CLI: each `ray` process imports Ray again (1-2 s on a small CI machine), and the CLI
learns that a job ended from the dashboard's log stream, which re-reads the log and the job's status once a second
each: 3-4 s after the job's end on Ray 2.60. Here the job's status is polled every POLL_S, and the moment it is
terminal the log is read whole (one request: the driver has exited, so the file is complete); the stream only echoes
the log while the job runs.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ray_eval.engines.base import public_url
from ray_eval.errors import ClusterUnavailable, RunInterrupted
from ray_eval.redact import Redactor

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

POLL_S = 0.25  # a job's end is seen this long after it at most: one small HTTP request to the dashboard each
LOST_AFTER_S = 120.0  # the job API failing this long in a row: the cluster (or the way to it) is gone
T = TypeVar("T")


@dataclass(frozen=True)
class JobEnd:
    status: str            # Ray's JobStatus: SUCCEEDED, FAILED or STOPPED
    exit_code: int | None  # the entrypoint's exit status; None when it never ran to an end (stopped, not started)
    message: str           # Ray's status message ("Job entrypoint command failed with exit code 2, ...")
    log: str               # the job's whole log (stdout and stderr of its entrypoint)


def run_job(address: str, submission_id: str, entrypoint: list[str], working_dir: Path, excludes: list[str],
            echo: Callable[[str], None]) -> JobEnd:
    """Submit `entrypoint` with `working_dir` uploaded (less `excludes`, and what .gitignore names), pass its log to
    `echo` as it arrives, and return how it ended. Raises ClusterUnavailable when the cluster cannot be reached,
    refuses the job, or is lost before the job ends."""
    redact = Redactor.for_endpoint(None, address)  # a CI log must not show the address's credentials, if it has any
    where = public_url(address)
    try:
        from ray.job_submission import JobSubmissionClient  # Ray's job SDK: imported only where a job is submitted

        client = JobSubmissionClient(address)
        client.submit_job(entrypoint=shlex.join(entrypoint), submission_id=submission_id,
                          runtime_env={"working_dir": str(working_dir), "excludes": excludes})
    except (OSError, RuntimeError, ValueError) as exc:  # the SDK's errors: unreachable, refused (RuntimeError)
        raise ClusterUnavailable(redact(f"cannot submit job {submission_id} to {where}: {exc}")) from exc
    try:
        return asyncio.run(_follow(client, submission_id, echo))
    except (OSError, RuntimeError) as exc:
        raise ClusterUnavailable(redact(f"lost job {submission_id} on {where} before it ended: {exc}; it may still "
                                        "be running there (`ray job status`)")) from exc
    except KeyboardInterrupt:  # the job is the cluster's: it goes on without this process
        raise RunInterrupted(f"interrupted; job {submission_id} goes on running on the cluster (`ray job stop "
                             f"--address {where} {submission_id}` stops it)") from None


async def _follow(client: JobSubmissionClient, submission_id: str, echo: Callable[[str], None]) -> JobEnd:
    echoed = EchoedLog(echo)

    async def stream() -> None:
        from aiohttp import ClientError  # what Ray's log stream is made of (ray[default])

        while True:  # a stream that broke (a network blip) starts again at the log's start; echoed skips what it showed
            try:
                received = 0
                async for text in client.tail_job_logs(submission_id):
                    echoed.add(text, at=received)
                    received += len(text)
                return
            except (OSError, RuntimeError, ClientError):  # Ray's SDK raises RuntimeError for a stream closed by error
                await asyncio.sleep(1.0)

    streaming = asyncio.create_task(stream())
    try:
        while not (await _ask(client.get_job_status, submission_id)).is_terminal():
            await asyncio.sleep(POLL_S)
    finally:
        streaming.cancel()
        await asyncio.gather(streaming, return_exceptions=True)
    log = await _ask(client.get_job_logs, submission_id)
    echoed.add(log, at=0)  # what the stream had not shown yet: the driver has exited, the log is whole
    info = await _ask(client.get_job_info, submission_id)
    return JobEnd(str(info.status.value), info.driver_exit_code, info.message or "", log)


async def _ask(request: Callable[[str], T], submission_id: str) -> T:
    """One request to the job API, asked again through LOST_AFTER_S of failures (a network blip, a dashboard
    restarting); failing longer, the job is lost to this process."""
    failing_since = None
    while True:
        try:
            return await asyncio.to_thread(request, submission_id)
        except (OSError, RuntimeError):
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > LOST_AFTER_S:
                raise
            await asyncio.sleep(1.0)


class EchoedLog:
    """The part of a job's log already passed on: text read again from an earlier offset is passed on only past it."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self._echo, self.length = echo, 0

    def add(self, text: str, at: int) -> None:
        """`text` read from character `at` of the log."""
        if at + len(text) > self.length:
            self._echo(text[max(0, self.length - at):])
            self.length = at + len(text)
