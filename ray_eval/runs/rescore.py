"""`ray-eval rescore RUN_DIR`: score a finished run's answers again (another scorer, threshold or judge; another
gate or statistics) without asking the model again.

A run directory is its own response cache: results.parquet holds every answer next to its prompt and media digests.
They stay valid only while nothing that decides an answer changes, so rescoring refuses a config whose dataset,
engine, serving, preprocessing, inference or diagnostics differ from the run's (run.json): those need a new run.
Rows that failed before an answer existed (read, preprocess, inference) stay as they are; answered rows, and rows
whose scoring or judging failed, are scored again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ray_eval.config import EvalConfig
from ray_eval.data.dataset import scan_suites
from ray_eval.errors import UsageError
from ray_eval.metrics import RunMetrics, run_labels
from ray_eval.outputs.summary import public_config
from ray_eval.pipeline import JudgeStage
from ray_eval.pipeline.judge import judge_setup
from ray_eval.pipeline.scoring import SuiteScoring
from ray_eval.records import RESULT_SCHEMA
from ray_eval.runs.finish import RunOutcome, conclude_run, read_baselines
from ray_eval.runs.rundir import resume_config
from ray_eval.runs.store import RunStore, check_writable
from ray_eval.verdict.serving_gate import ServingGateInput, load_serving_baseline

ANSWER_SECTIONS = ("dataset", "engine", "serve", "preprocess", "inference", "diagnostics")  # what decides answers
RESCORED_STAGES = (None, "scoring", "judge")  # error_stage of rows scored again (None: answered without error)
SCORE_FIELDS = {"extracted": None, "score": None, "passed": None, "unparsed": None, "scorer": None,
                "score_details": None, "judge_verdict": None}
CHUNK_ROWS = 256


def rescore_run(run_dir: Path, config_path: Path | None = None, overrides: Sequence[str] = (),
                environ: Mapping[str, str] | None = None) -> RunOutcome:
    store = RunStore(run_dir)
    run_dir = store.run_dir
    started_at, started = datetime.now(UTC), time.monotonic()
    config = resume_config(run_dir, config_path, list(overrides))
    stored = store.read_run_record()
    _same_answers(public_config(config), stored.config, run_dir)
    if not store.has_results():
        raise UsageError(f"{run_dir} has no {store.results.merged.name} to rescore "
                         "(an interrupted run: resume it first)")
    scan = scan_suites(config)
    if scan.fingerprint != stored.dataset_fingerprint:
        changed = ", ".join(str(suite.dataset.path) for suite in config.evaluated_suites())
        raise UsageError(f"{changed} changed since run {run_dir.name} (the sha256 differs): run it again")
    judge = judge_setup(config, os.environ if environ is None else environ)
    check_writable(run_dir)
    old = store.read_verdict()
    # The answers stay, and so does what they were served under: the setup the run's summary recorded.
    old_summary = store.read_summary()
    setup = old_summary.serving.setup if old_summary is not None and old_summary.serving is not None else None
    serving_input = ServingGateInput(setup, load_serving_baseline(config.gate.serving))
    incomplete = old.reason if old is not None and old.status == "incomplete" else None
    # The results change under them: the old verdict and summary go first (a rescore that fails leaves none, and is
    # run again), conclude_run writes the new ones last.
    store.withdraw_conclusion()
    for blind in (False, True):
        if store.has_results(blind=blind):
            store.replace_results(_rescored(store.read_results(blind=blind), config, judge), blind=blind,
                                  then="free space and rescore again")
    store.write_run_record(replace(stored, config_fingerprint=config.fingerprint(), config=public_config(config),
                                   rescored_at=started_at.isoformat(timespec="seconds")))
    metrics = RunMetrics(config.metrics, run_labels(config))
    return conclude_run(config, scan, run_dir, started_at, started, incomplete, metrics, read_baselines(config),
                        serving_input,
                        reason_is_final=incomplete is not None)


def _same_answers(new: dict[str, Any], old: dict[str, Any], run_dir: Path) -> None:
    changed = [section for section in ANSWER_SECTIONS if new.get(section) != old.get(section)]
    if _suite_datasets(new) != _suite_datasets(old):
        changed.append("suites (their names or datasets)")
    if changed:
        raise UsageError(f"rescoring keeps the answers of run {run_dir.name}, but the config changes "
                         f"{', '.join(changed)}, which decide them: run the evaluation again instead")


def _suite_datasets(config: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The suites' names and datasets, which decide the answers (their scoring and gate do not)."""
    return [(suite.get("name"), suite.get("dataset")) for suite in config.get("suites") or []]


def _rescored(table: pa.Table, config: EvalConfig, judge) -> pa.Table:
    """Every answered row of one results file scored again, by its suite's scorers."""
    scoring = SuiteScoring({suite.name: suite.scoring for suite in config.evaluated_suites()})
    judging = JudgeStage(judge) if judge is not None else None
    chunks = []
    for start in range(0, table.num_rows, CHUNK_ROWS):
        rows = [_reopened(row) for row in table.slice(start, CHUNK_ROWS).to_pylist()]
        chunks.append(pa.Table.from_pylist(scoring.score_rows(rows), schema=RESULT_SCHEMA))
    if judging is not None:
        chunks = asyncio.run(_judge_all(judging, chunks))
    return pa.concat_tables(chunks) if chunks else table.slice(0, 0)


async def _judge_all(judging: JudgeStage, chunks: list[pa.Table]) -> list[pa.Table]:
    try:  # one event loop for the whole file: the judge's HTTP client belongs to it
        return [await judging(chunk) for chunk in chunks]
    finally:
        await judging.engine.aclose()


def _reopened(row: dict[str, Any]) -> dict[str, Any]:
    """An answered row as it left inference: its old score and any scoring or judging error removed."""
    if row["status"] != "ok" and row["error_stage"] not in RESCORED_STAGES:
        return row
    return row | SCORE_FIELDS | {"status": "ok", "error_stage": None, "error_type": None, "error": None,
                                 "engine_fault": None}
