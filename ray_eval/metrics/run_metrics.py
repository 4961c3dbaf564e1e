"""A run's Prometheus metrics: counted while results stream in (pushed every `push_interval_s`), completed from the
summary and verdict at the end, and pushed to a Pushgateway and/or written as a node_exporter textfile.

Every series of one suite's results (its scores, pass rates and intervals, sample counts, errors, unparsed answers,
visual diagnostics, the change against the baseline) carries a `suite` label, a one-suite run's too (its suite's
name), so a query can always group by suite; the run's own series (the verdict and its checks, progress, duration,
latency and tokens) carry none.

Pushes use POST (prometheus_client's pushadd): it replaces the metric families it carries and keeps the others, so
`rayeval_last_success_timestamp_seconds` of an earlier passing run survives a failing one. Every other family is
pushed on each push, so nothing of an older run lingers. Before its first push the run reads the score the same
target holds (the previous run's) and exports it as `rayeval_previous_score_ratio`, for the score-drop alert.

A failed push never changes the gate's verdict: it is logged and recorded in summary.json's `metrics` section.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, pushadd_to_gateway, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from ray_eval.config import MetricsConfig
from ray_eval.metrics import names
from ray_eval.verdict.summary_model import MetricsExport, Summary, Verdict

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
GATE_STATUSES = ("passed", "failed", "undecided", "incomplete")


class _RunRegistry(CollectorRegistry):
    """A registry without the `*_created` series prometheus_client adds to counters and histograms: a run's counters
    start with the run, and per-push creation times would only churn the Pushgateway's groups."""

    def collect(self):
        for family in super().collect():
            family.samples = [sample for sample in family.samples if not sample.name.endswith("_created")]
            yield family


def run_labels(config: Any) -> dict[str, str]:
    """The grouping key of a run's metrics besides the job: model, dataset, environment (`config` an EvalConfig).
    `dataset` is metrics.dataset_label, else the one dataset's file stem (as before suites), else the suites' names
    joined by "+" (shopbench+guard-ocr)."""
    metrics = config.metrics
    evaluated = (Path(config.dataset.path).stem if config.dataset is not None
                 else "+".join(suite.name for suite in config.suites))
    return {"model": config.run.model_label or config.engine.model,
            "dataset": metrics.dataset_label or evaluated,
            "environment": metrics.environment}


