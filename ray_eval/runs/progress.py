"""What the driver watches while results stream in: progress lines, and the engine's health."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TextIO

import pyarrow as pa
import pyarrow.compute as pc


class Progress:
    """Prints `done/total, rate, time left` every `interval_s` (plain lines: CI logs are not terminals): when a
    batch of results arrives, and from the driver's timer (`tick`) while none does."""

    def __init__(self, total: int, interval_s: float = 10.0, stream: TextIO | None = None):
        self.total = total
        self.interval_s = interval_s
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.errors = 0
        self._started = self._last = time.monotonic()
        self._lock = threading.Lock()  # the driver's loop and its timer both print

    def update(self, batch: pa.Table) -> None:
        with self._lock:
            self.done += batch.num_rows
            if batch.num_rows:
                self.errors += batch.num_rows - pc.sum(pc.equal(batch["status"], "ok")).as_py()
            now = time.monotonic()
            if now - self._last >= self.interval_s or self.done >= self.total:
                self._print(self.line(now), now)

    def tick(self, note: Callable[[], str] = str) -> None:
        """A line when none was printed for `interval_s` (nothing arrived meanwhile), ending with `note()`."""
        if time.monotonic() - self._last < self.interval_s:
            return
        extra = note()  # outside the lock: the loop's own lines must not wait for it
        with self._lock:
            now = time.monotonic()
            if now - self._last >= self.interval_s:
                self._print(self.line(now) + extra, now)

    def _print(self, line: str, now: float) -> None:
        self._last = now
        self.stream.write(line + "\n")
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
    """The share of this session's requests that failed at the engine, for run.max_engine_error_rate. (Whether the
    engine is down, as failures happen, is the engine watch's: ray_eval/cluster/engine_watch.py.)"""

    def __init__(self) -> None:
        self.failures = 0
        self.requests = 0

    def update(self, batch: pa.Table) -> None:
        for stage, status in zip(batch["error_stage"].to_pylist(), batch["status"].to_pylist(), strict=True):
            if status == "ok":
                self.requests += 1
            elif stage == "inference":
                self.requests += 1
                self.failures += 1

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
