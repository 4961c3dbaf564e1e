"""Run directories: planning one (a new run, or the resumption of an unfinished or re-submitted one), and working on
a finished one (re-apply the gate, re-render the reports).

run.json, written when a run starts, records the config and its fingerprint: a run directory is only ever resumed
under the same fingerprint (the same dataset file, engine, sampling, preprocessing and scoring), so the rows already
there and the rows still to come answer the same question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ray_eval.config import EvalConfig, apply_override, load_config, validate_config
from ray_eval.data.readers import SuiteThresholds
from ray_eval.errors import UsageError
from ray_eval.outputs import write_outputs
from ray_eval.outputs.summary import public_config
from ray_eval.runs.store import RunRecord, RunStore, check_writable
from ray_eval.verdict.compare import compare_runs
from ray_eval.verdict.gate import Coverage, evaluate_gate, verdict
from ray_eval.verdict.summary_model import Verdict

REPORTS_UNWRITTEN = "reports unwritten"  # summary.json holds the verdict, verdict.json is not written yet


def plan_run_dir(config: EvalConfig, started_at: datetime, dataset_fingerprint: str) -> tuple[Path, bool]:
    """The run's directory and whether it resumes one: a run directory holding a run of the same fingerprint is
    resumed (`--resume`, or a job re-submitted with the same run id); one of another fingerprint is refused."""
    run_id = config.run.run_id or f"{started_at:%Y%m%d-%H%M%S}-{config.fingerprint()[:6]}"
    store = RunStore(Path(config.run.out_dir) / run_id)
    run_dir = store.run_dir
    check_writable(run_dir, "run.out_dir")
    stored = store.existing_run()
    if stored is None:
        return run_dir, False
    if stored.config_fingerprint != config.fingerprint():
        raise UsageError(f"run directory {run_dir} holds a run of another config (fingerprint "
                         f"{stored.config_fingerprint}, this one {config.fingerprint()}): it can only be resumed "
                         "with the same config; choose another run.run_id")
    if stored.dataset_fingerprint != dataset_fingerprint:
        raise UsageError(f"run directory {run_dir} was made from another version of {config.dataset.path} "
                         "(its sha256 differs); choose another run.run_id")
    return run_dir, True


def start_run_dir(run_dir: Path, config: EvalConfig, started_at: datetime, dataset_fingerprint: str,
                  resuming: bool) -> None:
    record = RunRecord(public_config(config), config.fingerprint(), dataset_fingerprint,
                       started_at.isoformat(timespec="seconds"))
    RunStore(run_dir).start(record, resuming)


def resume_config(run_dir: Path, config_path: Path | None, overrides: list[str]) -> EvalConfig:
    """The config to resume a run directory with: its own (run.json), or the given file, with overrides."""
    store = RunStore(run_dir)
    store.require_run()
    base = None if config_path else store.read_run_record().config
    location = [f"run.out_dir={store.run_dir.parent}", f"run.run_id={store.run_dir.name}"]
    return load_config(config_path, [*overrides, *location], base=base)


def regate(run_dir: Path, config_path: Path | None = None, overrides: Sequence[str] = ()) -> Verdict:
    """Apply thresholds again to a run's stored scores: the run's own config, or another config file's gate,
    with `--set gate.x=y` overrides. Rewrites verdict.json and the reports; returns the new verdict."""
    store = RunStore(run_dir)
    run_dir = store.run_dir
    check_writable(run_dir)
    summary = store.read_concluded()
    stored = dict(summary.config)
    if config_path is not None:
        stored["gate"] = load_config(config_path).gate.model_dump(mode="json")
    for override in overrides:
        if not override.startswith("gate."):
            raise UsageError(f"--set {override!r}: only gate.* can change when re-gating a finished run")
        apply_override(stored, override)
    config: EvalConfig = validate_config(stored, source=f"{store.summary} config", overrides=list(overrides))
    suite = summary.dataset.suite_thresholds
    suite_thresholds = SuiteThresholds(
        suite.min_pass_rate, suite.min_score, tuple(suite.category_pass_rates), suite.category_level) if suite else None
    baseline = config.gate.baseline
    comparison = (compare_runs(run_dir, baseline.run_dir, config.statistics,
                               min_paired_samples=baseline.min_paired_samples,
                               regression_margin=baseline.max_regression) if baseline else None)
    coverage = Coverage.of_summary(summary.dataset)
    checks = evaluate_gate(summary.scores, config.gate, suite_thresholds, comparison, coverage)
    old = summary.verdict
    complete = old.status != "incomplete"
    decision = verdict(checks, complete=complete, incomplete_reason=None if complete else old.reason,
                       coverage=coverage)
    write_outputs(run_dir, summary.regated(public_config(config), comparison, decision), config.report,
                  then=f"free space and run `ray-eval gate {run_dir}` again")
    return decision


def rerender(run_dir: Path) -> None:
    """Write summary.md, junit.xml, report.html and, last, verdict.json again from the stored summary and verdict."""
    store = RunStore(run_dir)
    run_dir = store.run_dir
    check_writable(run_dir)
    summary = store.read_concluded()
    config = validate_config(summary.config, source=f"{store.summary} config")
    write_outputs(run_dir, summary, config.report, then=f"free space and run `ray-eval report {run_dir}` again")


# ---- listing: `ray-eval runs` ----------------------------------------------------------------------------------------


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
        """How to continue a run that has no final verdict (interrupted, stopped incomplete, or its reports
        unwritten)."""
        if self.status == REPORTS_UNWRITTEN:
            return f"ray-eval report {self.run_dir}"
        return None if self.status in ("complete", "unreadable") else f"ray-eval run --resume {self.run_dir}"


def list_runs(out_dir: Path) -> list[RunListing]:
    """Every run directory (a folder holding run.json) in `out_dir`, oldest first."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} is not a folder of run directories (run.out_dir; default runs)")
    listings = [_listing(RunStore(path)) for path in sorted(out_dir.iterdir()) if RunStore(path).is_run()]
    return sorted(listings, key=lambda listing: (listing.started_at or "", listing.run_id))


