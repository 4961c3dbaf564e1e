"""Everything a run leaves in its directory besides results.parquet, and the order it is written in.

verdict.json is what CI and `ray-eval runs` trust, so it vouches for the rest: it is removed before any output of the
run is (re)written, and written again last, once summary.json, summary.md, junit.xml and report.html are whole on
disk. Each file is written atomically (outputs/atomic.py). A write that fails (a full disk) leaves no verdict: the run
reads as unfinished, and `ray-eval report RUN_DIR` (once summary.json is written; it holds the same decision) or
`ray-eval run --resume RUN_DIR` writes the outputs again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray_eval.config import ReportConfig
from ray_eval.errors import OutputError
from ray_eval.malloc import release_free_memory
from ray_eval.outputs.atomic import fsync_path, write_atomically, write_json_atomically, write_text_atomically
from ray_eval.outputs.junit import write_junit
from ray_eval.outputs.report import write_report
from ray_eval.outputs.results import RESULTS_FILE
from ray_eval.outputs.summary import render_markdown
from ray_eval.run_files import (  # noqa: F401 - the run directory's file names, re-exported
    JUNIT_FILE, MARKDOWN_FILE, REPORT_FILE, SUMMARY_FILE, VERDICT_FILE, VOUCHED_FILES, missing_reports)


def write_json(path: Path, data: Any, then: str = "free space and run the command again") -> Path:
    return write_json_atomically(path, data, then)


def write_outputs(run_dir: Path, summary: dict[str, Any], decision: dict[str, Any], report: ReportConfig,
                  then: str) -> None:
    """summary.json, the reports, and verdict.json last. `then` says how to continue when summary.json cannot be
    written; once it is, `ray-eval report RUN_DIR` writes the rest from it."""
    run_dir = Path(run_dir)
    withdraw_verdict(run_dir)
    write_json(run_dir / SUMMARY_FILE, {**summary, "verdict": decision}, then)
    rewrite = f"free space, then write the reports and verdict.json with `ray-eval report {run_dir}`"
    write_text_atomically(run_dir / MARKDOWN_FILE, render_markdown(summary, decision), rewrite)
    write_atomically(run_dir / JUNIT_FILE, lambda path: write_junit(path, decision, run_dir / RESULTS_FILE), rewrite)
    release_free_memory()
    write_atomically(run_dir / REPORT_FILE, lambda path: write_report(path, summary, decision, run_dir, report),
                     rewrite)
    write_json(run_dir / VERDICT_FILE, decision, rewrite)


def withdraw_verdict(run_dir: Path) -> None:
    """Remove verdict.json before the files it vouches for change: until it is written again, the run has none."""
    path = Path(run_dir) / VERDICT_FILE
    try:
        path.unlink(missing_ok=True)
        fsync_path(path.parent)  # the removal reaches the disk before any new file does
    except OSError as exc:
        raise OutputError(f"cannot remove {path} before rewriting the outputs it vouches for: "
                          f"{exc.strerror or exc}") from None
