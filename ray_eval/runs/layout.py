"""A run directory's files: their names and where each lies. Only the run store (ray_eval/runs) names them; every
other module asks a RunLayout (this module: where a file is) or a RunStore (store.py: its contents).

    run.json                     the config and its fingerprint, written when the run starts
    results.parts/part-*.parquet checkpoint parts, merged into results.parquet when the run ends
    results.parquet              one row per sample
    blind_results.parts/, blind_results.parquet   the same for the blind pass (diagnostics.blind_pass)
    summary.json                 what the run concluded (with a copy of its verdict)
    summary.md, junit.xml, report.html            the reports
    verdict.json                 the decision: written last, it vouches for summary.json and the reports

A module without imports of ray-eval's own: `ray-eval ci submit` checks the reports it fetched against it without
importing the report writers (ray.data, pandas, jinja2: about a second of a CI step's start and exit).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RUN_FILE = "run.json"
RESULTS_FILE = "results.parquet"
# The blind pass's rows (diagnostics.blind_pass), one per sample with media.
BLIND_RESULTS_FILE = "blind_results.parquet"
SUMMARY_FILE, VERDICT_FILE, MARKDOWN_FILE, JUNIT_FILE, REPORT_FILE = (
    "summary.json", "verdict.json", "summary.md", "junit.xml", "report.html")
VOUCHED_FILES = (SUMMARY_FILE, MARKDOWN_FILE, JUNIT_FILE, REPORT_FILE)  # on disk whenever verdict.json is
# What `ray-eval ci pack` carries to CI (and all a bundle fetched from a job's log may hold): the verdict, the reports
# and the run's record. results.parquet stays on the cluster's volume (it can be large; `ray-eval rescore`/`compare`
# work there).
PACKED_FILES = (VERDICT_FILE, SUMMARY_FILE, MARKDOWN_FILE, JUNIT_FILE, REPORT_FILE, RUN_FILE)
PART_PATTERN = "part-*.parquet"


@dataclass(frozen=True)
class ResultsFiles:
    """One results file and the folder of its checkpoint parts."""

    run_dir: Path
    merged: Path  # results.parquet (or blind_results.parquet)
    parts_dir: Path

    @classmethod
    def named(cls, run_dir: Path, file_name: str) -> ResultsFiles:
        return cls(run_dir, run_dir / file_name, run_dir / file_name.replace(".parquet", ".parts"))

    def part(self, index: int) -> Path:
        return self.parts_dir / f"part-{index:05d}.parquet"

    def parts(self) -> list[Path]:
        """The checkpoint parts on disk, oldest first."""
        return sorted(self.parts_dir.glob(PART_PATTERN))

    @staticmethod
    def part_index(part: Path) -> int:
        return int(part.stem.split("-")[1])


class RunLayout:
    """Where each file of one run directory lies."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.run_file = self.run_dir / RUN_FILE
        self.results = ResultsFiles.named(self.run_dir, RESULTS_FILE)
        self.blind_results = ResultsFiles.named(self.run_dir, BLIND_RESULTS_FILE)
        self.summary = self.run_dir / SUMMARY_FILE
        self.verdict = self.run_dir / VERDICT_FILE
        self.markdown = self.run_dir / MARKDOWN_FILE
        self.junit = self.run_dir / JUNIT_FILE
        self.report = self.run_dir / REPORT_FILE

    def results_files(self, blind: bool = False) -> ResultsFiles:
        return self.blind_results if blind else self.results

    def is_run(self) -> bool:
        """Whether the folder holds a run (its run.json), finished or not."""
        return self.run_file.is_file()

    def missing_reports(self) -> list[str]:
        """The files verdict.json vouches for that are not in the run directory."""
        return [name for name in VOUCHED_FILES if not (self.run_dir / name).is_file()]

    def packed_files(self) -> list[Path]:
        """The files `ray-eval ci pack` carries (PACKED_FILES) that the run directory holds."""
        return [self.run_dir / name for name in PACKED_FILES if (self.run_dir / name).is_file()]
