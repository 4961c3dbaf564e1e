"""Working on a finished run directory: re-apply the gate, re-render the reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray_eval.compare import compare_runs
from ray_eval.config import EvalConfig, apply_override, load_config, validate_config
from ray_eval.errors import UsageError
from ray_eval.gate import evaluate_gate, verdict
from ray_eval.outputs import SUMMARY_FILE, VERDICT_FILE, write_decision_outputs, write_json
from ray_eval.outputs.results import RESULTS_FILE
from ray_eval.outputs.summary import public_config
from ray_eval.shopbench.readers import SuiteThresholds


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
    comparison = compare_runs(run_dir, config.gate.baseline.run_dir, config.statistics) if config.gate.baseline else None
    checks = evaluate_gate(summary["scores"], config.gate, suite_thresholds, comparison)
    complete = old["status"] != "incomplete"
    decision = verdict(checks, complete=complete, incomplete_reason=None if complete else old.get("reason"))
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
