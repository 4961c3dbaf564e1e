"""Views of summary.json and verdict.json for report.html, and the formatting filters of its template.

Each view gives the (strict) template every key it reads. Keys newer than a summary (intervals, statistics,
diagnostics, a comparison with a baseline) may be absent or null: a missing interval is left out of its cell and a
missing section's view is None, so the page shows no empty heading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ray_eval.outputs.charts import as_interval, as_number, delta_chart, diagnostics_chart, score_chart
from ray_eval.outputs.explain import rows_line, weights_line
from ray_eval.verdict.comparison_verdict import (
    ComparisonVerdict,
    PairedGroup,
    comparison_verdict,
    min_paired_samples,
    too_few_reason,
)

VERDICT_BANNERS = {"passed": "PASSED", "failed": "FAILED", "undecided": "UNDECIDED: not a pass",
                   "incomplete": "COULD NOT COMPLETE"}
CHECK_OUTCOMES = ("passed", "failed", "undecided")
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
    "score": format_score, "pct": format_pct, "delta": format_delta, "gain": format_gain, "score_ci": format_score_ci,
    "pct_ci": format_pct_ci, "delta_ci": format_delta_ci, "p_value": format_p_value, "bar_width": bar_width,
    "duration": format_duration,
}


# ---- overview, checks, categories ------------------------------------------------------------------------------------


def overview(summary: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    """The first section's fields, each present (None where unknown), so the strict template never misses a key."""
    model, dataset, counts = summary.get("model", {}), summary.get("dataset", {}), summary.get("counts", {})
    engine, scores = summary.get("engine", {}), summary["scores"]
    overall = scores["overall"]
    status = decision["status"] if decision["status"] in VERDICT_BANNERS else "incomplete"
    stand_in = bool(model.get("stand_in"))
    dataset_path = dataset.get("path")
    checks = decision.get("checks") or []
    undecided = [check["name"] for check in checks if check.get("outcome") == "undecided"]
    return {
        "status": status,
        "banner": VERDICT_BANNERS[status],
        "reason": decision.get("reason"),
        "failed_checks": [name for name in decision.get("failed_checks", []) if name not in undecided],
        "undecided_checks": undecided,
        "model_label": model.get("label") or engine.get("model") or "unknown model",
        "served_as": model.get("served_as") or [],
        "stand_in": stand_in,
        "stand_in_note": (model.get("note") or "a scripted stand-in model answered: these scores say nothing about a model")
        if stand_in else None,
        "engine_kind": engine.get("kind"),
        "engine_url": engine.get("base_url"),
        "dataset_name": Path(dataset_path).name if dataset_path else None,
        "dataset_path": dataset_path,
        "dataset_format": dataset.get("format"),
        "dataset_rows": dataset.get("rows", counts.get("samples")),
        "rows_line": rows_line(dataset) if "rows" in dataset else None,
        "partial": bool(dataset.get("partial")),
        "weights_line": weights_line(scores),
        "dataset_fingerprint": dataset.get("fingerprint"),
        "invalid_rows": dataset.get("invalid_rows") or 0,
        "run_id": summary.get("run_id"),
        "started_at": summary.get("started_at"),
        "finished_at": summary.get("finished_at"),
        "duration_s": summary.get("duration_s"),
        "score": overall.get("score"),
        "score_ci": overall.get("score_ci"),
        "pass_rate": overall.get("pass_rate"),
        "pass_rate_ci": overall.get("pass_rate_ci"),
        "results": overall.get("n", 0),
        "passed": overall.get("passed", 0),
        "errors": counts.get("errors", overall.get("errors", 0)),
        "unparsed": counts.get("unparsed", overall.get("unparsed", 0)),
        "latency": scores.get("latency_s") or {},
        "tokens": scores.get("tokens") or {},
        "retries": scores.get("retries"),
        "config_fingerprint": summary.get("config_fingerprint"),
        "versions": {name: version for name, version in (summary.get("versions") or {}).items() if version},
    }


