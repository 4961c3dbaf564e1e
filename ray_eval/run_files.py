"""The names of the files a run directory holds besides results.parquet, and which of them verdict.json vouches for
(ray_eval/outputs writes them in that order).

A module without imports of ray-eval's own: `ray-eval ci submit` checks the reports it fetched against it without
importing the report writers (ray.data, pandas, jinja2: about a second of a CI step's start and exit).
"""

from __future__ import annotations

from pathlib import Path

SUMMARY_FILE, VERDICT_FILE, MARKDOWN_FILE, JUNIT_FILE, REPORT_FILE = (
    "summary.json", "verdict.json", "summary.md", "junit.xml", "report.html")
VOUCHED_FILES = (SUMMARY_FILE, MARKDOWN_FILE, JUNIT_FILE, REPORT_FILE)  # on disk whenever verdict.json is


def missing_reports(run_dir: Path) -> list[str]:
    """The files verdict.json vouches for that are not in `run_dir`."""
    return [name for name in VOUCHED_FILES if not (Path(run_dir) / name).is_file()]
