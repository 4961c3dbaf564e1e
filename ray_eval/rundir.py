"""Run directories: planning one (a new run, or the resumption of an unfinished or re-submitted one), and working on
a finished one (re-apply the gate, re-render the reports).

run.json, written when a run starts, records the config and its fingerprint: a run directory is only ever resumed
under the same fingerprint (the same dataset file, engine, sampling, preprocessing and scoring), so the rows already
there and the rows still to come answer the same question.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ray_eval.compare import compare_runs
from ray_eval.config import EvalConfig, apply_override, load_config, validate_config
from ray_eval.errors import OperatorError, OutputError, UsageError
from ray_eval.gate import Coverage, evaluate_gate, verdict
from ray_eval.outputs import SUMMARY_FILE, VERDICT_FILE, withdraw_verdict, write_json, write_outputs
from ray_eval.outputs.results import RESULTS_FILE
from ray_eval.outputs.summary import public_config
from ray_eval.shopbench.readers import SuiteThresholds

RUN_FILE = "run.json"
STALE_ON_RESUME = (SUMMARY_FILE, VERDICT_FILE)  # a resumed run writes them again; until then they would mislead
REPORTS_UNWRITTEN = "reports unwritten"  # summary.json holds the verdict, verdict.json is not written yet
# Why a folder cannot be written that the operator must fix (exit 2); any other cause (a full disk) is exit 3.
OPERATOR_ERRNOS = {errno.EROFS: "a read-only file system", errno.EACCES: "permission denied",
                   errno.EPERM: "operation not permitted", errno.ENOTDIR: "a file stands where a folder should be",
                   errno.EEXIST: "a file stands where a folder should be"}


def plan_run_dir(config: EvalConfig, started_at: datetime, dataset_fingerprint: str) -> tuple[Path, bool]:
    """The run's directory and whether it resumes one: a run directory holding a run of the same fingerprint is
    resumed (`--resume`, or a job re-submitted with the same run id); one of another fingerprint is refused."""
    run_id = config.run.run_id or f"{started_at:%Y%m%d-%H%M%S}-{config.fingerprint()[:6]}"
    run_dir = Path(config.run.out_dir) / run_id
    check_writable(run_dir, "run.out_dir")
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


def check_writable(run_dir: Path, option: str | None = None) -> None:
    """Before Ray starts and before anything is evaluated: a file can be written in run_dir, or, when it does not
    exist yet, in the nearest folder above it that does (nothing is created). Refused in one line naming the folder
    and the cause: OperatorError (exit 2) for what the operator must fix, OutputError (exit 3) for the rest."""
    target = next(folder for folder in (run_dir, *run_dir.parents) if folder.exists())
    try:
        if not target.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(target))
        with tempfile.TemporaryFile(dir=target, prefix=".ray-eval-probe-"):
            pass
    except OSError as exc:
        where = f"{option} {run_dir.parent}" if option else f"run directory {run_dir}"
        if exc.errno in OPERATOR_ERRNOS:
            raise OperatorError(f"{where}: cannot write in {target}: {OPERATOR_ERRNOS[exc.errno]}; nothing was "
                                "evaluated: choose a writable folder") from None
        raise OutputError(f"{where}: cannot write in {target}: {exc.strerror or exc}") from None


def start_run_dir(run_dir: Path, config: EvalConfig, started_at: datetime, dataset_fingerprint: str,
                  resuming: bool) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    if resuming:
        withdraw_verdict(run_dir)  # first: a verdict never outlives the files it vouches for
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
    """A finished run's summary and verdict. Without verdict.json (writing the reports failed, e.g. a full disk), the
    verdict is the copy summary.json holds: both are written from the same decision, summary.json first."""
    run_dir = Path(run_dir)
    for name in (SUMMARY_FILE, RESULTS_FILE):
        if not (run_dir / name).is_file():
            raise UsageError(f"{run_dir} is not a finished run directory: {name} is missing")
    summary = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    if (run_dir / VERDICT_FILE).is_file():
        return summary, json.loads((run_dir / VERDICT_FILE).read_text(encoding="utf-8"))
    if "checks" not in summary.get("verdict", {}):  # a summary.json of an older version holds only the outcome
        raise UsageError(f"{run_dir} is not a finished run directory: {VERDICT_FILE} is missing")
    return summary, summary["verdict"]


def regate(run_dir: Path, config_path: Path | None = None, overrides: list[str] = ()) -> dict[str, Any]:
    """Apply thresholds again to a run's stored scores: the run's own config, or another config file's gate,
    with `--set gate.x=y` overrides. Rewrites verdict.json and the reports; returns the new verdict."""
    run_dir = Path(run_dir)
    check_writable(run_dir)
    summary, old = load_run(run_dir)
    stored = dict(summary["config"])
    if config_path is not None:
        stored["gate"] = load_config(config_path).gate.model_dump(mode="json")
    for override in overrides:
        if not override.startswith("gate."):
            raise UsageError(f"--set {override!r}: only gate.* can change when re-gating a finished run")
        apply_override(stored, override)
    config: EvalConfig = validate_config(stored, source=f"{run_dir}/{SUMMARY_FILE} config", overrides=list(overrides))
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
    write_outputs(run_dir, summary, decision, config.report, then=f"free space and run `ray-eval gate {run_dir}` again")
    return decision


def rerender(run_dir: Path) -> None:
    """Write summary.md, junit.xml, report.html and, last, verdict.json again from the stored summary and verdict."""
    run_dir = Path(run_dir)
    check_writable(run_dir)
    summary, decision = load_run(run_dir)
    config = validate_config(summary["config"], source=f"{run_dir}/{SUMMARY_FILE} config")
    write_outputs(run_dir, summary, decision, config.report, then=f"free space and run `ray-eval report {run_dir}` again")


# ---- listing: `ray-eval runs` ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunListing:
    """One run directory as `ray-eval runs` shows it."""

    run_id: str
    run_dir: Path
    started_at: str | None
    model: str | None
    status: str  # complete | incomplete | no verdict (running, or interrupted) | reports unwritten | unreadable
    verdict: str | None = None  # passed | failed | undecided | incomplete, from verdict.json
    score: float | None = None  # the overall score (0-100) of a complete run
    reason: str | None = None  # why a run is incomplete, or its files cannot be read

    @property
    def resume_command(self) -> str | None:
        """How to continue a run that has no final verdict (interrupted, stopped incomplete, or its reports unwritten)."""
        if self.status == REPORTS_UNWRITTEN:
            return f"ray-eval report {self.run_dir}"
        return None if self.status in ("complete", "unreadable") else f"ray-eval run --resume {self.run_dir}"


def list_runs(out_dir: Path) -> list[RunListing]:
    """Every run directory (a folder holding run.json) in `out_dir`, oldest first."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is not a folder of run directories (run.out_dir; default runs)")
    listings = [_listing(path) for path in sorted(out_dir.iterdir()) if (path / RUN_FILE).is_file()]
    return sorted(listings, key=lambda listing: (listing.started_at or "", listing.run_id))


