"""The run's engine watch: every inference actor tells it each try's outcome as it happens, and it decides when the
engine is down, so a run whose engine hangs or refuses stops within a try or two of the limit, not when a block of
results finally reaches the driver.

It is one small Ray actor, shared: "N failures in a row" is about the engine, which every actor shares. Counted per
actor, a run of 4 actors would see a quarter of the failures each and stop 4 times later, and an answer one actor
got would not show the others that the engine works. Answers are reported without waiting; failures are awaited,
so the actor whose failure stops the run learns it at once and cuts its batches short (inference.py). The driver
learns it from those batches (rows with status STOPPED), and asks the watch why.

The module imports nothing of ray-eval's: the watch's process loads it to build the actor, and the pipeline's
packages (Ray Data, httpx, pydantic) cost a second of CPU there while the run starts (measured, 2 cores).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ray

if TYPE_CHECKING:
    from ray_eval.engines.base import EngineError


@dataclass(frozen=True)
class EngineState:
    """What the watch knows now, for the progress lines and the run's incomplete reason."""

    tries_failed_in_a_row: int  # over every actor, no answer between
    failing_for_s: float  # since the first of them
    last_error: str | None
    stop_reason: str | None  # set once the run must stop

    def describe(self) -> str:
        """A progress line's note on the engine: empty while it answers."""
        if not self.tries_failed_in_a_row:
            return ""
        return (f"; engine: {self.tries_failed_in_a_row} tries in a row failed over {self.failing_for_s:.0f} s "
                f"(last: {self.last_error})")


class FailureStreak:
    """The decision, without Ray: stop when `limit` requests in a row failed for good (every request is refused,
    say), or when `limit` tries in a row failed over more than `window_s` (the retry window: the requests still
    retrying would fail too, so waiting on them only delays the stop). Any answer ends the streak."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.tries = 0  # failed in a row
        self.given_up = 0  # requests failed for good in a row
        self.since: float | None = None
        self.last_error: str | None = None
        self.stop_reason: str | None = None

    def answered(self) -> None:
        self.tries, self.given_up, self.since = 0, 0, None

    def failed(self, error: str, final: bool) -> bool:
        """Count a failed try (`final`: its request gave up); True once the run must stop."""
        now = self.clock()
        self.since = now if self.since is None else self.since
        self.tries += 1
        if final:
            self.given_up += 1
        self.last_error = error
        if self.stop_reason is None:
            if self.given_up >= self.limit:
                self.stop_reason = (f"{self.given_up} requests in a row failed at the engine (last: {error}); "
                                    "stopping the run")
            elif self.tries >= self.limit and now - self.since >= self.window_s:
                self.stop_reason = (f"{self.tries} tries in a row failed at the engine over {now - self.since:.0f} s, "
                                    f"longer than the retry window of {self.window_s:g} s (last: {error}); "
                                    "stopping the run")
        return self.stop_reason is not None

    def state(self) -> EngineState:
        failing_for = self.clock() - self.since if self.since is not None else 0.0
        return EngineState(self.tries, failing_for, self.last_error, self.stop_reason)


def start_watch(limit: int, window_s: float) -> Any:
    """The shared watch actor (no CPU of its own: it holds a few counters). Kill it when the run's pipeline is done."""
    # max_concurrency 1: reports are counted one at a time, in the order each actor sent them. Ray's stubs type
    # remote()'s options as a task's only; max_concurrency is an actor's, which Ray accepts on a class.
    return ray.remote(num_cpus=0, max_concurrency=1)(FailureStreak).remote(  # type: ignore[call-overload]
        limit, window_s)


class WatchReporter:
    """An inference actor's side of the watch (an AttemptObserver): reports each try; `stopped` is set once the
    watch says the run stops."""

    def __init__(self, watch: Any):
        self.watch = watch
        self.stopped = asyncio.Event()

    def answered(self) -> None:
        self.watch.answered.remote()

    async def failed(self, error: EngineError, final: bool) -> None:
        if await self.watch.failed.remote(str(error), final):
            self.stopped.set()
