"""What the driver watches while results stream in: progress lines, and the engine's health."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TextIO

import pyarrow as pa
import pyarrow.compute as pc

from ray_eval.errors import EngineUnavailable


class Progress:
    """Prints `done/total, rate, time left` every `interval_s` (plain lines: CI logs are not terminals)."""

    def __init__(self, total: int, interval_s: float = 10.0, stream: TextIO | None = None):
        self.total = total
        self.interval_s = interval_s
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.errors = 0
        self._started = self._last = time.monotonic()

    def update(self, batch: pa.Table) -> None:
        self.done += batch.num_rows
        if batch.num_rows:
            self.errors += batch.num_rows - pc.sum(pc.equal(batch["status"], "ok")).as_py()
        now = time.monotonic()
        if now - self._last >= self.interval_s or self.done >= self.total:
            self._last = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else None
        percent = 100.0 * self.done / self.total if self.total else 100.0
        eta = str(timedelta(seconds=round(left))) if left is not None else "?"
        return (f"[ray-eval] {self.done}/{self.total} samples ({percent:.0f}%), {rate:.1f}/s, "
                f"{eta} left, {self.errors} errors")


class EngineHealth:
    """Stops the run when the engine keeps failing: `limit` inference failures in a row, no success between."""

    def __init__(self, limit: int):
        self.limit = limit
        self.streak = 0
        self.failures = 0
        self.requests = 0
        self.last_error: str | None = None

    def update(self, batch: pa.Table) -> None:
        for stage, status, error in zip(batch["error_stage"].to_pylist(), batch["status"].to_pylist(),
                                        batch["error"].to_pylist()):
            if status == "ok":
                self.requests += 1
                self.streak = 0
            elif stage == "inference":
                self.requests += 1
                self.failures += 1
                self.streak += 1
                self.last_error = error
        if self.streak >= self.limit:
            raise EngineUnavailable(
                f"{self.streak} requests in a row failed at the engine (last: {self.last_error}); stopping the run"
            )

    @property
    def failure_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def resume_command(run_dir: Path) -> str:
    """The command that asks a run's missing and failed samples again."""
    return f"ray-eval run --resume {run_dir} --retry-errors"


def with_engine_work_left(reason: str | None, engine_faults: int, missing: int, run_dir: Path) -> str | None:
    """A run's incomplete reason (None: complete) once its results are in. Samples that failed at the engine make it
    incomplete whatever else happened, for they say nothing about the model; where samples failed at the engine or
    have no row, the reason ends with the command that asks them again."""
    parts = [reason] if reason else []
    if engine_faults:
        parts.append(f"{engine_faults} sample(s) failed at the engine (refused or dropped connections, timeouts, "
                     "429 or 5xx for longer than the retry window): not the model's errors")
    if parts and (engine_faults or missing):
        parts.append(f"`{resume_command(run_dir)}` asks the missing and failed samples again")
    return "; ".join(parts) or None