def check_view(check: dict[str, Any]) -> dict[str, Any]:
    if check["metric"] == "regression":  # a paired difference against the baseline, in score points
        def shown(value: float | None) -> str:
            return f"{format_delta(value)} pts"
    elif check["metric"] in ("errors", "rows"):  # a count of samples or rows
        shown = str
    else:
        shown = format_score if check["metric"] == "score" else format_pct
    outcome = check.get("outcome")
    if outcome not in CHECK_OUTCOMES:
        outcome = "passed" if check["passed"] else "failed"
    return {
        "name": check["name"],
        "group": check["group"],
        "value": shown(check["value"]) if check["value"] is not None else "–",
        "threshold": f"{'≥' if check['comparison'] == '>=' else '≤'} {shown(check['threshold'])}",
        "outcome": outcome,
        "source": check["source"],
        "samples": check["samples"],
        "note": check.get("note"),
    }


def category_tables(scores: dict[str, Any]) -> list[dict[str, Any]]:
    """One table per grouping present: subset, format, input type, then each label level; subsets and formats
    come with a chart of their scores next to the overall one."""
    overall = scores.get("overall")
    tables = [
        {"title": "By subset", "column": "subset", "groups": scores.get("by_subset", {}),
         "chart": score_chart(scores.get("by_subset"), overall, title="Score by subset")},
        {"title": "By answer format", "column": "format", "groups": scores.get("by_format", {}),
         "chart": score_chart(scores.get("by_format"), overall, title="Score by answer format")},
        {"title": "By input type", "column": "input type", "groups": scores.get("by_input_type", {}), "chart": ""},
    ]
    for level, groups in scores.get("by_label", {}).items():
        tables.append({"title": f"By label {level.upper()}", "column": level.upper(), "groups": groups, "chart": ""})
    return [table for table in tables if table["groups"]]


def lowest_categories(scores: dict[str, Any]) -> list[dict[str, Any]]:
    """The label categories of every level with the lowest pass rates (ties: the larger group first)."""
    rows = [{"level": level.upper(), "name": name, "score_ci": None, "pass_rate_ci": None, **group}
            for level, groups in scores.get("by_label", {}).items()
            for name, group in groups.items() if group.get("pass_rate") is not None]
    rows.sort(key=lambda row: (row["pass_rate"], -row["n"], row["level"], row["name"]))
    return rows[:LOWEST_CATEGORIES]


def statistics_note(summary: dict[str, Any]) -> str | None:
    """The one sentence naming the intervals' level and method; None when the summary has no interval."""
    scores = summary["scores"]
    groups = [scores.get("overall"), scores.get("critical")]
    for key in ("by_subset", "by_format", "by_input_type"):
        groups += list((scores.get(key) or {}).values())
    for level in (scores.get("by_label") or {}).values():
        groups += list(level.values())
    if not any(isinstance(group, Mapping) and (as_interval(group.get("score_ci")) or as_interval(group.get("pass_rate_ci")))
               for group in groups):
        return None
    statistics = summary.get("statistics") or {}
    level = confidence_label(statistics.get("confidence"))
    method = statistics.get("method") if isinstance(statistics.get("method"), str) else None
    note = f"Brackets hold {level + ' ' if level else ''}{method or 'bootstrap'} confidence intervals"
    resamples = statistics.get("resamples")
    if resamples:
        note += f" ({resamples} resamples)"
    if statistics.get("clustered"):
        clusters = statistics.get("clusters")
        note += (", clustered by shared media: samples sharing an image or video are resampled together"
                 + (f" ({clusters} clusters)" if clusters else ""))
    return note + "."


# ---- visual diagnostics --------------------------------------------------------------------------------------------


def diagnostics_view(summary: dict[str, Any]) -> dict[str, Any] | None:
    """Rows (overall, then each subset) of the blind-pass diagnostics and their chart; None without any."""
    diagnostics = summary.get("diagnostics")
    if not isinstance(diagnostics, Mapping):
        return None
    named = [("overall", diagnostics.get("overall"), True)]
    named += [(name, group, False) for name, group in (diagnostics.get("by_subset") or {}).items()]
    rows = [{"name": name, "overall": is_overall, "n": group.get("n"), "excluded": group.get("excluded") or 0,
             "with_vision": as_number(group.get("accuracy_with_vision")),
             "without_vision": as_number(group.get("accuracy_without_vision")),
             "mg": as_number(group.get("MG")), "vnr": as_number(group.get("VNR")), "vif": as_number(group.get("VIF"))}
            for name, group, is_overall in named if isinstance(group, Mapping)]
    if not rows:
        return None
    return {"rows": rows, "chart": diagnostics_chart(diagnostics)}


# ---- comparison with a baseline ------------------------------------------------------------------------------------


