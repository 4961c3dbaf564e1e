"""summary.json as typed models: what a run concludes (run info, scores with their intervals by group, diagnostics,
the comparison with a baseline, the gate's checks and verdict), with a schema version.

Version 1 is summary.json as ray-eval wrote it before versions were recorded (a file without `schema_version` is
version 1); version 2 adds `serving`; version 3 holds a run's suites (ShopBench and its guard suites, each with its
dataset, counts, scores, diagnostics and comparison) in `suites`, where versions 1 and 2 held one dataset's at the
top level. A version this code does not know is refused in one line: a reader of an older ray-eval refuses a newer
file by its version, never by a key it has not heard of. An older file is read into the version-3 shape (its one
dataset becomes its one suite, named as a one-dataset config names it). A version-3 model read from a file gives
that file back: `model_dump(mode="json")` written with the writer's options (runs/atomic.write_json_atomically) is
byte-identical.
To keep it so, a key that a file may lack (one older code did not write, or one only some engines have) is a field
with a default that is dumped only when it was given (read from the file or passed by the code that builds it), and
every field is declared in the order the writer puts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError, model_validator

from ray_eval.config import datasets_fingerprint, suite_name_of
from ray_eval.errors import UsageError

# The sections of what the results say, as other modules import them (the aliases say: exported).
from ray_eval.verdict.results_model import Comparison as Comparison
from ray_eval.verdict.results_model import Diagnostics as Diagnostics
from ray_eval.verdict.results_model import DiagnosticsGroup as DiagnosticsGroup
from ray_eval.verdict.results_model import ErrorCounts as ErrorCounts
from ray_eval.verdict.results_model import Flip as Flip
from ray_eval.verdict.results_model import FlipTotals as FlipTotals
from ray_eval.verdict.results_model import GroupScores as GroupScores
from ray_eval.verdict.results_model import Latency as Latency
from ray_eval.verdict.results_model import PairedGroupScores as PairedGroupScores
from ray_eval.verdict.results_model import RunIdentity as RunIdentity
from ray_eval.verdict.results_model import Scores as Scores
from ray_eval.verdict.results_model import Serving as Serving
from ray_eval.verdict.results_model import ServingSetup as ServingSetup
from ray_eval.verdict.results_model import Statistics as Statistics
from ray_eval.verdict.results_model import Tokens as Tokens
from ray_eval.verdict.results_model import Weights as Weights
from ray_eval.verdict.stored import Number as Number
from ray_eval.verdict.stored import Stored as Stored

SCHEMA_VERSION = 3  # the version this code writes and the newest it reads (2: `serving`; 3: `suites`)


# ---- run info ------------------------------------------------------------------------------------------------------


class ModelInfo(Stored):
    label: str | None
    served_as: list[str]
    stand_in: bool
    note: str | None


class EngineInfo(Stored):
    """The engine as its kind describes it (engines/kinds.py: describe); each kind adds its own keys."""

    kind: str
    model: str | None
    base_url: str | None = None  # openai, scripted
    app_name: str | None = None  # serve_handle
    deployment: str | None = None  # serve_handle
    serve_config: str | None = None  # a Serve config deployed for the run


class SuiteThresholdsInfo(Stored):
    """A seed suite's own thresholds (shopbench/readers/base.SuiteThresholds as stored)."""

    min_pass_rate: Number | None = None
    min_score: Number | None = None
    category_pass_rates: list[tuple[str, Number]] = []
    category_level: str = "l2"


class DatasetInfo(Stored):
    path: str
    format: str
    rows: int
    file_rows: int | None = None  # not in summaries written before partial runs were recorded
    partial: bool | None = None
    fingerprint: str | None
    invalid_rows: int | None = None
    suite_thresholds: SuiteThresholdsInfo | None = None


class Counts(Stored):
    samples: int
    results: int
    passed: int
    errors: int
    unparsed: int


# ---- the gate's verdict --------------------------------------------------------------------------------------------


class Check(Stored):
    """One gate check (gate.Check as stored)."""

    name: str
    metric: str
    group: str
    value: Number | None
    threshold: Number
    comparison: str
    passed: bool
    source: str
    samples: int
    note: str | None = None
    outcome: Literal["passed", "failed", "undecided"] | None = None
    p_value: Number | None = None  # a baseline check's p_regressed (its comparison's), only on such a check
    suite: str | None = None  # the suite whose check it is, in a run of several suites; none: the run's own check

    @property
    def result(self) -> Literal["passed", "failed", "undecided"]:
        """The check's outcome; a check stored before `outcome` was recorded is passed or failed."""
        return self.outcome or ("passed" if self.passed else "failed")


class CoverageInfo(Stored):
    evaluated_rows: int
    dataset_rows: int
    partial: bool