def _listing(run_dir: Path) -> RunListing:
    try:
        started = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
        config = started["config"]
        model = config["run"].get("model_label") or config["engine"].get("model")
        verdict_path, summary_path = run_dir / VERDICT_FILE, run_dir / SUMMARY_FILE
        decision = json.loads(verdict_path.read_text(encoding="utf-8")) if verdict_path.is_file() else None
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return RunListing(run_dir.name, run_dir, None, None, "unreadable", reason=f"{type(exc).__name__}: {exc}")
    base = {"run_id": run_dir.name, "run_dir": run_dir, "started_at": started.get("started_at"), "model": model}
    if decision is None and "checks" in summary.get("verdict", {}):
        unwritten = "summary.json is written, the reports and verdict.json not: still writing, or the disk filled up"
        return RunListing(**base, status=REPORTS_UNWRITTEN, reason=unwritten)
    if decision is None:
        return RunListing(**base, status="no verdict (running, or interrupted)")
    if decision.get("status") == "incomplete":
        return RunListing(**base, status="incomplete", verdict="incomplete", reason=decision.get("reason"))
    score = ((summary.get("scores") or {}).get("overall") or {}).get("score")
    return RunListing(**base, status="complete", verdict=decision.get("status"), score=score)


def runs_table(listings: list[RunListing]) -> str:
    """Aligned columns, one run a line; an unfinished run's line ends with the command that resumes it."""
    header = ("run id", "started", "status", "verdict", "score", "model", "")
    rows = [header] + [(
        listing.run_id, listing.started_at or "-", listing.status, listing.verdict or "-",
        "-" if listing.score is None else f"{listing.score:.1f}", listing.model or "-",
        _last_column(listing),
    ) for listing in listings]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    return "\n".join("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip()
                     for row in rows)


def _last_column(listing: RunListing) -> str:
    resume = f"resume: {listing.resume_command}" if listing.resume_command else ""
    reason = f"({listing.reason})" if listing.reason else ""
    return "  ".join(part for part in (resume, reason) if part)
