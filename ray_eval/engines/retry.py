"""One retry policy for every engine. Its budget is time: a request that fails for a reason of the engine's
(a refused or dropped connection, a timeout, 429, 408, 5xx) is asked again, with exponential backoff and jitter,
until `retry_window_s` seconds have passed since its first failure, so a short outage or a burst of 429s is ridden
out instead of ending as error rows. A server's Retry-After is waited out (within the window) without counting as a
spent try; `max_retries`, when set, also caps the tries. Other failures (400, 401/403, 404, a malformed reply) are
final at once. The last error is re-raised carrying the number of attempts.

The sleep, the clock and the jitter are parameters so tests run a 60-second window without waiting for it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from ray_eval.engines.base import EngineError

if TYPE_CHECKING:
    from ray_eval.engine_config import RequestPolicy

T = TypeVar("T")


class AttemptObserver(Protocol):
    """Told of every attempt's outcome as it happens (the run's engine watch, which stops a run whose engine is down).
    `failed` is awaited before the next try; `final` says the request gave up."""

    def answered(self) -> None: ...

    async def failed(self, error: EngineError, final: bool) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    retry_window_s: float = 60.0
    max_retries: int | None = None  # None: as many as the window allows
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    jitter: Callable[[], float] = field(default=lambda: random.uniform(0.5, 1.0), repr=False)

    @classmethod
    def of(cls, config: RequestPolicy) -> RetryPolicy:
        return cls(config.retry_window_s, config.max_retries, config.backoff_initial_s, config.backoff_max_s)

    def wait_before(self, retry: int, error: EngineError, window_left_s: float) -> float:
        """Seconds to wait before retry number `retry` (1, 2, ...): the server's Retry-After, else exponential
        backoff with jitter (retries of many actors must not arrive together); never past the window's end."""
        retry_after = getattr(error, "retry_after_s", None)
        if retry_after is not None:
            return min(retry_after, window_left_s)
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (retry - 1))
        return min(ceiling * self.jitter(), window_left_s)

    async def run(self, attempt: Callable[[int], Awaitable[T]], observer: AttemptObserver | None = None) -> T:
        """Call `attempt(n)` for n = 1, 2, ... until it succeeds, fails for good, or the window or retries run out."""
        attempts = 0
        first_failure: float | None = None
        while True:
            attempts += 1
            try:
                result = await attempt(attempts)
            except EngineError as exc:
                exc.attempts = attempts
                now = self.clock()
                first_failure = now if first_failure is None else first_failure
                window_left = self.retry_window_s - (now - first_failure)
                final = (not exc.retryable or window_left <= 0
                         or (self.max_retries is not None and attempts > self.max_retries))
                if observer is not None:
                    await observer.failed(exc, final)
                if final:
                    raise
                await self.sleep(self.wait_before(attempts, exc, window_left))
                continue
            if observer is not None:
                observer.answered()
            return result