class Verdict(Stored):
    """The gate's decision (verdict.json; summary.json holds the same). Summaries of older versions hold only the
    outcome: status, passed, exit_code and failed_checks."""

    status: Literal["passed", "failed", "undecided", "incomplete"]
    passed: bool
    exit_code: int
    reason: str | None = None
    failed_checks: list[str]
    checks: list[Check] | None = None
    note: str | None = None
    coverage: CoverageInfo | None = None


class MetricsExport(Stored):
    """What the Prometheus export did (metrics/run_metrics.RunMetrics.finish)."""

    pushgateway_url: str | None
    textfile: str | None
    grouping_key: dict[str, str]
    pushes: int
    errors: list[str]


# ---- the whole file ------------------------------------------------------------------------------------------------


class SuiteResult(Stored):
    """One suite of a run: its dataset, counts, scores with their intervals, diagnostics, and its comparison with
    the baseline run's same suite."""

    name: str
    dataset: DatasetInfo
    counts: Counts
    scores: Scores
    statistics: Statistics | None = None
    diagnostics: Diagnostics | None = None
    comparison: Comparison | None = None


class Summary(Stored):
    """summary.json."""

    schema_version: int = 1  # absent in files written before it was recorded: those are version 1
    run_id: str
    status: Literal["complete", "incomplete"]
    incomplete_reason: str | None = None
    started_at: str | None
    finished_at: str | None
    duration_s: Number
    model: ModelInfo
    engine: EngineInfo
    counts: Counts  # the run's, over every suite
    suites: list[SuiteResult]
    verdict: Verdict
    resume_command: str | None = None
    config: dict[str, Any]  # the run's config as stored (outputs/summary.public_config), read by config.validate_config
    config_fingerprint: str | None = None
    versions: dict[str, str | None] = {}
    serving: Serving | None = None  # not in summaries written before it was recorded
    metrics: MetricsExport | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_version(cls, data: Any) -> Any:
        if isinstance(data, dict):
            version = data.get("schema_version", 1)
            check_version(version)
            if version < 3:
                return _one_suite(data)
        return data

    def suite(self, name: str) -> SuiteResult | None:
        return next((suite for suite in self.suites if suite.name == name), None)

    @property
    def dataset_fingerprint(self) -> str | None:
        """The fingerprint of everything the run evaluated: its one dataset's sha256, or with several suites a hash
        of theirs (config.datasets_fingerprint)."""
        return datasets_fingerprint([suite.dataset.fingerprint for suite in self.suites])

    def with_metrics(self, metrics: MetricsExport | None) -> Summary:
        """The summary with what the Prometheus export did (the export reads the summary first)."""
        return self.model_copy(update={"metrics": metrics})

    def regated(self, config: dict[str, Any], comparisons: dict[str, Comparison | None], verdict: Verdict) -> Summary:
        """The summary after `ray-eval gate`: another gate config, each suite's comparison with the baseline and the
        verdict; the scores and everything else the results say stay as they were."""
        suites = [suite.model_copy(update={"comparison": comparisons.get(suite.name)}) for suite in self.suites]
        return self.model_copy(update={"config": config, "suites": suites, "verdict": verdict})

    def stored(self) -> dict[str, Any]:
        """summary.json's content, this version's number first."""
        return self.model_copy(update={"schema_version": SCHEMA_VERSION}).model_dump(mode="json")


MOVED_TO_THE_SUITE = ("dataset", "scores", "statistics", "diagnostics", "comparison")


def _one_suite(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 or 2 summary in the version-3 shape: its one dataset's parts become its one suite, named as the
    config's one dataset names it; its counts are the run's and the suite's."""
    data = dict(data)
    suite = {"name": suite_name_of(Path(str((data.get("dataset") or {}).get("path", "")))),
             **{key: data.pop(key) for key in MOVED_TO_THE_SUITE if key in data}}
    if "counts" in data:
        suite["counts"] = data["counts"]
    data["suites"] = [suite]
    return data


def check_version(version: Any) -> None:
    """Refuse a summary.json of a version this code cannot read (ValueError, one line)."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"schema_version {version!r} is not a summary.json version")
    if version > SCHEMA_VERSION:
        raise ValueError(f"schema_version {version} is newer than this ray-eval reads (up to {SCHEMA_VERSION}): "
                         "read it with the ray-eval that wrote it, or a newer one")


def load_summary(data: Any, source: str) -> Summary:
    """A summary.json's content as a Summary; refused in one line naming the file (UsageError, exit 2) when it is
    of an unknown version or not a summary at all."""
    if not isinstance(data, dict):
        raise UsageError(f"{source} is not a ray-eval summary (a JSON object was expected)")
    try:
        check_version(data.get("schema_version", 1))
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from None
    try:
        return Summary.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise UsageError(f"{source} is not a ray-eval summary: {where}: {first['msg']} "
                         f"({exc.error_count()} problem(s))") from None
