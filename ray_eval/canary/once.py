"""`ray-eval canary --once`: one probe round, judged on its own, and the scripted stand-in to try it against.

The running canary's health (/healthz) says whether rounds keep coming; one round says what it found. The round is
healthy when every probe was answered and its pass ratio is not, with 95% confidence, below `target_pass_ratio`:
the alert rule of ray_eval.canary.window applied to the round's probes. The window's `min_window_probes` is left
out: it keeps the first rounds of a long-running canary from alerting before enough probes are in, while a
one-shot check makes one decision, and the Wilson interval of a few probes is already wide (8/8 or 6/8 passed
stays healthy at a 0.9 target; 5/8 does not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ray_eval.canary.config import CanaryConfig
from ray_eval.canary.runner import Canary, ProbeResult
from ray_eval.canary.window import CONFIDENCE, wilson_interval
from ray_eval.data.dataset import RunScan, scan_dataset
from ray_eval.engines.kinds import engine_kind
from ray_eval.verdict.gate import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_PASSED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoundVerdict:
    """What one round found: its probes, how many the endpoint answered and how many passed."""

    probes: int
    answered: int
    passed: int
    target_pass_ratio: float

    @classmethod
    def of(cls, results: list[ProbeResult], target_pass_ratio: float) -> RoundVerdict:
        return cls(len(results), sum(result.answered for result in results),
                   sum(result.result == "passed" for result in results), target_pass_ratio)

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
        return EXIT_FAILED if self.wilson_upper < self.target_pass_ratio else EXIT_PASSED

    @property
    def healthy(self) -> bool:
        return self.exit_code == EXIT_PASSED

    @property
    def reason(self) -> str | None:
        if self.answered < self.probes:
            return f"{self.probes - self.answered} probe(s) got no answer from the endpoint"
        if not self.healthy:
            return (f"{CONFIDENCE:.0%} sure the pass rate is below the target {self.target_pass_ratio:.0%} "
                    f"(Wilson upper bound {self.wilson_upper:.1%})")
        return None

    def line(self) -> str:
        """The one line a person reads last, e.g. `canary: healthy, 9/9 probes answered, pass rate 88.9%`."""
        head = (f"canary: {'healthy' if self.healthy else 'unhealthy'}, {self.answered}/{self.probes} probes "
                f"answered, pass rate {self.pass_ratio:.1%}")
        return head if self.healthy else f"{head}: {self.reason}"

    def health(self) -> dict[str, Any]:
        """The round's verdict in /healthz's shape, for the state --once prints."""
        body = {"status": "ok" if self.healthy else "unhealthy", "probes": self.probes, "answered": self.answered,
                "passed": self.passed, "pass_ratio": self.pass_ratio, "wilson_upper": self.wilson_upper,
                "target_pass_ratio": self.target_pass_ratio}
        return body if self.healthy else {**body, "reason": self.reason}


def run_one_round(canary: Canary) -> tuple[RoundVerdict, dict[str, Any]]:
    """Send one round, close the client; the verdict and the state with the round's own health (the probe loop,
    whose health /state reports otherwise, never ran)."""
    results = asyncio.run(_one_round(canary))
    verdict = RoundVerdict.of(results, canary.config.target_pass_ratio)
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
    probes = config.probes

    def probe_pool() -> RunScan:
        return RunScan([scan_dataset(probes.path, probes.format, probes.root, format_option="probes.format")])

    with kind.reachable(probe_pool, stand_in_timeout_s=config.request_timeout_s) as stand_in:
        log.info("probing the scripted stand-in model at %s: its answers come from the probes' own references, "
                 "so its scores measure nothing but the canary", engine_kind(stand_in).location())
        yield config.model_copy(update={"engine": stand_in})
