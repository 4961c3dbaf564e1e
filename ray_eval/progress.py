"""What the driver watches while results stream in: progress lines, and the engine's health."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
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