def _listing(store: RunStore) -> RunListing:
    run_dir = store.run_dir
    try:
        started = store.read_run_record()
        model = started.config["run"].get("model_label") or started.config["engine"].get("model")
        decision = store.read_verdict()
        summary = store.read_summary()
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UsageError) as exc:  # listed, not fatal
        return RunListing(run_dir.name, run_dir, None, None, "unreadable", reason=f"{type(exc).__name__}: {exc}")
    base = {"run_id": run_dir.name, "run_dir": run_dir, "started_at": started.started_at, "model": model}
    if decision is None and summary is not None and summary.verdict.checks is not None:
        unwritten = "summary.json is written, the reports and verdict.json not: still writing, or the disk filled up"
        return RunListing(**base, status=REPORTS_UNWRITTEN, reason=unwritten)
    if decision is None:
        return RunListing(**base, status="no verdict (running, or interrupted)")
    if decision.status == "incomplete":
        return RunListing(**base, status="incomplete", verdict="incomplete", reason=decision.reason)
    score = summary.scores.overall.score if summary is not None else None
    return RunListing(**base, status="complete", verdict=decision.status, score=score)


def runs_table(listings: list[RunListing]) -> str:
    """Aligned columns, one run a line; an unfinished run's line ends with the command that resumes it."""
    header = ("run id", "started", "status", "verdict", "score", "model", "")
    rows = [header] + [(
        listing.run_id, listing.started_at or "-", listing.status, listing.verdict or "-",
        "-" if listing.score is None else f"{listing.score:.1f}", listing.model or "-",
        _last_column(listing),
    ) for listing in listings]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    lines = []
    for row in rows:  # every cell padded to its column's width but the last (the resume command or the reason)
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def _last_column(listing: RunListing) -> str:
    resume = f"resume: {listing.resume_command}" if listing.resume_command else ""
    reason = f"({listing.reason})" if listing.reason else ""
    return "  ".join(part for part in (resume, reason) if part)
