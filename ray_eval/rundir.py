"""Run directories: planning one (a new run, or the resumption of an unfinished or re-submitted one), and working on
a finished one (re-apply the gate, re-render the reports).

run.json, written when a run starts, records the config and its fingerprint: a run directory is only ever resumed
under the same fingerprint (the same dataset file, engine, sampling, preprocessing and scoring), so the rows already
there and the rows still to come answer the same question.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ray_eval.compare import compare_runs
from ray_eval.config import EvalConfig, apply_override, load_config, validate_config
from ray_eval.errors import UsageError
from ray_eval.gate import Coverage, evaluate_gate, verdict
from ray_eval.outputs import SUMMARY_FILE, VERDICT_FILE, write_decision_outputs, write_json
from ray_eval.outputs.results import RESULTS_FILE
from ray_eval.outputs.summary import public_config
from ray_eval.shopbench.readers import SuiteThresholds

RUN_FILE = "run.json"
STALE_ON_RESUME = (SUMMARY_FILE, VERDICT_FILE)  # a resumed run writes them again; until then they would mislead


def plan_run_dir(config: EvalConfig, started_at: datetime, dataset_fingerprint: str) -> tuple[Path, bool]:
    """The run's directory and whether it resumes one: a run directory holding a run of the same fingerprint is
    resumed (`--resume`, or a job re-submitted with the same run id); one of another fingerprint is refused."""
    run_id = config.run.run_id or f"{started_at:%Y%m%d-%H%M%S}-{config.fingerprint()[:6]}"
    run_dir = Path(config.run.out_dir) / run_id
    if not (run_dir.exists() and any(run_dir.iterdir())):
        return run_dir, False
    if not (run_dir / RUN_FILE).is_file():
        raise UsageError(f"run directory {run_dir} holds files but no {RUN_FILE}: not a ray-eval run to resume; "
                         "choose another run.run_id")
    stored = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    if stored.get("config_fingerprint") != config.fingerprint():
        raise UsageError(f"run directory {run_dir} holds a run of another config (fingerprint "
                         f"{stored.get('config_fingerprint')}, this one {config.fingerprint()}): it can only be resumed "
                         "with the same config; choose another run.run_id")
    if stored.get("dataset_fingerprint") != dataset_fingerprint:
        raise UsageError(f"run directory {run_dir} was made from another version of {config.dataset.path} "
                         "(its sha256 differs); choose another run.run_id")
    return run_dir, True


def start_run_dir(run_dir: Path, config: EvalConfig, started_at: datetime, dataset_fingerprint: str,
                  resuming: bool) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    if resuming:
        for name in STALE_ON_RESUME:
            (run_dir / name).unlink(missing_ok=True)
        return
    write_json(run_dir / RUN_FILE, {"config_fingerprint": config.fingerprint(), "dataset_fingerprint": dataset_fingerprint,
                                    "started_at": started_at.isoformat(timespec="seconds"),
                                    "config": public_config(config)})


def resume_config(run_dir: Path, config_path: Path | None, overrides: list[str]) -> EvalConfig:
    """The config to resume a run directory with: its own (run.json), or the given file, with overrides."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).is_file():
        raise UsageError(f"{run_dir} is not a run directory to resume: {RUN_FILE} is missing")
    base = None if config_path else json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))["config"]
    location = [f"run.out_dir={run_dir.parent}", f"run.run_id={run_dir.name}"]
    return load_config(config_path, [*overrides, *location], base=base)


def load_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    run_dir = Path(run_dir)
    for name in (SUMMARY_FILE, VERDICT_FILE, RESULTS_FILE):
        if not (run_dir / name).is_file():
            raise UsageError(f"{run_dir} is not a finished run directory: {name} is missing")
    summary = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    decision = json.loads((run_dir / VERDICT_FILE).read_text(encoding="utf-8"))
    return summary, decision


def regate(run_dir: Path, config_path: Path | None = None, overrides: list[str] = ()) -> dict[str, Any]:
    """Apply thresholds again to a run's stored scores: the run's own config, or another config file's gate,
    with `--set gate.x=y` overrides. Rewrites verdict.json and the reports; returns the new verdict."""
    run_dir = Path(run_dir)
    summary, old = load_run(run_dir)
    stored = dict(summary["config"])
    if config_path is not None:
        stored["gate"] = load_config(config_path).gate.model_dump(mode="json")
    for override in overrides:
        if not override.startswith("gate."):
            raise UsageError(f"--set {override!r}: only gate.* can change when re-gating a finished run")
        apply_override(stored, override)
    config: EvalConfig = validate_config(stored, source=f"{run_dir}/{SUMMARY_FILE} config")
    suite = summary["dataset"].get("suite_thresholds")
    suite_thresholds = SuiteThresholds(**{**suite, "category_pass_rates": tuple(map(tuple, suite["category_pass_rates"]))}) if suite else None
    baseline = config.gate.baseline
    comparison = (compare_runs(run_dir, baseline.run_dir, config.statistics,
                               min_paired_samples=baseline.min_paired_samples) if baseline else None)
    coverage = Coverage.of_summary(summary["dataset"])
    checks = evaluate_gate(summary["scores"], config.gate, suite_thresholds, comparison, coverage)
    complete = old["status"] != "incomplete"
    decision = verdict(checks, complete=complete, incomplete_reason=None if complete else old.get("reason"),
                       coverage=coverage)
    summary["config"] = public_config(config)
    summary["comparison"] = comparison
    summary["verdict"] = {key: decision[key] for key in ("status", "passed", "exit_code", "failed_checks")}
    write_json(run_dir / SUMMARY_FILE, summary)
    write_json(run_dir / VERDICT_FILE, decision)
    write_decision_outputs(run_dir, summary, decision, config.report)
    return decision


def rerender(run_dir: Path) -> None:
    """Write summary.md, junit.xml and report.html again from the stored summary and verdict."""
    summary, decision = load_run(run_dir)
    config = validate_config(summary["config"], source=f"{run_dir}/{SUMMARY_FILE} config")
    write_decision_outputs(Path(run_dir), summary, decision, config.report)
