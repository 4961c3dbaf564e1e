"""`ray-eval canary --once`: one probe round, judged on its own, and the scripted stand-in to try it against.

The running canary's health (/healthz) says whether rounds keep coming; one round says what it found. The round is
healthy when every probe was answered and its pass ratio is not, with 95% confidence, below `target_pass_ratio`:
the alert rule of ray_eval.canary.window applied to the round's probes. The window's `min_window_probes` is left
out: it keeps the first rounds of a long-running canary from alerting before enough probes are in, while a
one-shot check makes one decision, and the Wilson interval of a few probes is already wide (8/8 or 6/8 passed
stays healthy at a 0.9 target; 5/8 does not). With several suites the rule applies to each suite's probes of the
round, and the round is unhealthy when any suite's pass ratio is surely below the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ray_eval.canary.config import CanaryConfig
from ray_eval.canary.probes import scan_suite
from ray_eval.canary.runner import Canary, ProbeResult
from ray_eval.canary.window import CONFIDENCE, wilson_interval
from ray_eval.data.dataset import RunScan
from ray_eval.engines.kinds import engine_kind
from ray_eval.verdict.gate import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_PASSED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuiteRound:
    """One suite's probes of a round, how many passed, and the target."""

    suite: str
    probes: int
    passed: int
    target_pass_ratio: float

    @property
    def pass_ratio(self) -> float:
        return self.passed / self.probes

    @property
    def wilson_upper(self) -> float:
        return wilson_interval(self.passed, self.probes)[1]

    @property
    def surely_below_target(self) -> bool:
        return self.wilson_upper < self.target_pass_ratio

    def why(self) -> str:
        return (f"{CONFIDENCE:.0%} sure the pass rate is below the target {self.target_pass_ratio:.0%} "
                f"(Wilson upper bound {self.wilson_upper:.1%})")


@dataclass(frozen=True)
class RoundVerdict:
    """What one round found: its probes, how many the endpoint answered and how many passed; with several suites,
    each suite's part (`suites`), which the pass-rate rule then applies to."""

    probes: int
    answered: int
    passed: int
    target_pass_ratio: float
    suites: tuple[SuiteRound, ...] = ()

    @classmethod
    def of(cls, results: list[ProbeResult], target_pass_ratio: float, suites: Sequence[str] = ()) -> RoundVerdict:
        """`suites`: the canary's; with one suite the round is judged as a whole, as before suites."""
        several = suites if len(suites) > 1 else ()
        parts = tuple(SuiteRound(suite, sum(r.suite == suite for r in results),
                                 sum(r.suite == suite and r.result == "passed" for r in results), target_pass_ratio)
                      for suite in several if any(r.suite == suite for r in results))
        return cls(len(results), sum(result.answered for result in results),
                   sum(result.result == "passed" for result in results), target_pass_ratio, parts)

    @property
    def below_target(self) -> list[SuiteRound]:
        """The suites (or the whole round, of a one-pool canary) whose pass ratio is surely below their target."""
        parts = self.suites or (SuiteRound("", self.probes, self.passed, self.target_pass_ratio),)
        return [part for part in parts if part.surely_below_target]

    @property
    def pass_ratio(self) -> float:
        return self.passed / self.probes  # a round holds at least one probe (per_round >= 1, the pool is never empty)

    @property
    def wilson_upper(self) -> float:
        return wilson_interval(self.passed, self.probes)[1]

    @property
    def exit_code(self) -> int:
        """3: the endpoint left probes unanswered (it could not be checked); 1: it answered, not well enough."""
        if self.answered < self.probes:
            return EXIT_INCOMPLETE
        return EXIT_FAILED if self.below_target else EXIT_PASSED

    @property
    def healthy(self) -> bool:
        return self.exit_code == EXIT_PASSED

    @property
    def reason(self) -> str | None:
        if self.answered < self.probes:
            return f"{self.probes - self.answered} probe(s) got no answer from the endpoint"
        if not self.healthy:
            if not self.suites:
                return self.below_target[0].why()
            return "; ".join(f"suite {part.suite}: {part.passed}/{part.probes} passed, {part.why()}"
                             for part in self.below_target)
        return None

    def line(self) -> str:
        """The one line a person reads last, e.g. `canary: healthy, 9/9 probes answered, pass rate 88.9%`."""
        head = (f"canary: {'healthy' if self.healthy else 'unhealthy'}, {self.answered}/{self.probes} probes "
                f"answered, pass rate {self.pass_ratio:.1%}")
        return head if self.healthy else f"{head}: {self.reason}"

    def health(self) -> dict[str, Any]:
        """The round's verdict in /healthz's shape, for the state --once prints."""
        body: dict[str, Any] = {
            "status": "ok" if self.healthy else "unhealthy", "probes": self.probes, "answered": self.answered,
            "passed": self.passed, "pass_ratio": self.pass_ratio, "wilson_upper": self.wilson_upper,
            "target_pass_ratio": self.target_pass_ratio}
        if self.suites:
            body["suites"] = {part.suite: {"probes": part.probes, "passed": part.passed, "pass_ratio": part.pass_ratio,
                                           "wilson_upper": part.wilson_upper, "below_target": part.surely_below_target}
                              for part in self.suites}
        return body if self.healthy else {**body, "reason": self.reason}


def run_one_round(canary: Canary) -> tuple[RoundVerdict, dict[str, Any]]:
    """Send one round, close the client; the verdict and the state with the round's own health (the probe loop,
    whose health /state reports otherwise, never ran)."""
    results = asyncio.run(_one_round(canary))
    config = canary.config
    verdict = RoundVerdict.of(results, config.target_pass_ratio, [suite.name for suite in config.probe_suites()])
    return verdict, {**canary.state(), "healthy": verdict.healthy, "health": verdict.health()}


async def _one_round(canary: Canary) -> list[ProbeResult]:
    try:
        return await canary.run_round()
    finally:
        await canary.stop()


@contextlib.contextmanager
def reachable_engine(config: CanaryConfig) -> Iterator[CanaryConfig]:
    """The config the canary probes with. `engine.kind: scripted` starts the evaluation's scripted stand-in (an
    OpenAI-compatible server on 127.0.0.1 answering from the probes' own reference answers) for as long as the
    canary runs, and points the engine at it: the canary can be tried with no model. Other engines are as given."""
    kind = engine_kind(config.engine)
    if kind.endpoint is not None:
        yield config
        return

    def probe_pool() -> RunScan:
        # The stand-in answers by (suite, sample id): each suite's scan under its name, as the probes ask.
        suites = config.probe_suites()
        return RunScan([scan_suite(suite, several=len(suites) > 1) for suite in suites])

    with kind.reachable(probe_pool, stand_in_timeout_s=config.request_timeout_s) as stand_in:
        log.info("probing the scripted stand-in model at %s: its answers come from the probes' own references, "
                 "so its scores measure nothing but the canary", engine_kind(stand_in).location())
        yield config.model_copy(update={"engine": stand_in})
