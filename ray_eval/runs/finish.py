"""After the pipeline: read the results, aggregate them with their intervals, compare with a baseline, apply the
gate, build the summary, export metrics and write every output. A run ends here, and so does `ray-eval rescore`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from ray_eval.cluster.malloc import release_free_memory
from ray_eval.config import EvalConfig, StatisticsConfig, SuiteConfig
from ray_eval.data.dataset import DatasetScan, RunScan
from ray_eval.data.taxonomy import NO_SUBSET
from ray_eval.metrics import RunMetrics
from ray_eval.outputs import write_outputs
from ray_eval.outputs.summary import build_summary, suite_result
from ray_eval.runs.progress import with_engine_work_left
from ray_eval.runs.store import RunStore
from ray_eval.scoring.diagnostics import diagnostics_of_runs
from ray_eval.verdict.aggregate import AGGREGATE_COLUMNS, statistics_note, summarize, with_clusters
from ray_eval.verdict.compare import COMPARED_COLUMNS, RunResults, compare_suite, load_run_results
from ray_eval.verdict.gate import SuiteGate, decide_suites, verdict
from ray_eval.verdict.serving import engine_error_rows, reached_the_engine, serving_of
from ray_eval.verdict.serving_gate import ServingGateInput, gated_serving, serving_checks
from ray_eval.verdict.summary_model import Diagnostics, RunIdentity, SuiteResult, Summary


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    summary: Summary

    @property
    def exit_code(self) -> int:
        return self.summary.verdict.exit_code


def conclude_run(config: EvalConfig, scan: RunScan, run_dir: Path, started_at: datetime, started: float,
                 incomplete_reason: str | None, metrics: RunMetrics, baselines: Mapping[Path, RunResults],
                 serving_input: ServingGateInput, reason_is_final: bool = False) -> RunOutcome:
    """Everything a run writes after its results are on disk; `incomplete_reason` set: the run could not complete
    (the results' engine errors and missing rows are added to it, unless it is a stored verdict's:
    `reason_is_final`). `baselines`: the results of the suites' baseline runs (read_baselines); `serving_input`: this
    run's serving setup and the serving baseline (gate.serving)."""
    # Rows arrive in whatever order the pipeline finishes them: sorted, the bootstrap sees the same data the same
    # way in every run of the same results (a resumed run's summary equals an uninterrupted one's).
    store = RunStore(run_dir)
    columns = [*AGGREGATE_COLUMNS, "suite", "answered_at", "response_model", "engine_fault"]
    results = store.read_results_frame(columns).sort_values(["suite", "sample_id"], ignore_index=True)
    results = with_clusters(results, config.statistics)
    if incomplete_reason is None and len(results) != scan.rows:
        incomplete_reason = f"results.parquet has {len(results)} rows for {scan.rows} dataset rows"
    if not reason_is_final:
        if incomplete_reason is None:  # over every session's rows: a plain resume cannot hide an outage
            incomplete_reason = over_engine_error_budget(results, config.run.max_engine_error_rate, run_dir)
        engine_faults = int(results["engine_fault"].eq(True).sum())  # the engine's errors: never the model's
        incomplete_reason = with_engine_work_left(incomplete_reason, engine_faults, scan.rows - len(results), run_dir)
    sides = SuiteSides.read(config, scan, store)
    concluded = [conclude_suite(config, suite, suite_scan, results[results["suite"] == suite.name], sides,
                                baselines, several=len(scan.suites) > 1)
                 for suite, suite_scan in zip(config.evaluated_suites(), scan.suites, strict=True)]
    suites_checks = decide_suites([gate for _, gate in concluded])
    # The engine's checks are the run's, over every suite's requests (gate.serving: the run-wide gate block).
    serving = gated_serving(serving_of(results, config.statistics), results, config.gate.serving, config.statistics,
                            serving_input.setup)
    checks = [*suites_checks, *serving_checks(serving, config.gate.serving, serving_input.baseline)]
    decision = verdict(checks, complete=incomplete_reason is None, incomplete_reason=incomplete_reason,
                       coverage=scan.coverage)
    summary = build_summary(config, [suite for suite, _ in concluded], decision, run_dir=run_dir,
                            started_at=started_at, duration_s=time.monotonic() - started,
                            served_models=_served_models(results), serving=serving)
    summary = summary.with_metrics(metrics.finish(summary) if metrics.enabled else None)
    del results
    release_free_memory()  # the aggregation's frames are gone; the reports read the results again, in parts
    write_outputs(run_dir, summary, config.report, then=f"free space and resume with `ray-eval run --resume {run_dir}`")
    return RunOutcome(run_dir, summary)


