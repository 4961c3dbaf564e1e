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
from typing import Any

from ray_eval.config import EvalConfig, apply_override, load_config, validate_config
from ray_eval.data.readers import SuiteThresholds
from ray_eval.errors import UsageError
from ray_eval.outputs import write_outputs
from ray_eval.outputs.summary import public_config
from ray_eval.runs.finish import read_baselines
from ray_eval.runs.store import RunRecord, RunStore, check_writable
from ray_eval.verdict.compare import compare_suite, load_run_results
from ray_eval.verdict.gate import Coverage, SuiteGate, decide_suites, verdict
from ray_eval.verdict.serving_gate import load_serving_baseline, serving_checks
from ray_eval.verdict.summary_model import Comparison, Verdict

REPORTS_UNWRITTEN = "reports unwritten"  # summary.json holds the verdict, verdict.json is not written yet


def plan_run_dir(config: EvalConfig, started_at: datetime, dataset_fingerprint: str | None) -> tuple[Path, bool]:
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
        datasets = ", ".join(str(suite.dataset.path) for suite in config.evaluated_suites())
        raise UsageError(f"run directory {run_dir} was made from another version of {datasets} "
                         "(the sha256 differs); choose another run.run_id")
    return run_dir, True


def start_run_dir(run_dir: Path, config: EvalConfig, started_at: datetime, dataset_fingerprint: str | None,
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
    """Apply thresholds again to a run's stored scores: the run's own config, or another config file's gates (each
    suite's from the file's suite of the same name), with `--set gate.x=y` (or `suites.NAME.gate.x=y`) overrides.
    Rewrites verdict.json and the reports; returns the new verdict."""
    store = RunStore(run_dir)
    run_dir = store.run_dir
    check_writable(run_dir)
    summary = store.read_concluded()
    stored = dict(summary.config)
    if config_path is not None:
        _take_gates(stored, load_config(config_path), config_path)
    for override in overrides:
        if not _is_gate_key(override):
            raise UsageError(f"--set {override!r}: only gate.* (or suites.NAME.gate.*) can change when re-gating a "
                             "finished run")
        apply_override(stored, override)
    config: EvalConfig = validate_config(stored, source=f"{store.summary} config", overrides=list(overrides))
    baselines = read_baselines(config)
    several = len(summary.suites) > 1
    candidate = load_run_results(run_dir) if baselines else None
    comparisons: dict[str, Comparison | None] = {}
    gates: list[SuiteGate] = []
    for suite in config.evaluated_suites():
        stored_suite = summary.suite(suite.name)
        if stored_suite is None:
            raise UsageError(f"{store.summary} has no suite {suite.name!r}: not the run this config evaluated")
        comparison = None
        if suite.gate.baseline is not None:
            assert candidate is not None, "this run's results are read when a suite has a baseline"
            comparison = compare_suite(candidate, baselines[suite.gate.baseline.run_dir], suite.name,
                                       alone=not several, statistics=config.statistics, gate=suite.gate.baseline)
        comparisons[suite.name] = comparison
        thresholds = stored_suite.dataset.suite_thresholds
        suite_thresholds = SuiteThresholds(thresholds.min_pass_rate, thresholds.min_score,
                                           tuple(thresholds.category_pass_rates), thresholds.category_level
                                           ) if thresholds else None
        gates.append(SuiteGate(suite.name if several else None, stored_suite.scores, suite.gate, suite_thresholds,
                               comparison, Coverage.of_summary(stored_suite.dataset)))
    checks = [*decide_suites(gates),
              *serving_checks(summary.serving, config.gate.serving, load_serving_baseline(config.gate.serving))]
    coverage = Coverage.of_all(Coverage.of_summary(suite.dataset) for suite in summary.suites)
    old = summary.verdict
    complete = old.status != "incomplete"
    decision = verdict(checks, complete=complete, incomplete_reason=None if complete else old.reason,
                       coverage=coverage)
    write_outputs(run_dir, summary.regated(public_config(config), comparisons, decision), config.report,
                  then=f"free space and run `ray-eval gate {run_dir}` again")
    return decision


def _is_gate_key(override: str) -> bool:
    key = override.partition("=")[0].strip().split(".")
    return key[0] == "gate" or (key[0] == "suites" and len(key) > 2 and key[2] == "gate")


def _take_gates(stored: dict[str, Any], other: EvalConfig, source: Path) -> None:
    """The stored config with another config's gates: the run-wide block, and each suite's from the other file's
    suite of the same name."""
    stored["gate"] = other.gate.model_dump(mode="json")
    if not stored.get("suites"):
        return
    gates = {suite.name: suite.gate for suite in other.evaluated_suites()}
    suites = []
    for suite in stored["suites"]:
        if suite["name"] not in gates:
            raise UsageError(f"{source} has no suite {suite['name']!r}, whose gate this run needs")
        suites.append({**suite, "gate": gates[suite["name"]].model_dump(mode="json")})
    stored["suites"] = suites


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
    scores: tuple[tuple[str, float | None], ...] = ()  # each suite's overall score (0-100) of a complete run
    reason: str | None = None  # why a run is incomplete, or its files cannot be read

    @property
    def score_text(self) -> str:
        """The score column: a one-suite run's score, or each suite's, named."""
        def shown(score: float | None) -> str:
            return "-" if score is None else f"{score:.1f}"

        if len(self.scores) == 1:
            return shown(self.scores[0][1])
        return ", ".join(f"{name} {shown(score)}" for name, score in self.scores) or "-"

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
    scores = tuple((suite.name, suite.scores.overall.score) for suite in summary.suites) if summary is not None else ()
    return RunListing(**base, status="complete", verdict=decision.status, scores=scores)


def runs_table(listings: list[RunListing]) -> str:
    """Aligned columns, one run a line; an unfinished run's line ends with the command that resumes it."""
    header = ("run id", "started", "status", "verdict", "score", "model", "")
    rows = [header] + [(
        listing.run_id, listing.started_at or "-", listing.status, listing.verdict or "-",
        listing.score_text, listing.model or "-",
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
