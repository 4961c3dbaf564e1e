"""Views of summary.json and verdict.json for report.html, and the formatting filters of its template.

Each view gives the (strict) template every key it reads. Keys newer than a summary (intervals, statistics,
diagnostics, a comparison with a baseline) may be absent or null: a missing interval is left out of its cell and a
missing section's view is None, so the page shows no empty heading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ray_eval.outputs.charts import as_interval, as_number, delta_chart, diagnostics_chart, score_chart
from ray_eval.outputs.explain import rows_line, weights_line
from ray_eval.verdict.comparison_verdict import (
    ComparisonVerdict,
    PairedGroup,
    comparison_verdict,
    min_paired_samples,
    too_few_reason,
)
from ray_eval.verdict.serving_gate import SERVING_CHECK_FORMATS
from ray_eval.verdict.summary_model import (
    Check,
    Comparison,
    Diagnostics,
    PairedGroupScores,
    Scores,
    SuiteResult,
    Summary,
    Tokens,
)

VERDICT_BANNERS = {"passed": "PASSED", "failed": "FAILED", "undecided": "UNDECIDED: not a pass",
                   "incomplete": "COULD NOT COMPLETE"}
TEST_NAMES = {"mcnemar": "McNemar's test", "paired_bootstrap": "paired bootstrap"}
# The class of a change's number and word: the page's own colours for a significant change, none for the rest.
VERDICT_CLASSES = {ComparisonVerdict.IMPROVED: "better", ComparisonVerdict.REGRESSED: "worse"}
LOWEST_CATEGORIES = 10  # rows of the "lowest pass rates" table


# ---- formatting (template filters) -----------------------------------------------------------------------------------


def format_score(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def format_pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def format_delta(value: float | None) -> str:
    """A signed difference in score points: +1.2, -0.4 (never -0.0)."""
    number = as_number(value)
    if number is None:
        return "–"
    text = f"{number:+.1f}"
    return "+0.0" if text == "-0.0" else text


def format_gain(value: float | None) -> str:
    """A signed difference of two 0-1 shares, in percentage points."""
    number = as_number(value)
    return "–" if number is None else f"{format_delta(100 * number)} pts"


def format_gain_ci(interval: Any) -> str:
    return _interval_text(interval, lambda value: format_delta(100 * value))


def format_score_ci(interval: Any) -> str:
    return _interval_text(interval, format_score)


def format_pct_ci(interval: Any) -> str:
    return _interval_text(interval, format_pct)


def format_delta_ci(interval: Any) -> str:
    return _interval_text(interval, format_delta)


def _interval_text(interval: Any, shown: Any) -> str:
    """"[lo, hi]", or "" when there is no (well-formed) interval."""
    bounds = as_interval(interval)
    return "" if bounds is None else f"[{shown(bounds[0])}, {shown(bounds[1])}]"


def format_p_value(value: float | None) -> str:
    number = as_number(value)
    if number is None:
        return "p –"
    return "p < 0.001" if number < 0.001 else f"p = {number:.3f}"


def confidence_label(value: Any) -> str | None:
    """0.95 -> "95%"."""
    number = as_number(value)
    return None if number is None or not 0 < number < 1 else f"{100 * number:g}%"


def bar_width(score: float | None) -> str:
    """A CSS width in percent for a 0-100 score: always a plain number, whatever the input, as it goes into a style."""
    try:
        number = float(score) if score is not None else 0.0
    except (TypeError, ValueError):
        number = 0.0
    return f"{min(max(number, 0.0), 100.0) if number == number else 0.0:.1f}"  # NaN fails number == number


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


FILTERS = {
    "score": format_score, "pct": format_pct, "delta": format_delta, "gain": format_gain, "gain_ci": format_gain_ci,
    "score_ci": format_score_ci,
    "pct_ci": format_pct_ci, "delta_ci": format_delta_ci, "p_value": format_p_value, "bar_width": bar_width,
    "duration": format_duration,
}
# How a gate check's value and threshold are shown, by its metric: score points, a signed change in points, counts;
# the other metrics are shares, shown in %.
CHECK_FORMATS: dict[str, Callable[[float | None], str]] = {
    "score": format_score, "regression": lambda value: f"{format_delta(value)} pts", "errors": str, "rows": str,
    **SERVING_CHECK_FORMATS,
}


# ---- overview, checks, categories ------------------------------------------------------------------------------------


def overview(summary: Summary) -> dict[str, Any]:
    """The first section's fields of the run, each present (None where unknown), so the strict template never misses a
    key; each suite's own (its dataset, scores and sections) are suite_view's."""
    model, decision = summary.model, summary.verdict
    undecided = [check.name for check in decision.checks or [] if check.result == "undecided"]
    return {
        "status": decision.status,
        "banner": VERDICT_BANNERS[decision.status],
        "reason": decision.reason,
        "failed_checks": [name for name in decision.failed_checks if name not in undecided],
        "undecided_checks": undecided,
        "model_label": model.label or summary.engine.model or "unknown model",
        "served_as": model.served_as,
        "stand_in": model.stand_in,
        "stand_in_note": (model.note or "a scripted stand-in model answered: these scores say nothing about a model")
        if model.stand_in else None,
        "model_note": None if model.stand_in else model.note,  # a real model's, e.g. the demo model's
        "engine_kind": summary.engine.kind,
        "engine_url": summary.engine.base_url,
        "run_id": summary.run_id,
        "started_at": summary.started_at,
        "finished_at": summary.finished_at,
        "duration_s": summary.duration_s,
        "tokens": _run_tokens(summary),
        "retries": sum(suite.scores.retries or 0 for suite in summary.suites),
        "errors_by_stage": _run_errors(summary, "by_stage"),
        "errors_by_type": _run_errors(summary, "by_type"),
        "config_fingerprint": summary.config_fingerprint,
        "versions": {name: version for name, version in summary.versions.items() if version},
    }


def suite_view(suite: SuiteResult, position: int | None) -> dict[str, Any]:
    """One suite's fields and sections (its dataset, scores, categories, diagnostics, comparison). `position` (1-based)
    is where a several-suite run's page shows it: its sections' ids and its charts' titles then name it; None for a
    one-suite run, whose page is as it was before suites."""
    dataset, counts, scores = suite.dataset, suite.counts, suite.scores
    overall = scores.overall
    chart_prefix = "" if position is None else f"{suite.name}: "
    suffix = "" if position is None else f"-{position}"
    return {
        "name": suite.name,
        "anchor": f"suite{suffix}",
        "dataset_name": Path(dataset.path).name,
        "dataset_path": dataset.path,
        "dataset_format": dataset.format,
        "dataset_rows": dataset.rows,
        "rows_line": rows_line(dataset),
        "partial": bool(dataset.partial),
        "weights_line": weights_line(scores),
        "dataset_fingerprint": dataset.fingerprint,
        "invalid_rows": dataset.invalid_rows or 0,
        "score": overall.score,
        "score_ci": overall.score_ci,
        "pass_rate": overall.pass_rate,
        "pass_rate_ci": overall.pass_rate_ci,
        "results": overall.n,
        "passed": overall.passed,
        "errors": counts.errors,
        "unparsed": counts.unparsed,
        "latency": scores.latency_s,
        "statistics_note": statistics_note(suite),
        "category_tables": category_tables(scores, chart_prefix),
        "categories_id": f"categories{suffix}",
        "critical": scores.critical,
        "lowest_categories": lowest_categories(scores),
        "unparsed_by_format": {name: group.unparsed for name, group in scores.by_format.items() if group.unparsed},
        "diagnostics": diagnostics_view(suite.diagnostics, chart_prefix, f"diagnostics{suffix}"),
        "comparison": comparison_view(suite.comparison, section_id=f"comparison{suffix}", chart_prefix=chart_prefix),
    }


def _run_tokens(summary: Summary) -> Tokens | None:
    """The run's tokens, every suite's added up; None when no suite recorded them."""
    counted = [suite.scores.tokens for suite in summary.suites if suite.scores.tokens is not None]
    if not counted:
        return None
    return Tokens(prompt=sum(tokens.prompt for tokens in counted),
                  completion=sum(tokens.completion for tokens in counted))


def _run_errors(summary: Summary, grouping: str) -> dict[str, int]:
    """The run's error rows by stage or type (`grouping`: by_stage, by_type), every suite's added up."""
    total: dict[str, int] = {}
    for suite in summary.suites:
        errors = suite.scores.errors
        for name, count in (getattr(errors, grouping) if errors else {}).items():
            total[name] = total.get(name, 0) + count
    return total


def check_view(check: Check) -> dict[str, Any]:
    shown = CHECK_FORMATS.get(check.metric, format_pct)  # the rest are shares
    return {
        "name": check.name,
        "group": check.group,
        "value": shown(check.value) if check.value is not None else "–",
        "threshold": f"{'≥' if check.comparison == '>=' else '≤'} {shown(check.threshold)}",
        "outcome": check.result,
        "source": check.source,
        "samples": check.samples,
        "note": check.note,
    }


def category_tables(scores: Scores, chart_prefix: str = "") -> list[dict[str, Any]]:
    """One table per grouping present: subset, format, input type, then each label level; subsets and formats
    come with a chart of their scores next to the overall one (titled after `chart_prefix`, a suite's name)."""
    overall = scores.overall
    tables = [
        {"title": "By subset", "column": "subset", "groups": scores.by_subset,
         "chart": score_chart(scores.by_subset, overall, title=f"{chart_prefix}Score by subset")},
        {"title": "By answer format", "column": "format", "groups": scores.by_format,
         "chart": score_chart(scores.by_format, overall, title=f"{chart_prefix}Score by answer format")},
        {"title": "By input type", "column": "input type", "groups": scores.by_input_type, "chart": ""},
    ]
    for level, groups in scores.by_label.items():
        tables.append({"title": f"By label {level.upper()}", "column": level.upper(), "groups": groups, "chart": ""})
    return [table for table in tables if table["groups"]]


def lowest_categories(scores: Scores) -> list[dict[str, Any]]:
    """The label categories of every level with the lowest pass rates (ties: the larger group first)."""
    ranked = sorted((rate, -group.n, level.upper(), name, group)  # a level and name never repeat: groups never compared
                    for level, groups in scores.by_label.items()
                    for name, group in groups.items() if (rate := group.pass_rate) is not None)
    return [{"level": level, "name": name, "n": group.n, "score": group.score, "score_ci": group.score_ci,
             "pass_rate": group.pass_rate, "pass_rate_ci": group.pass_rate_ci, "errors": group.errors}
            for _, _, level, name, group in ranked[:LOWEST_CATEGORIES]]


def statistics_note(suite: SuiteResult) -> str | None:
    """The one sentence naming the intervals' level and method; None when the suite's scores have no interval."""
    groups = [group for _, _, group in suite.scores.groups()]
    if not any(as_interval(group.score_ci) or as_interval(group.pass_rate_ci) for group in groups):
        return None
    statistics = suite.statistics
    if statistics is None:  # intervals from before the statistics section was written
        return "Brackets hold bootstrap confidence intervals."
    level = confidence_label(statistics.confidence)
    note = f"Brackets hold {level + ' ' if level else ''}{statistics.method} confidence intervals"
    if statistics.resamples:
        note += f" ({statistics.resamples} resamples)"
    if statistics.clustered:
        note += (", clustered by shared media: samples sharing an image or video are resampled together"
                 + (f" ({statistics.clusters} clusters)" if statistics.clusters else ""))
    return note + "."


# ---- visual diagnostics --------------------------------------------------------------------------------------------


def diagnostics_view(diagnostics: Diagnostics | None, chart_prefix: str = "",
                     section_id: str = "diagnostics") -> dict[str, Any] | None:
    """Rows (overall, then each subset) of the blind-pass diagnostics and their chart; None without any."""
    if diagnostics is None:
        return None
    named = [("overall", diagnostics.overall, True)]
    named += [(name, group, False) for name, group in diagnostics.by_subset.items()]
    rows = [{"name": name, "overall": is_overall, "n": group.n, "excluded": group.excluded,
             "with_vision": as_number(group.accuracy_with_vision),
             "without_vision": as_number(group.accuracy_without_vision),
             "mg": as_number(group.MG), "mg_ci": group.MG_ci, "vnr": as_number(group.VNR), "vif": as_number(group.VIF)}
            for name, group, is_overall in named]
    return {"rows": rows, "section_id": section_id,
            "chart": diagnostics_chart(diagnostics, title=f"{chart_prefix}Accuracy with and without vision")}


# ---- comparison with a baseline ------------------------------------------------------------------------------------


def comparison_view(comparison: Comparison | None, standalone: bool = False, section_id: str = "comparison",
                    chart_prefix: str = "") -> dict[str, Any] | None:
    """The paired comparison with the baseline run: verdict, headline, tables, chart and flipped samples; None
    without one (a comparison without any paired sample still says so). In a run's report the candidate is "this
    run"; on the comparison's own page (`standalone`) just the candidate."""
    if comparison is None:
        return None
    minimum = min_paired_samples(comparison)
    overall = _paired_group("overall", comparison.overall, minimum)
    tables = [_paired_table(title, column, groups, minimum)
              for title, column, groups in (("By subset", "subset", comparison.by_subset),
                                            ("By answer format", "format", comparison.by_format))]
    label_tables = [_paired_table(f"By label {level.upper()}", level.upper(), groups, minimum)
                    for level, groups in comparison.by_label.items()]
    tables, label_tables = [t for t in tables if t["rows"]], [t for t in label_tables if t["rows"]]
    verdict = comparison_verdict(comparison)
    return {
        "verdict": verdict.value,
        "verdict_class": VERDICT_CLASSES.get(verdict, "undecided" if verdict is ComparisonVerdict.TOO_FEW else "same"),
        "verdict_reason": too_few_reason(comparison) if verdict is ComparisonVerdict.TOO_FEW else None,
        "section_id": section_id,
        "candidate_title": "Candidate" if standalone else "This run (candidate)",
        "baseline": comparison.baseline,
        "candidate": comparison.candidate,
        "paired_samples": comparison.paired_samples,
        "only_in_baseline": comparison.only_in_baseline,
        "only_in_candidate": comparison.only_in_candidate,
        "notes": [note for note in comparison.notes if note],
        "confidence": confidence_label(comparison.confidence),
        "overall": overall,
        "chart": delta_chart(comparison, title=f"{chart_prefix}Score change against the baseline, by subset"),
        "tables": tables,
        "label_tables": label_tables,
        "flipped": comparison.flipped,
        "gained": comparison.flipped_total.gained,
        "lost": comparison.flipped_total.lost,
    }


def _paired_table(title: str, column: str, groups: Mapping[str, PairedGroupScores | None],
                  minimum: int) -> dict[str, Any]:
    rows = [_paired_group(name, group, minimum) for name, group in groups.items()]
    return {"title": title, "column": column, "rows": [row for row in rows if row is not None]}


def _paired_group(name: str, stored: PairedGroupScores | None, minimum: int) -> dict[str, Any] | None:
    group = PairedGroup.of(stored)
    if group is None:
        return None
    verdict = group.verdict(minimum)
    return {"name": name, "n": group.n, "baseline_score": group.baseline_score,
            "candidate_score": group.candidate_score, "delta": group.delta, "delta_ci": group.shown_interval,
            "one_cluster": group.degenerate, "p_value": group.p_value,
            "test": TEST_NAMES.get(group.test, group.test) if group.test else None,
            "verdict": verdict.row_word, "direction": VERDICT_CLASSES.get(verdict, "same")}
