"""The canary's Prometheus metrics, in a registry of its own (never the process-global one: a Serve replica or a
test process may hold other registries), under the names of ray_eval.metrics.names.

The probes counter and the window's gauges carry a `suite` label (a one-pool canary's is its pool's name): each
suite has its own window, and the alert rule compares each suite's bounds with its own probe count."""

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

    def __init__(self, groups: Iterable[tuple[str, str, str]] = ()):
        """`groups`: the pool's (suite, subset, category) triples, whose series exist from the start."""
        self.registry = registry = CollectorRegistry()
        self.rounds = Counter(names.CANARY_ROUNDS, "Probe rounds finished.", registry=registry)
        self.probes = Counter(names.CANARY_PROBES, "Probes by suite, subset, L2 category and result.",
                              ["suite", "subset", "category", "result"], registry=registry)
        self.errors = Counter(names.CANARY_ERRORS, "Probes that ended in an error, by error type.", ["type"],
                              registry=registry)
        self.latency = Histogram(names.CANARY_LATENCY, "Latency of answered probes' requests.",
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self.window_pass = Gauge(names.CANARY_WINDOW_PASS, "Pass ratio over the suite's window of probes (NaN while "
                                 "empty).", ["suite"], registry=registry)
        self.window_probes = Gauge(names.CANARY_WINDOW_PROBES, "Probes in the suite's window.", ["suite"],
                                   registry=registry)
        self.window_upper = Gauge(names.CANARY_WINDOW_UPPER, "95% Wilson upper bound of the suite's window pass "
                                  "ratio.", ["suite"], registry=registry)
        self.window_lower = Gauge(names.CANARY_WINDOW_LOWER, "95% Wilson lower bound of the suite's window pass "
                                  "ratio.", ["suite"], registry=registry)
        self.last_success = Gauge(names.CANARY_LAST_SUCCESS, "When a probe last passed (Unix time; 0: never).",
                                  registry=registry)
        self.last_round = Gauge(names.CANARY_LAST_ROUND, "When the last round finished (Unix time; 0: none yet).",
                                registry=registry)
        self.pool = Gauge(names.CANARY_POOL, "Probes in the pool the canary rotates through.", registry=registry)
        self.coverage = Gauge(names.CANARY_COVERAGE, "Share of the pool probed at least once.", registry=registry)
        # Every (suite, subset, category, result) series exists from the start at 0, so that increase() sees the
        # first one; every suite's window series from the start, empty.
        groups = set(groups)
        for suite, subset, category in groups:
            for result in RESULTS:
                self.probes.labels(suite=suite, subset=subset, category=category, result=result)
        for suite in {suite for suite, _, _ in groups}:
            self.set_window(suite, None, 0, 0.0, 1.0)

    def set_window(self, suite: str, ratio: float | None, probes: int, lower: float, upper: float) -> None:
        self.window_pass.labels(suite=suite).set(math.nan if ratio is None else ratio)
        self.window_probes.labels(suite=suite).set(probes)
        self.window_lower.labels(suite=suite).set(lower)
        self.window_upper.labels(suite=suite).set(upper)

    def text(self) -> bytes:
        return generate_latest(self.registry)
