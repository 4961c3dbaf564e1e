"""The canary: every `interval_s`, the next round of probes goes to the production endpoint, each answer is scored by
the evaluation's scorers, and the results feed the metrics, the window and /state.

Anti-flap: a windowed pass ratio with a minimum count plus a 95% Wilson interval (see ray_eval.canary.window): the
canary alerts only when the window holds `min_window_probes` probes and the interval's upper bound is below
`target_pass_ratio`; with several suites, each suite has its own window, and any suite's alert is the canary's.
Engine errors count in the window as probes that did not pass, and in the errors by type.

Secrets: the API key is read from the environment or a secret file, handed to the HTTP client only, and removed
(with the base URL's user:password, whole, in part or encoded: ray_eval.redact) from every answer and error text the
canary keeps, logs or serves.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ray_eval.canary.config import CanaryConfig
from ray_eval.canary.metrics import RESULTS, CanaryMetrics
from ray_eval.canary.probes import Probe, ProbePool, load_probes
from ray_eval.canary.rotation import Rotation
from ray_eval.canary.window import SuiteWindows
from ray_eval.engines import ChatEngine, ChatRequest, EngineError, EngineSpec, build_engine
from ray_eval.pipeline.scoring import ScoringStage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    probe_id: str
    suite: str
    subset: str
    category: str
    result: str  # passed | failed | unparsed | error
    at: float  # Unix time the answer (or the error) came
    latency_s: float | None = None  # of the attempt that answered; None for errors
    score: float | None = None
    extracted: str | None = None
    error_type: str | None = None
    error: str | None = None

    @property
    def answered(self) -> bool:
        """The endpoint answered (a scorer failing on the answer is the canary's error, not production's)."""
        return self.latency_s is not None


class Canary:
    """The probe loop and everything it measured; the HTTP layers (uvicorn or Ray Serve) only read it."""

    def __init__(self, config: CanaryConfig, *, pool: ProbePool | None = None, engine: ChatEngine | None = None,
                 environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time,
                 max_rounds: int | None = None):
        self.config = config
        self._spec = EngineSpec.of(config.engine_for_probes(), dict(os.environ if environ is None else environ),
                                   max_in_flight=config.probes.per_round)  # its repr masks the key
        self._redact = self._spec.redactor
        self._engine = engine
        self.pool = pool if pool is not None else load_probes(config)
        self.rotation = Rotation(len(self.pool.probes), config.probes.per_round, config.probes.seed)
        suites = config.probe_suites()
        self.windows = SuiteWindows([suite.name for suite in suites], config.window, config.min_window_probes,
                                    config.target_pass_ratio)
        self.scoring = {suite.name: ScoringStage(suite.scoring) for suite in suites}  # each suite's own scorers
        self.metrics = CanaryMetrics({(probe.suite, probe.subset, probe.category) for probe in self.pool.probes})
        self.metrics.pool.set(len(self.pool.probes))
        self.clock = clock
        self.max_rounds = max_rounds
        self.started_at = clock()
        self.rounds = 0
        self.last_round: dict[str, Any] | None = None
        self.last_success_at: float | None = None
        self.totals = collections.Counter({result: 0 for result in RESULTS})
        self.errors: collections.Counter[str] = collections.Counter()
        # by (suite, probe id): two suites may hold the same id
        self.recent: collections.OrderedDict[tuple[str, str], dict[str, Any]] = collections.OrderedDict()
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self.loop_error: str | None = None  # why the loop's last round failed as a whole (a bug), if it did

    # ---- the loop ----------------------------------------------------------------------------------------------

    def start(self) -> asyncio.Task:
        """Start the probe loop as a task of the running event loop."""
        self.started_at = self.clock()
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self.run_forever(), name="canary-probe-loop")
        return self._task

    async def stop(self) -> None:
        """Cancel the loop and close the client; a round in flight is abandoned (shutdown must not wait on probes)."""
        if self._stop is not None:
            self._stop.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._engine is not None:
            await self._engine.aclose()
            self._engine = None

    def cancel(self) -> None:
        """Cancel the loop without waiting (from synchronous code: a Serve replica's destructor)."""
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            self._task.cancel()

    @property
    def loop_alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while self._stop is None or not self._stop.is_set():
            began = loop.time()
            try:
                await self.run_round()
                self.loop_error = None
            except Exception as exc:  # noqa: BLE001 - a bug in one round must not end monitoring; /healthz shows it
                self.loop_error = self._redact(f"{type(exc).__name__}: {exc}")
                log.error("canary round failed as a whole:\n%s", self._redact(traceback.format_exc()))
            if self.max_rounds is not None and self.rounds >= self.max_rounds:
                return
            delay = max(0.0, self.config.interval_s - (loop.time() - began))
            if self._stop is None:
                await asyncio.sleep(delay)
                continue
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            except TimeoutError:  # the interval is over
                pass

    async def run_round(self) -> list[ProbeResult]:
        """Send the next `per_round` probes at once, score the answers, record everything."""
        if self._engine is None:
            self._engine = build_engine(self._spec)  # made inside the event loop that will use its connections
        began = time.perf_counter()
        chosen = [self.pool.probes[index] for index in self.rotation.next_round()]
        results = list(await asyncio.gather(*(self._ask(self._engine, probe) for probe in chosen)))
        self._record(results, time.perf_counter() - began)
        return results

    async def _ask(self, engine: ChatEngine, probe: Probe) -> ProbeResult:
        sampling = self.config.sampling
        request = ChatRequest(sample_id=probe.id, suite=probe.suite, messages=probe.messages,
                              max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p,
                              seed=sampling.seed, extra=probe.extra)
        probe_result = functools.partial(ProbeResult, probe_id=probe.id, suite=probe.suite, subset=probe.subset,
                                         category=probe.category)
        try:
            response = await engine.chat(request)
        except EngineError as exc:
            return probe_result(result="error", at=self.clock(), error_type=exc.error_type,
                                error=self._redact(str(exc)))
        except Exception as exc:  # noqa: BLE001 - an engine bug is this probe's error, never the round's end
            return probe_result(result="error", at=self.clock(), error_type=type(exc).__name__,
                                error=self._redact(f"{type(exc).__name__}: {exc}"))
        row = self.scoring[probe.suite].score({**probe.row, "response": self._redact(response.text)})
        if row["status"] != "ok":  # the scorer failed on this answer
            return probe_result(result="error", at=self.clock(), latency_s=response.latency_s,
                                error_type=row["error_type"], error=self._redact(row["error"]))
        result = "passed" if row["passed"] else "unparsed" if row["unparsed"] else "failed"
        return probe_result(result=result, at=self.clock(), latency_s=response.latency_s,
                            score=row["score"], extracted=row.get("extracted"))

    def _record(self, results: list[ProbeResult], duration_s: float) -> None:
        """Everything a round changes, with no await in between: /metrics and /state always agree."""
        metrics = self.metrics
        for item in results:
            metrics.probes.labels(suite=item.suite, subset=item.subset, category=item.category,
                                  result=item.result).inc()
            self.totals[item.result] += 1
            self.windows.add(item.suite, item.result == "passed")
            if item.latency_s is not None:  # it answered (ProbeResult.answered)
                metrics.latency.observe(item.latency_s)
            if item.error_type is not None:
                metrics.errors.labels(type=item.error_type).inc()
                self.errors[item.error_type] += 1
                log.warning("probe %s of suite %s: %s: %s", item.probe_id, item.suite, item.error_type, item.error)
            if item.result == "passed":
                self.last_success_at = max(self.last_success_at or 0.0, item.at)
            self.recent[item.suite, item.probe_id] = asdict(item)
            self.recent.move_to_end((item.suite, item.probe_id))
        while len(self.recent) > self.config.recent_results:
            self.recent.popitem(last=False)
        now = self.clock()
        self.rounds += 1
        counts = collections.Counter(item.result for item in results)
        self.last_round = {"number": self.rounds, "finished_at": now, "duration_s": duration_s,
                           "probes": len(results), "results": {result: counts[result] for result in RESULTS}}
        metrics.rounds.inc()
        metrics.last_round.set(now)
        if self.last_success_at is not None:
            metrics.last_success.set(self.last_success_at)
        for suite, window in self.windows.suites.items():
            metrics.set_window(suite, window.pass_ratio, window.probes, *window.bounds)
        metrics.coverage.set(self.rotation.coverage)
        whole = self.windows.whole
        ratio = whole.pass_ratio
        alerting = self.windows.alerting
        log.info("canary round %d: %s in %.2f s; window %d probe(s), pass ratio %s, Wilson upper %.3f%s", self.rounds,
                 ", ".join(f"{counts[r]} {r}" for r in RESULTS if counts[r]), duration_s, whole.probes,
                 "n/a" if ratio is None else f"{ratio:.3f}", whole.bounds[1],
                 "" if not alerting else " (ALERT: below target)" if len(self.windows.suites) == 1 else
                 f" (ALERT: below target in suite(s) {', '.join(alerting)})")

    # ---- what the endpoints serve ------------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while the loop runs and a round finished within stale_after_intervals intervals (the start stands
        in for the last round until the first one finished)."""
        now = self.clock()
        reference = self.last_round["finished_at"] if self.last_round else self.started_at
        stale_after = self.config.stale_after_intervals * self.config.interval_s
        body = {"rounds": self.rounds, "last_round_at": self.last_round and self.last_round["finished_at"],
                "seconds_since_last_round": now - reference, "stale_after_s": stale_after}
        if not self.loop_alive:
            reason = "the probe loop is not running"
            if self._task is not None and self._task.done() and not self._task.cancelled() and self._task.exception():
                reason += f" (it ended with {type(self._task.exception()).__name__})"
            return False, {"status": "unhealthy", "reason": reason, **body}
        if now - reference > stale_after:
            what = "no probe round finished" if self.last_round else "the first probe round has not finished"
            return False, {"status": "unhealthy", "reason": f"{what} in the last {stale_after:g} s", **body}
        return True, {"status": "ok", **body}

    def state(self) -> dict[str, Any]:
        """What the canary knows, as JSON; never the API key (the engine block is reduced to its kind and model)."""
        healthy, health = self.health()
        return {
            "healthy": healthy,
            "health": health,
            "started_at": self.started_at,
            "interval_s": self.config.interval_s,
            "engine": {"kind": self.config.engine.kind, "model": self.config.engine.model},
            "rounds": self.rounds,
            "last_round": self.last_round,
            "last_success_at": self.last_success_at,
            "loop_error": self.loop_error,
            "window": self.windows.summary(),
            "suites": {suite: {"probes": sum(probe.suite == suite for probe in self.pool.probes),
                               "window": window.summary()} for suite, window in self.windows.suites.items()},
            "totals": dict(self.totals),
            "errors": dict(self.errors),
            "pool": {"probes": len(self.pool.probes), "probed": len(self.rotation.probed),
                     "coverage": self.rotation.coverage, "cycle": self.rotation.cycle,
                     "per_round": self.rotation.per_round, "skipped": self.pool.skipped},
            "recent": list(reversed(self.recent.values())),  # newest first
        }
