"""The canary's Prometheus metrics, in a registry of its own (never the process-global one: a Serve replica or a
test process may hold other registries), under the names of ray_eval.metrics.names."""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ray_eval.metrics import names

RESULTS = ("passed", "failed", "unparsed", "error")
# A vision-language answer takes from a fraction of a second to a minute; beyond that the request timeout cuts in.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


class CanaryMetrics:
    """Every series the canary exports; `text()` is the body of GET /metrics."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, groups: Iterable[tuple[str, str]] = ()):
        self.registry = registry = CollectorRegistry()
        self.rounds = Counter(names.CANARY_ROUNDS, "Probe rounds finished.", registry=registry)
        self.probes = Counter(names.CANARY_PROBES, "Probes by subset, L2 category and result.",
                              ["subset", "category", "result"], registry=registry)
        self.errors = Counter(names.CANARY_ERRORS, "Probes that ended in an error, by error type.", ["type"],
                              registry=registry)
        self.latency = Histogram(names.CANARY_LATENCY, "Latency of answered probes' requests.",
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self.window_pass = Gauge(names.CANARY_WINDOW_PASS, "Pass ratio over the window's probes (NaN while empty).",
                                 registry=registry)
        self.window_probes = Gauge(names.CANARY_WINDOW_PROBES, "Probes in the window.", registry=registry)
        self.window_upper = Gauge(names.CANARY_WINDOW_UPPER, "95% Wilson upper bound of the window pass ratio.",
                                  registry=registry)
        self.window_lower = Gauge(names.CANARY_WINDOW_LOWER, "95% Wilson lower bound of the window pass ratio.",
                                  registry=registry)
        self.last_success = Gauge(names.CANARY_LAST_SUCCESS, "When a probe last passed (Unix time; 0: never).",
                                  registry=registry)
        self.last_round = Gauge(names.CANARY_LAST_ROUND, "When the last round finished (Unix time; 0: none yet).",
                                registry=registry)
        self.pool = Gauge(names.CANARY_POOL, "Probes in the pool the canary rotates through.", registry=registry)
        self.coverage = Gauge(names.CANARY_COVERAGE, "Share of the pool probed at least once.", registry=registry)
        # Every (subset, category, result) series exists from the start at 0, so that increase() sees the first one.
        for subset, category in set(groups):
            for result in RESULTS:
                self.probes.labels(subset=subset, category=category, result=result)
        self.set_window(None, 0, 0.0, 1.0)

    def set_window(self, ratio: float | None, probes: int, lower: float, upper: float) -> None:
        self.window_pass.set(math.nan if ratio is None else ratio)
        self.window_probes.set(probes)
        self.window_lower.set(lower)
        self.window_upper.set(upper)

    def text(self) -> bytes:
        return generate_latest(self.registry)
