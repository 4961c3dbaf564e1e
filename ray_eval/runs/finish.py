"""After the pipeline: read the results, aggregate them with their intervals, compare with a baseline, apply the
gate, build the summary, export metrics and write every output. A run ends here, and so does `ray-eval rescore`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from ray_eval.cluster.malloc import release_free_memory
from ray_eval.config import EvalConfig
from ray_eval.data.dataset import DatasetScan
from ray_eval.data.taxonomy import NO_SUBSET
from ray_eval.metrics import RunMetrics
from ray_eval.outputs import write_outputs
from ray_eval.outputs.summary import build_summary
from ray_eval.runs.progress import with_engine_work_left
from ray_eval.runs.store import RunStore
from ray_eval.scoring.diagnostics import diagnostics_of_runs
from ray_eval.verdict.aggregate import AGGREGATE_COLUMNS, statistics_note, summarize, with_clusters
from ray_eval.verdict.compare import COMPARED_COLUMNS, RunResults, compare
from ray_eval.verdict.gate import evaluate_gate, verdict
from ray_eval.verdict.serving import engine_error_rows, reached_the_engine, serving_of
from ray_eval.verdict.summary_model import Diagnostics, RunIdentity, Summary


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    summary: Summary

    @property
    def exit_code(self) -> int:
        return self.summary.verdict.exit_code


def conclude_run(config: EvalConfig, scan: DatasetScan, run_dir: Path, started_at: datetime, started: float,
                 incomplete_reason: str | None, metrics: RunMetrics, baseline_results: RunResults | None,
                 reason_is_final: bool = False) -> RunOutcome:
    """Everything a run writes after its results are on disk; `incomplete_reason` set: the run could not complete
    (the results' engine errors and missing rows are added to it, unless it is a stored verdict's:
    `reason_is_final`)."""
    # Rows arrive in whatever order the pipeline finishes them: sorted, the bootstrap sees the same data the same
    # way in every run of the same results (a resumed run's summary equals an uninterrupted one's).
    store = RunStore(run_dir)
    columns = [*AGGREGATE_COLUMNS, "answered_at", "response_model", "engine_fault"]
    results = store.read_results_frame(columns).sort_values("sample_id", ignore_index=True)
    results = with_clusters(results, config.statistics)
    if incomplete_reason is None and len(results) != scan.rows:
        incomplete_reason = f"results.parquet has {len(results)} rows for {scan.rows} dataset rows"
    if not reason_is_final:
        if incomplete_reason is None:  # over every session's rows: a plain resume cannot hide an outage
            incomplete_reason = over_engine_error_budget(results, config.run.max_engine_error_rate, run_dir)
        engine_faults = int(results["engine_fault"].eq(True).sum())  # the engine's errors: never the model's
        incomplete_reason = with_engine_work_left(incomplete_reason, engine_faults, scan.rows - len(results), run_dir)
    scores = summarize(results, config.statistics)
    comparison = None
    if baseline_results is not None:
        assert config.gate.baseline is not None, "baseline results are read only for a gate with a baseline"
        label = config.run.model_label or config.engine.model
        candidate = RunResults(store.read_results_frame(COMPARED_COLUMNS),
                               RunIdentity(run_dir=str(run_dir), run_id=run_dir.name, model=label), scan.fingerprint)
        # The comparison's "too few samples to tell" uses the gate's minimum, so summary.md agrees with the gate.
        comparison = compare(candidate, baseline_results, config.statistics,
                             min_paired_samples=config.gate.baseline.min_paired_samples,
                             regression_margin=config.gate.baseline.max_regression)
    decision = verdict(evaluate_gate(scores, config.gate, scan.suite_thresholds, comparison, scan.coverage),
                       complete=incomplete_reason is None, incomplete_reason=incomplete_reason, coverage=scan.coverage)
    summary = build_summary(config, scan, scores, decision, run_dir=run_dir, started_at=started_at,
                            duration_s=time.monotonic() - started, served_models=_served_models(results),
                            statistics=statistics_note(results, config.statistics),
                            serving=serving_of(results, config.statistics),
                            diagnostics=_diagnostics(config, store, results), comparison=comparison)
    summary = summary.with_metrics(metrics.finish(summary) if metrics.enabled else None)
    del results
    release_free_memory()  # the aggregation's frames are gone; the reports read the results again, in parts
    write_outputs(run_dir, summary, config.report, then=f"free space and resume with `ray-eval run --resume {run_dir}`")
    return RunOutcome(run_dir, summary)


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


def _diagnostics(config: EvalConfig, store: RunStore, results) -> Diagnostics | None:
    if not config.diagnostics.blind_pass:
        return None
    blind = store.read_results_frame(["sample_id", "status", "passed"], blind=True)
    return diagnostics_of_runs(results, blind, NO_SUBSET)


def _served_models(results) -> list[str]:
    models = results["response_model"].dropna().unique()
    return sorted(str(model) for model in models)