@dataclass(frozen=True)
class SuiteSides:
    """What the suites' comparisons and diagnostics read besides the aggregated rows, read once for every suite: this
    run as the candidate side (only when a suite has a baseline) and the blind pass's rows (only with one)."""

    candidate: RunResults | None
    blind: pd.DataFrame | None

    @classmethod
    def read(cls, config: EvalConfig, scan: RunScan, store: RunStore) -> SuiteSides:
        candidate = None
        if any(suite.gate.baseline is not None for suite in config.evaluated_suites()):
            label = config.run.model_label or config.engine.model
            candidate = RunResults(store.read_results_frame(COMPARED_COLUMNS),
                                   RunIdentity(run_dir=str(store.run_dir), run_id=store.run_dir.name, model=label),
                                   {suite.suite: suite.fingerprint for suite in scan.suites})
        blind = (store.read_results_frame(["suite", "sample_id", "status", "passed"], blind=True)
                 if config.diagnostics.blind_pass else None)
        return cls(candidate, blind)


def conclude_suite(config: EvalConfig, suite: SuiteConfig, scan: DatasetScan, results: pd.DataFrame,
                   sides: SuiteSides, baselines: Mapping[Path, RunResults],
                   several: bool) -> tuple[SuiteResult, SuiteGate]:
    """One suite's scores, diagnostics and comparison with the baseline run's same suite, and what it brings to the
    decision (its checks are named after it when the run has several)."""
    scores = summarize(results, config.statistics)
    comparison = None
    if suite.gate.baseline is not None:
        assert sides.candidate is not None, "the candidate side is read when a suite has a baseline"
        comparison = compare_suite(sides.candidate, baselines[suite.gate.baseline.run_dir], suite.name,
                                   alone=not several, statistics=config.statistics, gate=suite.gate.baseline)
    gate = SuiteGate(suite.name if several else None, scores, suite.gate, scan.suite_thresholds, comparison,
                     scan.coverage)
    result = suite_result(suite.name, scan, scores, statistics=statistics_note(results, config.statistics),
                          diagnostics=_diagnostics(sides.blind, suite.name, results, config.statistics),
                          comparison=comparison)
    return result, gate


def read_baselines(config: EvalConfig) -> dict[Path, RunResults]:
    """The results of every baseline run the suites' gates name, each read once; one that cannot be read is
    refused here (before anything runs)."""
    run_dirs = {suite.gate.baseline.run_dir for suite in config.evaluated_suites() if suite.gate.baseline is not None}
    return {run_dir: load_run_results(run_dir) for run_dir in sorted(run_dirs)}


def over_engine_error_budget(results: pd.DataFrame, limit: float, run_dir: Path) -> str | None:
    """Why the run is incomplete when the engine failed too often (None when it did not), counted over every row on
    disk: a resumed run's earlier sessions count too, so resuming without running the errors again cannot turn an
    engine outage into a verdict on the model. The share is of the rows that reached the engine."""
    reached = int(reached_the_engine(results).sum())
    errors = int(engine_error_rows(results).sum())
    if not reached or errors / reached <= limit:
        return None
    return (f"{errors} of {reached} samples sent to the engine ended in an engine error ({errors / reached:.1%}), "
            f"over the error budget of {limit:.1%} (run.max_engine_error_rate); once the engine is healthy, run them "
            f"again with `ray-eval run --resume {run_dir} --retry-errors`")


def _diagnostics(blind: pd.DataFrame | None, suite: str, results: pd.DataFrame,
                 statistics: StatisticsConfig) -> Diagnostics | None:
    if blind is None:  # no blind pass
        return None
    return diagnostics_of_runs(results, blind[blind["suite"] == suite], NO_SUBSET, statistics)


def _served_models(results) -> list[str]:
    models = results["response_model"].dropna().unique()
    return sorted(str(model) for model in models)
