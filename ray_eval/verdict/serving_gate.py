"""The gate's serving checks (`gate.serving`): bounds on summary.json's `serving` numbers, absolute or relative to a
baseline run's.

A number with an interval (latency p50 and p95, completion tokens per answer) is decided like the baseline check of
the scores: its bound passes when the interval lies wholly on the allowed side, fails when it lies wholly on the other
side, and is undecided when it straddles the bound. Answers per second has no interval (one busy window, one value)
and the engine error rate is a count of what happened: both are decided on the value.

A relative bound compares this run's interval with ratio x the baseline's point value. The baseline's own uncertainty
is left out on purpose: the bound is a budget set from a reference measurement (as an absolute bound is a budget set
by hand), and the baseline's summary.json is all it needs, which is what `ray-eval ci pack` keeps of a run. It is
decided only when both runs were measured under the same serving setup (ServingSetup, the model aside): latency and
throughput under another load or engine say nothing about the model. Otherwise, and when the baseline recorded no
setup, the check is undecided (never a pass), its note naming what differs.

Latency is the run's own: measured under the requests the run kept in flight, which every check's note names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from ray_eval.config import EvalConfig, StatisticsConfig
from ray_eval.errors import UsageError
from ray_eval.pipeline.sizing import InferenceSizing
from ray_eval.runs.store import RunStore
from ray_eval.serving_gate_config import ServingGateConfig
from ray_eval.verdict.gate import Check
from ray_eval.verdict.serving import latency_intervals
from ray_eval.verdict.summary_model import Serving, ServingSetup

GROUP = "serving"
# The setup's fields a relative bound needs equal, with how a note names them; the model is what is compared.
SAME_SETUP = {"engine_kind": "engine kind", "serve_config_sha256": "Serve config file (sha256)",
              "engine_capacity": "engine capacity", "requests_in_flight": "requests in flight",
              "max_tokens": "sampling max_tokens"}


@dataclass(frozen=True)
class Quantity:
    """One serving number a bound can name, and how it is shown."""

    label: str  # "latency p95", as in the check's name
    metric: str  # the Serving field holding its value
    unit: str  # appended to a value in notes
    interval_field: str | None  # the Serving field holding its interval; None: decided on the value
    per: str  # what it is measured over, for notes
    on_value: str | None = None  # why it is decided on the value (it has no interval)

    def value(self, serving: Serving) -> float | None:
        return getattr(serving, self.metric)

    def interval(self, serving: Serving) -> list[float | None] | None:
        return None if self.interval_field is None else getattr(serving, self.interval_field)

    def shown(self, value: float | None) -> str:
        if value is None:
            return "–"
        return f"{value:.1%}" if self.unit == "%" else f"{value:.3g}{self.unit}"


ANSWERS_PER_S = Quantity("answers per second", "answers_per_s", " answers/s", None, "answers",
                         "one busy window: no interval, decided on the value")
LATENCY_P50 = Quantity("latency p50", "latency_p50_s", " s", "latency_p50_s_ci", "answered requests")
LATENCY_P95 = Quantity("latency p95", "latency_p95_s", " s", "latency_p95_s_ci", "answered requests")
TOKENS = Quantity("completion tokens per answer", "completion_tokens_per_answer", " tokens",
                  "completion_tokens_per_answer_ci", "answers")
ENGINE_ERROR_RATE = Quantity("engine error rate", "engine_error_rate", "%", None, "requests sent",
                             "a count of what happened: decided on the value")

def _ratio(value: float | None) -> str:
    return "–" if value is None else f"×{value:.2f}"


# How a serving check's value and threshold are shown in summary.md and report.html, by its metric.
SERVING_CHECK_FORMATS: dict[str, Callable[[float | None], str]] = {
    **{quantity.metric: quantity.shown for quantity in (ANSWERS_PER_S, LATENCY_P50, LATENCY_P95, TOKENS)},
    **{f"{quantity.metric}_ratio": _ratio for quantity in (ANSWERS_PER_S, LATENCY_P95, TOKENS)},
}


@dataclass(frozen=True)
class ServingBaseline:
    """The baseline run of the relative serving bounds, as its summary.json holds it."""

    run_id: str
    serving: Serving | None  # None: its summary was written before serving was recorded
    complete: bool


@dataclass(frozen=True)
class ServingGateInput:
    """What the serving checks need besides the results: this run's setup and the baseline run's numbers."""

    setup: ServingSetup | None = None  # None: unknown (a rescored run whose summary recorded none)
    baseline: ServingBaseline | None = None


def load_serving_baseline(gate: ServingGateConfig | None) -> ServingBaseline | None:
    """The baseline of gate.serving.baseline, read before anything runs; refused in one line (exit 2) when its run
    directory holds no summary.json."""
    if gate is None or gate.baseline is None:
        return None
    store = RunStore(gate.baseline.run_dir)
    summary = store.read_summary()
    if summary is None:
        raise UsageError(f"gate.serving.baseline.run_dir {gate.baseline.run_dir}: no summary.json there: not a "
                         "finished run directory")
    return ServingBaseline(summary.run_id, summary.serving, summary.status == "complete")


def serving_setup(config: EvalConfig, sizing: InferenceSizing) -> ServingSetup:
    """What this run's serving numbers are measured under (the session that concludes the run: a resumed run's
    earlier sessions may have run at another size)."""
    serve_file = config.serve.config
    return ServingSetup(
        engine_kind=config.engine.kind,
        model=config.engine.model,
        serve_config_sha256=hashlib.sha256(serve_file.read_bytes()).hexdigest() if serve_file is not None else None,
        engine_capacity=sizing.capacity,
        requests_in_flight=sizing.actors * sizing.max_in_flight_per_actor,
        max_tokens=config.inference.sampling.max_tokens,
    )


def gated_serving(serving: Serving, results: pd.DataFrame, gate: ServingGateConfig | None,
                  statistics: StatisticsConfig, setup: ServingSetup | None) -> Serving:
    """The serving section with the setup it was measured under (which a later run's relative bounds compare with),
    and, when gate.serving is configured, the latency intervals its checks need (a bootstrap over every request:
    not paid for by runs that do not check latency)."""
    serving = serving.model_copy(update={"setup": setup})
    if gate is None:
        return serving
    intervals = latency_intervals(results, statistics)
    p50, p95 = intervals if intervals is not None else (None, None)
    return serving.model_copy(update={"latency_p50_s_ci": p50, "latency_p95_s_ci": p95})


def serving_checks(serving: Serving | None, gate: ServingGateConfig | None,
                   baseline: ServingBaseline | None) -> list[Check]:
    """Every configured serving bound as a gate check (group "serving")."""
    if gate is None:
        return []
    absolute = [(ANSWERS_PER_S, ">=", gate.min_answers_per_s), (LATENCY_P50, "<=", gate.max_latency_p50_s),
                (LATENCY_P95, "<=", gate.max_latency_p95_s), (TOKENS, "<=", gate.max_completion_tokens_per_answer),
                (ENGINE_ERROR_RATE, "<=", gate.max_engine_error_rate)]
    checks = [_absolute_check(quantity, comparison, bound, serving)
              for quantity, comparison, bound in absolute if bound is not None]
    if gate.baseline is not None:
        assert baseline is not None, "the serving baseline is read for a gate.serving.baseline block"
        relative = [(LATENCY_P95, "<=", gate.baseline.max_latency_p95_ratio),
                    (TOKENS, "<=", gate.baseline.max_completion_tokens_ratio),
                    (ANSWERS_PER_S, ">=", gate.baseline.min_answers_per_s_ratio)]
        checks += [_relative_check(quantity, comparison, ratio, serving, baseline)
                   for quantity, comparison, ratio in relative if ratio is not None]
    return checks


def _absolute_check(quantity: Quantity, comparison: str, bound: float, serving: Serving | None) -> Check:
    name = f"serving {quantity.label}"
    if serving is None:
        return _undecided(name, quantity.metric, bound, comparison, 0, "this run's summary has no serving section "
                          "(written by an older ray-eval): rescore the run to record it")
    value = quantity.value(serving)
    outcome, evidence = _decide(quantity, comparison, bound, serving)
    return Check(name, quantity.metric, GROUP, value, bound, comparison, outcome == "passed", "config",
                 _samples(quantity, serving), note=f"{evidence}; {_load(serving)}", outcome=outcome)


def _relative_check(quantity: Quantity, comparison: str, ratio: float, serving: Serving | None,
                    baseline: ServingBaseline) -> Check:
    name, metric = f"serving {quantity.label} against baseline", f"{quantity.metric}_ratio"
    samples = _samples(quantity, serving) if serving is not None else 0
    why_not = _why_not_comparable(serving, baseline)
    base_value = None if why_not or baseline.serving is None else quantity.value(baseline.serving)
    if why_not is None and not base_value:
        why_not = f"baseline run {baseline.run_id} has no {quantity.label} to compare with"
    if why_not is not None:
        return _undecided(name, metric, ratio, comparison, samples, f"not compared: {why_not}")
    assert serving is not None and baseline.serving is not None and base_value
    bound = ratio * base_value
    outcome, evidence = _decide(quantity, comparison, bound, serving)
    value = quantity.value(serving)
    against = (f"against {ratio:g} x baseline run {baseline.run_id}'s {quantity.shown(base_value)} = "
               f"{quantity.shown(bound)} (the baseline's own uncertainty not included)")
    return Check(name, metric, GROUP, None if value is None else round(value / base_value, 6), ratio, comparison,
                 outcome == "passed", "config", samples, note=f"{evidence} {against}; {_load(serving)}",
                 outcome=outcome)


def _why_not_comparable(serving: Serving | None, baseline: ServingBaseline) -> str | None:
    """Why this run's serving numbers cannot be set against the baseline's; None when they can."""
    theirs = baseline.serving
    if serving is None:
        return "this run's summary has no serving section (written by an older ray-eval)"
    if theirs is None:
        return f"baseline run {baseline.run_id}'s summary has no serving section (written by an older ray-eval)"
    if not baseline.complete:
        return f"baseline run {baseline.run_id} is incomplete"
    if theirs.setup is None:
        return (f"baseline run {baseline.run_id} recorded no serving setup (its config had no gate.serving block, "
                "or an older ray-eval wrote it): its numbers may come from another serving config")
    if serving.setup is None:
        return "this run recorded no serving setup: its numbers may come from another serving config"
    differences = [f"{label} {getattr(serving.setup, field)} here, {getattr(theirs.setup, field)} in the baseline"
                   for field, label in SAME_SETUP.items()
                   if getattr(serving.setup, field) != getattr(theirs.setup, field)]
    if differences:
        return f"another serving setup than baseline run {baseline.run_id}'s: " + "; ".join(differences)
    return None


def _decide(quantity: Quantity, comparison: str, bound: float, serving: Serving) -> tuple[str, str]:
    """(outcome, what was decided on) of `quantity comparison bound`: on the interval when it has one."""
    value = quantity.value(serving)
    if value is None:
        return "undecided", f"no {quantity.per} to measure {quantity.label} over"
    inside = (lambda number: number <= bound) if comparison == "<=" else (lambda number: number >= bound)
    if quantity.interval_field is None:
        return ("passed" if inside(value) else "failed"), f"{quantity.shown(value)} ({quantity.on_value})"
    interval = quantity.interval(serving)
    if interval is None or None in interval:
        return "undecided", (f"{quantity.shown(value)} without an interval (this run's summary records none: "
                             "rescore the run with gate.serving set to record it)")
    low, high = interval
    evidence = (f"{quantity.shown(value)}, interval [{quantity.shown(low)}, {quantity.shown(high)}] over this run's "
                f"{_samples(quantity, serving)} {quantity.per}")
    if inside(low) and inside(high):
        return "passed", evidence
    if not inside(low) and not inside(high):
        return "failed", evidence
    return "undecided", f"too few requests to decide: the interval straddles the bound; {evidence}"


def _undecided(name: str, metric: str, threshold: float, comparison: str, samples: int, note: str) -> Check:
    return Check(name, metric, GROUP, None, threshold, comparison, False, "config", samples, note=note,
                 outcome="undecided")


def _samples(quantity: Quantity, serving: Serving) -> int:
    """The requests a quantity is measured over: the error rate over every request sent, the rest over answers."""
    return serving.answers + serving.engine_errors if quantity is ENGINE_ERROR_RATE else serving.answers


def _load(serving: Serving) -> str:
    if serving.setup is None:
        return "under this run's own load"
    return f"under this run's load: {serving.setup.requests_in_flight} requests in flight"