def comparison_view(summary: Mapping[str, Any], standalone: bool = False) -> dict[str, Any] | None:
    """The paired comparison with the baseline run: verdict, headline, tables, chart and flipped samples; None
    without one (a comparison without any paired sample still says so). In a run's report the candidate is "this
    run"; on the comparison's own page (`standalone`) just the candidate."""
    comparison = summary.get("comparison")
    if not isinstance(comparison, Mapping) or not comparison:
        return None
    minimum = min_paired_samples(comparison)
    overall = _paired_group("overall", comparison.get("overall"), minimum)
    tables = [_paired_table(title, column, comparison.get(key), minimum)
              for title, column, key in (("By subset", "subset", "by_subset"), ("By answer format", "format", "by_format"))]
    label_tables = [_paired_table(f"By label {level.upper()}", level.upper(), groups, minimum)
                    for level, groups in (comparison.get("by_label") or {}).items()]
    tables, label_tables = [t for t in tables if t["rows"]], [t for t in label_tables if t["rows"]]
    flipped = [_flipped_sample(sample) for sample in comparison.get("flipped") or [] if isinstance(sample, Mapping)]
    totals = comparison.get("flipped_total") or {}
    gained = totals.get("gained", sum(sample["change"] == "gained" for sample in flipped))
    lost = totals.get("lost", sum(sample["change"] == "lost" for sample in flipped))
    notes = [str(note) for note in comparison.get("notes") or [] if note]
    if overall is None and not tables and not label_tables and not flipped and not notes \
            and not isinstance(comparison.get("baseline"), Mapping):
        return None
    statistics = summary.get("statistics") or {}
    baseline, candidate = comparison.get("baseline") or {}, comparison.get("candidate") or {}
    verdict = comparison_verdict(comparison)
    return {
        "verdict": verdict.value,
        "verdict_class": VERDICT_CLASSES.get(verdict, "undecided" if verdict is ComparisonVerdict.TOO_FEW else "same"),
        "verdict_reason": too_few_reason(comparison) if verdict is ComparisonVerdict.TOO_FEW else None,
        "candidate_title": "Candidate" if standalone else "This run (candidate)",
        "baseline": {"model": baseline.get("model"), "run_id": baseline.get("run_id"), "run_dir": baseline.get("run_dir")},
        "candidate": {"model": candidate.get("model") or (summary.get("model") or {}).get("label"),
                      "run_id": candidate.get("run_id") or summary.get("run_id"), "run_dir": candidate.get("run_dir")},
        "paired_samples": comparison.get("paired_samples"),
        "only_in_baseline": comparison.get("only_in_baseline") or 0,
        "only_in_candidate": comparison.get("only_in_candidate") or 0,
        "notes": notes,
        "confidence": confidence_label(comparison.get("confidence", statistics.get("confidence"))),
        "overall": overall,
        "chart": delta_chart(comparison, title="Score change against the baseline, by subset"),
        "tables": tables,
        "label_tables": label_tables,
        "flipped": flipped,
        "gained": gained,
        "lost": lost,
    }


def _paired_table(title: str, column: str, groups: Any, minimum: int) -> dict[str, Any]:
    rows = [_paired_group(name, group, minimum) for name, group in groups.items()] if isinstance(groups, Mapping) else []
    return {"title": title, "column": column, "rows": [row for row in rows if row is not None]}


def _paired_group(name: str, stored: Any, minimum: int) -> dict[str, Any] | None:
    group = PairedGroup.from_dict(stored)
    if group is None:
        return None
    verdict = group.verdict(minimum)
    return {"name": name, "n": group.n, "baseline_score": group.baseline_score,
            "candidate_score": group.candidate_score, "delta": group.delta, "delta_ci": group.shown_interval,
            "one_cluster": group.degenerate, "p_value": group.p_value,
            "test": TEST_NAMES.get(group.test, group.test) if group.test else None,
            "verdict": verdict.row_word, "direction": VERDICT_CLASSES.get(verdict, "same")}


def _flipped_sample(sample: Mapping[str, Any]) -> dict[str, Any]:
    return {"sample_id": sample.get("sample_id"), "subset": sample.get("subset"), "format": sample.get("format"),
            "change": sample.get("change") if sample.get("change") in ("gained", "lost") else "changed",
            "baseline_extracted": sample.get("baseline_extracted"), "candidate_extracted": sample.get("candidate_extracted"),
            "baseline_error": bool(sample.get("baseline_error")), "candidate_error": bool(sample.get("candidate_error"))}