class RunMetrics:
    """The metrics of one run. `labels` are the grouping key (model, dataset, environment; the job is separate)."""

    def __init__(self, config: MetricsConfig, labels: dict[str, str]):
        self.config = config
        self.labels = dict(labels)
        self.registry = _RunRegistry()
        # A textfile has no grouping key: its series carry model, dataset and environment themselves.
        self.base = dict(labels) if config.textfile is not None and config.pushgateway_url is None else {}
        self._last_push = time.monotonic()
        self.errors: list[str] = []
        self.pushes = 0
        self.previous = self._previous_scores()
        self.in_progress = self._gauge(names.RUN_IN_PROGRESS, "1 while the run streams results, 0 once it ended")
        self.progress_ratio = self._gauge(names.RUN_PROGRESS, "Result rows written / dataset rows")
        self.samples = self._counter(names.SAMPLES, "Result rows by suite and status", ["suite", "status"])
        self.error_rows = self._counter(names.ERRORS, "Result rows that failed, by suite, stage and type",
                                        ["suite", "stage", "type"])
        self.unparsed = self._counter(names.UNPARSED, "Answers no scorer could read, by suite and format",
                                      ["suite", "format"])
        self.tokens = self._counter(names.TOKENS, "Tokens of answered requests", ["kind"])
        self.latency = self._histogram(names.LATENCY, "Latency of answered inference requests", LATENCY_BUCKETS)

    @property
    def enabled(self) -> bool:
        return self.config.pushgateway_url is not None or self.config.textfile is not None

    # ---- while the run goes ----------------------------------------------------------------------------------------

    def observe(self, batch: pa.Table, done: int, total: int) -> None:
        """Count a batch of result rows (standard rows only; the blind pass is not the model's score). Each row
        carries its suite (records.SAMPLE_COLUMNS)."""
        rows = batch.select(["suite", "status", "error_stage", "error_type", "unparsed", "format", "latency_s",
                             "prompt_tokens", "completion_tokens"]).to_pylist()
        for row in rows:
            ok, suite = row["status"] == "ok", row["suite"]
            self._at(self.samples, suite=suite, status="ok" if ok else "error").inc()
            if not ok:
                self._at(self.error_rows, suite=suite, stage=row["error_stage"] or "unknown",
                         type=row["error_type"] or "unknown").inc()
            if ok and row["unparsed"]:
                self._at(self.unparsed, suite=suite, format=row["format"] or "unknown").inc()
            if row["latency_s"] is not None and row["error_stage"] not in ("read", "preprocess", "inference"):
                self._at(self.latency).observe(row["latency_s"])
            self._at(self.tokens, kind="prompt").inc(row["prompt_tokens"] or 0)
            self._at(self.tokens, kind="completion").inc(row["completion_tokens"] or 0)
        self._at(self.in_progress).set(1)
        self._at(self.progress_ratio).set(done / total if total else 1.0)
        interval = self.config.push_interval_s
        if interval and time.monotonic() - self._last_push >= interval:
            self.push()

    # ---- at the end ------------------------------------------------------------------------------------------------

    def finish(self, summary: Summary) -> MetricsExport:
        """Set the run's result metrics, push them; what summary.json records about the export."""
        decision, counts = summary.verdict, summary.counts
        self._at(self.in_progress).set(0)
        self._at(self.progress_ratio).set(1.0 if decision.status != "incomplete" else
                                                    counts.results / max(1, counts.samples))
        info = self._gauge(names.RUN_INFO, "The run's identity (value 1)",
                           ["run_id", "model_label", "config_fingerprint", "dataset_fingerprint"])
        # A summary of an older run may lack a label or fingerprint: its label value is then "None", as it always was.
        self._at(info, run_id=summary.run_id, model_label=str(summary.model.label),
                 config_fingerprint=str(summary.config_fingerprint),
                 dataset_fingerprint=str(summary.dataset_fingerprint)).set(1)
        self._at(self._gauge(names.RUN_DURATION, "Wall time of the run")).set(summary.duration_s)
        now = time.time()
        self._at(self._gauge(names.RUN_TIMESTAMP, "When the run ended (Unix time)")).set(now)
        self._scores(summary)
        self._gate(decision)
        if decision.status == "passed":
            self._at(self._gauge(names.LAST_SUCCESS, "When a run last passed its gate")).set(now)
        self._extras(summary)
        self.push()
        return MetricsExport(pushgateway_url=self.config.pushgateway_url,
                             textfile=str(self.config.textfile) if self.config.textfile else None,
                             grouping_key={"job": self.config.job, **self.labels}, pushes=self.pushes,
                             errors=list(self.errors))

    def _scores(self, summary: Summary) -> None:
        key_labels = ["suite", "dimension", "group"]
        gauges = {
            "score": self._gauge(names.SCORE, "Sample-weighted accuracy (0-1)", key_labels),
            "lower": self._gauge(names.SCORE_CI_LOWER, "Lower end of the score's bootstrap interval", key_labels),
            "upper": self._gauge(names.SCORE_CI_UPPER, "Upper end of the score's bootstrap interval", key_labels),
            "pass": self._gauge(names.PASS, "Sample-weighted pass rate (0-1)", key_labels),
            "n": self._gauge(names.GROUP_SAMPLES, "Samples in the group", key_labels),
        }
        previous = self._gauge(names.PREVIOUS_SCORE, "The group's score in the previous run pushed to this target",
                               key_labels)
        for suite in summary.suites:
            for dimension, group, values in suite.scores.groups():
                key = {"suite": suite.name, "dimension": dimension, "group": group}
                self._at(gauges["n"], **key).set(values.n)
                if values.score is None:
                    continue
                self._at(gauges["score"], **key).set(values.score / 100.0)
                self._at(gauges["pass"], **key).set(values.pass_rate)
                if values.score_ci:
                    self._at(gauges["lower"], **key).set(values.score_ci[0] / 100.0)
                    self._at(gauges["upper"], **key).set(values.score_ci[1] / 100.0)
                if (suite.name, dimension, group) in self.previous:
                    self._at(previous, **key).set(self.previous[(suite.name, dimension, group)])

    def _gate(self, decision: Verdict) -> None:
        self._at(self._gauge(names.GATE_PASSED, "1 when the gate passed")).set(int(decision.passed))
        status = self._gauge(names.GATE_STATUS, "The verdict (1 for the run's status)", ["status"])
        for name in GATE_STATUSES:
            self._at(status, status=name).set(int(decision.status == name))
        checks = self._gauge(names.GATE_CHECK_PASSED, "1 when the gate check passed", ["check"])
        for check in decision.checks or []:
            self._at(checks, check=check.name).set(int(check.passed))

    def _extras(self, summary: Summary) -> None:
        """The blind pass's diagnostics and the change against the baseline, of the suites that have them (a family
        is registered only when a suite has it)."""
        diagnosed = [(suite.name, suite.diagnostics) for suite in summary.suites if suite.diagnostics is not None]
        if diagnosed:
            gauge = self._gauge(names.VISUAL_DIAGNOSTIC, "MG, VNR and VIF of the blind pass",
                                ["suite", "diagnostic", "subset"])
            for name, diagnostics in diagnosed:
                for subset, values in [("overall", diagnostics.overall), *diagnostics.by_subset.items()]:
                    for key, value in (("MG", values.MG), ("VNR", values.VNR), ("VIF", values.VIF)):
                        if value is not None:
                            self._at(gauge, suite=name, diagnostic=key, subset=subset).set(value)
        compared = [(suite.name, suite.comparison.overall.delta) for suite in summary.suites
                    if suite.comparison and suite.comparison.overall and suite.comparison.overall.delta is not None]
        if compared:
            gauge = self._gauge(names.BASELINE_DELTA, "Score difference to the baseline run (0-1)", ["suite"])
            for name, delta in compared:
                self._at(gauge, suite=name).set(delta / 100.0)

    # ---- export ----------------------------------------------------------------------------------------------------

    def push(self) -> None:
        """Push to the gateway and/or write the textfile; failures are logged and kept, never raised."""
        self._last_push = time.monotonic()
        if self.config.pushgateway_url is not None:
            try:
                pushadd_to_gateway(self.config.pushgateway_url, job=self.config.job, registry=self.registry,
                                   grouping_key=self.labels, timeout=self.config.timeout_s)
                self.pushes += 1
            except OSError as exc:  # URLError and HTTPError are OSErrors
                self._failed(f"push to {self.config.pushgateway_url} failed: {exc}")
        if self.config.textfile is not None:
            try:
                Path(self.config.textfile).parent.mkdir(parents=True, exist_ok=True)
                write_to_textfile(str(self.config.textfile), self.registry)
            except OSError as exc:
                self._failed(f"writing {self.config.textfile} failed: {exc}")

    def _failed(self, message: str) -> None:
        if message not in self.errors:
            log.warning("metrics: %s", message)
            self.errors.append(message)

    def _previous_scores(self) -> dict[tuple[str, str, str], float]:
        """The scores the export target holds for this group now, by (suite, dimension, group): the previous run's.
        A score pushed before series had a suite label is no suite's: the first run after it has no previous score."""
        try:
            if self.config.pushgateway_url is not None:
                response = httpx.get(self.config.pushgateway_url.rstrip("/") + "/metrics",
                                     timeout=self.config.timeout_s)
                response.raise_for_status()
                text, wanted = response.text, {"job": self.config.job, **self.labels}
            elif self.config.textfile is not None and Path(self.config.textfile).is_file():
                text, wanted = Path(self.config.textfile).read_text(encoding="utf-8"), dict(self.base)
            else:
                return {}
        except (httpx.HTTPError, OSError) as exc:
            target = self.config.pushgateway_url or self.config.textfile
            self._failed(f"reading the previous run's scores from {target} failed: {exc}")
            return {}
        return {
            (sample.labels["suite"], sample.labels["dimension"], sample.labels["group"]): sample.value
            for family in text_string_to_metric_families(text) if family.name == names.SCORE
            for sample in family.samples
            if "suite" in sample.labels and all(sample.labels.get(key) == value for key, value in wanted.items())
        }

    def _at(self, metric: Any, **labels: str) -> Any:
        """The metric's child for these labels plus the base ones (the metric itself when it has no labels)."""
        labels = {**self.base, **labels}
        return metric.labels(**labels) if labels else metric

    def _labelled(self, kind, name: str, documentation: str, labels: list[str], **kwargs) -> Any:
        return kind(name, documentation, [*self.base, *labels], registry=self.registry, **kwargs)

    def _gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return self._labelled(Gauge, name, documentation, list(labels))

    def _counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        # prometheus_client adds `_total` to a counter's samples: register it under the name without it.
        return self._labelled(Counter, name.removesuffix("_total"), documentation, list(labels))

    def _histogram(self, name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
        return self._labelled(Histogram, name, documentation, [], buckets=buckets)
