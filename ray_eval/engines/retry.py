"""One retry policy for every engine: retryable EngineErrors are retried with exponential backoff and jitter;
a server's Retry-After is honoured, capped; the last error is re-raised carrying the number of attempts."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ray_eval.engines.base import EngineError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0

    def backoff(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after is not None:
            return min(retry_after, self.backoff_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (state.attempt_number - 1))
        return ceiling * random.uniform(0.5, 1.0)  # jitter: retries of many actors must not arrive together

    async def run(self, attempt: Callable[[int], Awaitable[T]]) -> T:
        """Call `attempt(n)` for n = 1, 2, ... until it succeeds, fails for good, or retries run out."""
        attempts = 0
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, EngineError) and exc.retryable),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self.backoff,
            reraise=True,
        )
        try:
            async for state in retrying:
                with state:
                    attempts += 1
                    return await attempt(attempts)
        except EngineError as exc:
            exc.attempts = attempts
            raise
        raise AssertionError("unreachable: tenacity either returns or re-raises")
