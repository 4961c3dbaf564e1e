"""The retry policy's budget is seconds of engine trouble, on a fake clock: a 60-second window is ridden out without
waiting for it, a Retry-After costs only its seconds, and a failure of the request itself is final at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from ray_eval.engines import (
    EngineBadResponse,
    EngineConnectionError,
    EngineError,
    EngineHTTPError,
    EngineTimeout,
    RetryPolicy,
)


@dataclass
class FakeTime:
    """A clock that moves only when the policy sleeps, or when an attempt takes time."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Outage:
    """An engine that fails with `error()` until `until` on the fake clock, each try taking `takes_s`, then answers."""

    time: FakeTime
    until: float
    error: type[EngineError] | None = None
    make_error: object = None
    takes_s: float = 0.0
    tries: list[float] = field(default_factory=list)

    async def __call__(self, attempt: int) -> str:
        self.tries.append(self.time.now)
        self.time.now += self.takes_s
        if self.time.now < self.until:
            raise self.make_error() if self.make_error else self.error("down")
        return f"answered on try {attempt}"


@dataclass
class Observer:
    events: list[tuple[str, bool]] = field(default_factory=list)

    def answered(self) -> None:
        self.events.append(("answered", False))

    async def failed(self, error: EngineError, final: bool) -> None:
        self.events.append((error.error_type, final))


def policy(time: FakeTime, **kwargs) -> RetryPolicy:
    return RetryPolicy(sleep=time.sleep, clock=time.clock, jitter=lambda: 1.0, **kwargs)


def run(coroutine):
    return asyncio.run(coroutine)


# What each failure is: the engine's (retried within the window, never counted against the model), or the request's.
FAILURES = {
    "refused": (lambda: EngineConnectionError("ConnectError: [Errno 111] Connection refused"), True),
    "503": (lambda: EngineHTTPError("HTTP 503: overloaded", status=503), True),
    "500": (lambda: EngineHTTPError("HTTP 500: boom", status=500), True),
    "429": (lambda: EngineHTTPError("HTTP 429: slow down", status=429), True),
    "timeout": (lambda: EngineTimeout("no answer within 3 s"), True),
    "400": (lambda: EngineHTTPError("HTTP 400: prompt too long", status=400), False),
    "401": (lambda: EngineHTTPError("HTTP 401: bad key", status=401), False),
    "403": (lambda: EngineHTTPError("HTTP 403: forbidden", status=403), False),
    "404": (lambda: EngineHTTPError("HTTP 404: no such model", status=404), False),
    "malformed": (lambda: EngineBadResponse("not a chat completion"), False),
}
ENGINES = [name for name, (_, engines) in FAILURES.items() if engines]
REQUESTS = [name for name, (_, engines) in FAILURES.items() if not engines]


@pytest.mark.parametrize("failure", ENGINES)
def test_an_outage_shorter_than_the_window_is_ridden_out(failure: str) -> None:
    make_error = FAILURES[failure][0]
    time = FakeTime()
    outage = Outage(time, until=time.now + 55, make_error=make_error)
    answer = run(policy(time, retry_window_s=60).run(outage))
    assert answer.startswith("answered") and time.now - outage.tries[0] >= 55
    assert make_error().engine_fault  # and had it lasted, the row would say the engine failed, not the model


def test_an_outage_longer_than_the_window_fails_at_its_end_and_says_how_often_it_tried() -> None:
    time = FakeTime()
    outage = Outage(time, until=time.now + 1000, error=EngineConnectionError)
    observer = Observer()
    with pytest.raises(EngineConnectionError) as info:
        run(policy(time, retry_window_s=60).run(outage, observer))
    assert 59.9 <= outage.tries[-1] - outage.tries[0] <= 60.0  # the last try lands at the window's end, not after it
    assert info.value.attempts == len(outage.tries) and info.value.engine_fault
    assert [final for _, final in observer.events] == [False] * (len(outage.tries) - 1) + [True]


def test_backoff_doubles_from_the_first_and_is_capped() -> None:
    time = FakeTime()
    outage = Outage(time, until=time.now + 1000, error=EngineTimeout)
    with pytest.raises(EngineTimeout):
        run(policy(time, retry_window_s=60, backoff_initial_s=0.5, backoff_max_s=8).run(outage))
    assert time.sleeps[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_jitter_spreads_the_backoff_below_its_ceiling() -> None:
    time = FakeTime()
    draws = iter([0.5, 0.75, 1.0])
    jittery = RetryPolicy(sleep=time.sleep, clock=time.clock, jitter=lambda: next(draws), backoff_initial_s=1.0)
    run(jittery.run(Outage(time, until=time.now + 6, error=EngineConnectionError)))
    assert time.sleeps == [0.5, 1.5, 4.0]


def test_a_retry_after_is_waited_out_without_spending_a_try_and_capped_by_the_window() -> None:
    time = FakeTime()
    slow_down = lambda: EngineHTTPError("HTTP 429: slow down", status=429, retry_after_s=4)  # noqa: E731
    outage = Outage(time, until=time.now + 12, make_error=slow_down)
    # Three tries would not have outlasted 12 s of 429s under the old attempt budget; the window does.
    assert run(policy(time, retry_window_s=60, backoff_max_s=1).run(outage)) == "answered on try 4"
    assert time.sleeps == [4, 4, 4]  # the server's 4 s, though longer than backoff_max_s

    time = FakeTime()
    far_off = lambda: EngineHTTPError("HTTP 503", status=503, retry_after_s=3600)  # noqa: E731
    with pytest.raises(EngineHTTPError):
        run(policy(time, retry_window_s=60).run(Outage(time, until=time.now + 10_000, make_error=far_off)))
    assert time.sleeps == [60]  # the window caps the server's hour: one last try at its end


def test_slow_tries_count_against_the_window() -> None:
    time = FakeTime()
    hanging = Outage(time, until=time.now + 10_000, error=EngineTimeout, takes_s=25)
    with pytest.raises(EngineTimeout) as info:
        run(policy(time, retry_window_s=60, backoff_initial_s=0).run(hanging))
    assert info.value.attempts == 4  # failures at 25, 50, 75 and 100 s: the window starts at the first of them


@pytest.mark.parametrize("failure", REQUESTS)
def test_failures_of_the_request_are_final_at_once_and_not_the_engines(failure: str) -> None:
    time = FakeTime()
    outage = Outage(time, until=time.now + 10_000, make_error=FAILURES[failure][0])
    with pytest.raises(EngineError) as info:
        run(policy(time, retry_window_s=60).run(outage))
    assert len(outage.tries) == 1 and time.sleeps == [] and info.value.attempts == 1
    assert not info.value.engine_fault


def test_max_retries_caps_the_tries_within_the_window_and_a_zero_window_retries_nothing() -> None:
    time = FakeTime()
    outage = Outage(time, until=time.now + 10_000, error=EngineConnectionError)
    with pytest.raises(EngineConnectionError) as info:
        run(policy(time, retry_window_s=60, max_retries=2).run(outage))
    assert info.value.attempts == 3 and time.now - outage.tries[0] < 60

    time = FakeTime()
    outage = Outage(time, until=time.now + 10_000, error=EngineConnectionError)
    with pytest.raises(EngineConnectionError) as info:
        run(policy(time, retry_window_s=0).run(outage))
    assert info.value.attempts == 1


def test_the_observer_hears_every_try_as_it_happens() -> None:
    time = FakeTime()
    observer = Observer()
    run(policy(time).run(Outage(time, until=time.now + 1.2, error=EngineTimeout), observer))
    assert observer.events == [("EngineTimeout", False), ("EngineTimeout", False), ("answered", False)]
