"""Everything a run leaves in its directory besides results.parquet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray_eval.config import ReportConfig
from ray_eval.malloc import release_free_memory
from ray_eval.outputs.junit import write_junit
from ray_eval.outputs.report import write_report
from ray_eval.outputs.results import RESULTS_FILE
from ray_eval.outputs.summary import render_markdown

SUMMARY_FILE, VERDICT_FILE, MARKDOWN_FILE, JUNIT_FILE, REPORT_FILE = (
    "summary.json", "verdict.json", "summary.md", "junit.xml", "report.html")


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def write_outputs(run_dir: Path, summary: dict[str, Any], decision: dict[str, Any], report: ReportConfig) -> None:
    write_json(run_dir / SUMMARY_FILE, summary)
    write_json(run_dir / VERDICT_FILE, decision)
    write_decision_outputs(run_dir, summary, decision, report)


def write_decision_outputs(run_dir: Path, summary: dict[str, Any], decision: dict[str, Any], report: ReportConfig) -> None:
    """The human-facing outputs, rewritten by `ray-eval gate` and `ray-eval report` as well."""
    (run_dir / MARKDOWN_FILE).write_text(render_markdown(summary, decision), encoding="utf-8")
    write_junit(run_dir / JUNIT_FILE, decision, run_dir / RESULTS_FILE)
    release_free_memory()
    write_report(run_dir / REPORT_FILE, summary, decision, run_dir, report)
