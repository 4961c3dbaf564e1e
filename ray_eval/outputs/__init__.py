"""Everything a run leaves in its directory besides its results: summary.json and the reports drawn from it. The run
store (ray_eval/runs/store.py) writes them, each atomically, in the order that keeps verdict.json true: withdrawn
before any of them changes, written again last.
"""

from __future__ import annotations

from pathlib import Path

from ray_eval.config import ReportConfig
from ray_eval.outputs.junit import write_junit
from ray_eval.outputs.report import write_report
from ray_eval.outputs.summary import render_markdown
from ray_eval.runs.store import ReportWriters, RunStore
from ray_eval.verdict.summary_model import Summary


def write_outputs(run_dir: Path, summary: Summary, report: ReportConfig, then: str) -> None:
    """summary.json, the reports, and verdict.json last. `then` says how to continue when summary.json cannot be
    written; once it is, `ray-eval report RUN_DIR` writes the rest from it."""
    store = RunStore(run_dir)
    store.write_outputs(summary, ReportWriters(
        markdown=lambda: render_markdown(summary),
        junit=lambda path: write_junit(path, summary, store.results.merged),
        report=lambda path: write_report(path, summary, store.run_dir, report),
    ), then)
