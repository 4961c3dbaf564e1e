"""report.html's charts show their numbers, as Chromium draws them.

Each case is the report of a run whose summary is made by the run's own code (aggregation with bootstrap intervals,
the blind-pass diagnostics, the paired comparison with a baseline run) from result rows written here. Chromium opens
the page; for every chart, the axis is read from its drawn grid lines and tick labels, and every bar's rendered box
(getBoundingClientRect, so CSS is applied) must start at the axis's zero, reach the point of its value within a pixel,
on the side of zero its sign says, and its whisker must span its interval. The value printed beside a bar must be the
summary's. A screenshot of each chart and of each whole page is kept under the test artifacts folder.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ray_eval.cli import main
from ray_eval.config import StatisticsConfig, validate_config
from ray_eval.data.dataset import DatasetScan
from ray_eval.data.taxonomy import NO_SUBSET
from ray_eval.outputs import write_outputs
from ray_eval.outputs.summary import build_summary, suite_result
from ray_eval.records import RESULT_SCHEMA
from ray_eval.scoring.diagnostics import diagnostics_of_runs
from ray_eval.verdict.aggregate import statistics_note, summarize, with_clusters
from ray_eval.verdict.compare import COMPARED_COLUMNS, RunResults, compare
from ray_eval.verdict.gate import evaluate_gate, named_for_suite, verdict
from ray_eval.verdict.summary_model import RunIdentity
from tests.browser import DevTools

PIXEL = 1.0  # how far a drawn edge may be from where its value puts it
STATISTICS = StatisticsConfig(bootstrap_resamples=400)


# ---- runs -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How many samples of a subset and format pass, fail, or score partially."""

    subset: str
    format: str
    passed: int
    failed: int
    partial: float | None = None  # a score in (0, 1) for every failed sample of a format question
    one_image: bool = False  # every sample asks about the same image: one media cluster


def result_rows(outcomes: Iterable[Outcome], prefix: str = "s", media_per_sample: int = 1) -> list[dict[str, Any]]:
    rows = []
    for outcome in outcomes:
        for index in range(outcome.passed + outcome.failed):
            passed = index < outcome.passed
            score = 1.0 if passed else (outcome.partial or 0.0)
            number = len(rows)
            row: dict[str, Any] = {field.name: None for field in RESULT_SCHEMA}
            row.update(sample_id=f"{outcome.subset}-{outcome.format}-{index}", source="manifest.jsonl",
                       row_number=number + 1, subset=outcome.subset, format=outcome.format, input_type="single",
                       question=f"question {number}", answer="A", extracted="A" if passed else "B",
                       response="A" if passed else "B", l1="Perception", l2="OCR", weight=1.0, critical=False,
                       status="ok", score=score, passed=passed, unparsed=False, latency_s=0.4, prompt_tokens=90,
                       completion_tokens=3, attempts=1, media_refs=[],
                       media_digests=[f"{prefix}-{outcome.subset}" if outcome.one_image
                                      else f"{prefix}-{number // media_per_sample}"])
            rows.append(row)
    return rows


def write_results(run_dir: Path, rows: list[dict[str, Any]], name: str = "results.parquet") -> pd.DataFrame:
    run_dir.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
    pq.write_table(table, run_dir / name)
    return table.to_pandas()


def make_run(run_dir: Path, rows: list[dict[str, Any]], *, blind_rows: list[dict[str, Any]] | None = None,
             baseline: Path | None = None, engine: dict[str, Any] | None = None,
             run: dict[str, Any] | None = None) -> dict[str, Any]:
    """A finished run directory of these result rows, its summary made as a run makes it (finish.conclude_run);
    `engine` and `run` are config sections (default: the scripted engine, no run settings)."""
    results = with_clusters(write_results(run_dir, rows).sort_values("sample_id", ignore_index=True), STATISTICS)
    gate: dict[str, Any] = {"min_pass_rate": 0.5}
    if baseline is not None:
        gate["baseline"] = {"run_dir": str(baseline), "min_paired_samples": 1}
    config = validate_config({"dataset": {"path": "manifest.jsonl"}, "engine": engine or {"kind": "scripted"},
                              "statistics": STATISTICS.model_dump(), "gate": gate,
                              "run": {"model_label": run_dir.name, **(run or {})}})
    scores = summarize(results, STATISTICS)
    comparison = None
    if baseline is not None:
        baseline_frame = pq.read_table(baseline / "results.parquet", columns=COMPARED_COLUMNS).to_pandas()
        comparison = compare(
            RunResults(results[COMPARED_COLUMNS],
                       RunIdentity(run_dir=str(run_dir), run_id=run_dir.name, model=run_dir.name), {"m": "f"}),
            RunResults(baseline_frame,
                       RunIdentity(run_dir=str(baseline), run_id=baseline.name, model=baseline.name), {"m": "f"}),
            STATISTICS, regression_margin=config.gate.baseline.max_regression)
    decision = verdict(evaluate_gate(scores, config.gate, None, comparison))
    scan = DatasetScan("manifest", Path("manifest.jsonl"), type("Reader", (), {"name": "manifest"})(),
                       rows=len(rows), chunks=[],
                       fingerprint="f" * 64)
    diagnostics = None
    if blind_rows is not None:
        blind = write_results(run_dir, blind_rows, "blind_results.parquet")
        diagnostics = diagnostics_of_runs(results, blind, NO_SUBSET, STATISTICS)
    suite = suite_result("manifest", scan, scores, statistics=statistics_note(results, STATISTICS),
                         diagnostics=diagnostics, comparison=comparison)
    summary = build_summary(config, [suite], decision, run_dir=run_dir, started_at=datetime.now(UTC),
                            duration_s=12.0, served_models=["scripted"], serving=None)
    write_outputs(run_dir, summary, config.report, then="run the test again")
    # The charts' numbers as a user reads them: summary.json as written.
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


def make_suites_run(run_dir: Path, suites: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A finished run directory of several suites (each suite's result rows), its summary made of each suite's own
    aggregation and gate, the checks named "<suite>: <check>" as one verdict over every suite."""
    frames = {name: write_results(run_dir / "suites" / name, rows) for name, rows in suites.items()}
    merged = pa.concat_tables([pa.Table.from_pandas(frame.assign(suite=name), preserve_index=False)
                               for name, frame in frames.items()])
    pq.write_table(merged, run_dir / "results.parquet")
    config = validate_config({"suites": [{"name": name, "dataset": {"path": f"{name}.jsonl"},
                                          "gate": {"min_pass_rate": 0.5}} for name in suites],
                              "engine": {"kind": "scripted"}, "statistics": STATISTICS.model_dump(),
                              "run": {"model_label": run_dir.name}})
    results, checks = [], []
    for suite_config in config.evaluated_suites():
        frame = with_clusters(frames[suite_config.name].sort_values("sample_id", ignore_index=True), STATISTICS)
        scores = summarize(frame, STATISTICS)
        checks += named_for_suite(evaluate_gate(scores, suite_config.gate), suite_config.name)
        scan = DatasetScan(suite_config.name, Path(f"{suite_config.name}.jsonl"),
                           type("Reader", (), {"name": "manifest"})(),
                           rows=len(frame), chunks=[], fingerprint=suite_config.name * 4)
        results.append(suite_result(suite_config.name, scan, scores, statistics=statistics_note(frame, STATISTICS),
                                    diagnostics=None, comparison=None))
    summary = build_summary(config, results, verdict(checks), run_dir=run_dir, started_at=datetime.now(UTC),
                            duration_s=12.0, served_models=["scripted"], serving=None)
    write_outputs(run_dir, summary, config.report, then="run the test again")
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


def blind_of(rows: list[dict[str, Any]], right: set[str]) -> list[dict[str, Any]]:
    """The blind pass of these rows: right exactly for the subsets named."""
    return [{**row, "passed": row["subset"] in right, "score": 1.0 if row["subset"] in right else 0.0}
            for row in rows]


MIXED = [Outcome("ShopFront", "mcq", 10, 2), Outcome("ShopInterior", "mcq", 6, 0), Outcome("Kitchen", "open", 3, 5),
         Outcome("MultiImg", "format", 1, 3, partial=0.5), Outcome("Video", "mcq", 0, 4)]


def case_all_zero(root: Path) -> tuple[Path, dict[str, Any]]:
    rows = result_rows([Outcome("ShopFront", "mcq", 0, 6), Outcome("Kitchen", "open", 0, 5),
                        Outcome("Video", "format", 0, 3)])
    return root, make_run(root, rows, blind_rows=blind_of(rows, set()))


def case_mixed(root: Path) -> tuple[Path, dict[str, Any]]:
    rows = result_rows(MIXED, media_per_sample=2)
    return root, make_run(root, rows, blind_rows=blind_of(rows, {"ShopFront", "Kitchen"}))


def case_gains_and_losses(root: Path) -> tuple[Path, dict[str, Any]]:
    baseline = root.with_name(root.name + "-baseline")
    make_run(baseline, result_rows([Outcome("ShopFront", "mcq", 4, 8), Outcome("Kitchen", "open", 9, 1),
                                    Outcome("Video", "mcq", 2, 2), Outcome("MultiImg", "mcq", 1, 3, one_image=True)]))
    candidate = result_rows([Outcome("ShopFront", "mcq", 11, 1), Outcome("Kitchen", "open", 2, 8),
                             Outcome("Video", "mcq", 2, 2), Outcome("MultiImg", "mcq", 3, 1, one_image=True)])
    return root, make_run(root, candidate, baseline=baseline)


def case_no_change(root: Path) -> tuple[Path, dict[str, Any]]:
    """The same answers as the baseline: every delta is +0.0."""
    outcomes = [Outcome("ShopFront", "mcq", 5, 3), Outcome("Kitchen", "mcq", 2, 2)]
    baseline = root.with_name(root.name + "-baseline")
    make_run(baseline, result_rows(outcomes))
    return root, make_run(root, result_rows(outcomes), baseline=baseline)


def case_losses_only(root: Path) -> tuple[Path, dict[str, Any]]:
    """Every subset regressed: the whole delta chart lies left of zero."""
    baseline = root.with_name(root.name + "-baseline")
    make_run(baseline, result_rows([Outcome("ShopFront", "mcq", 9, 1), Outcome("Kitchen", "mcq", 7, 1)]))
    return root, make_run(root, result_rows([Outcome("ShopFront", "mcq", 3, 7), Outcome("Kitchen", "mcq", 6, 2)]),
                          baseline=baseline)


CASES = {"all-zero": case_all_zero, "mixed": case_mixed, "gains-and-losses": case_gains_and_losses,
         "no-change": case_no_change, "losses-only": case_losses_only}


# ---- what each chart should show ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    label: str
    values: tuple[float, ...]  # one per bar of the row, in drawing order
    interval: tuple[float, float] | None = None
    texts: tuple[str, ...] = ()  # the value text beside each bar


def score_rows(overall: dict[str, Any], groups: dict[str, Any]) -> list[Expected]:
    named = [("overall", overall), *groups.items()]
    return [Expected(name, (group["score"],), _interval(group.get("score_ci")), (f"{group['score']:.1f}",))
            for name, group in named if group.get("score") is not None]


def diagnostics_rows(diagnostics: dict[str, Any]) -> list[Expected]:
    named = [("overall", diagnostics["overall"]), *diagnostics["by_subset"].items()]
    rows = []
    for name, group in named:
        values = tuple(100 * group[key] for key in ("accuracy_with_vision", "accuracy_without_vision"))
        rows.append(Expected(name, values, None, tuple(f"{value:.1f}%" for value in values)))
    return rows


def delta_rows(comparison: dict[str, Any]) -> list[Expected]:
    """A group of one media cluster has no whisker: its bootstrap "interval" is the point itself."""
    named = [("overall", comparison["overall"]), *comparison["by_subset"].items()]
    return [Expected(name, (group["delta"],), None if group["clusters"] < 2 else _interval(group["delta_ci"]),
                     (_signed(group["delta"]),))
            for name, group in named]


def expected_charts(summary: dict[str, Any]) -> dict[str, list[Expected]]:
    """Every suite's charts; a several-suite run's are titled with their suite's name."""
    charts = {}
    for suite in summary["suites"]:
        prefix = f"{suite['name']}: " if len(summary["suites"]) > 1 else ""
        scores = suite["scores"]
        charts[f"{prefix}Score by subset"] = score_rows(scores["overall"], scores["by_subset"])
        charts[f"{prefix}Score by answer format"] = score_rows(scores["overall"], scores["by_format"])
        if suite.get("diagnostics"):
            charts[f"{prefix}Accuracy with and without vision"] = diagnostics_rows(suite["diagnostics"])
        if suite.get("comparison"):
            charts[f"{prefix}Score change against the baseline, by subset"] = delta_rows(suite["comparison"])
    return charts


def _interval(value: Any) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


def _signed(value: float) -> str:
    text = f"{value:+.1f}"
    return "+0.0" if text == "-0.0" else text


# ---- what Chromium drew ---------------------------------------------------------------------------------------------

# Every chart's title, axis (grid lines with their tick labels) and rows (bars, value texts, whisker lines), as boxes
# in CSS pixels of the page. A rect's box is what the browser lays out, so a stylesheet rule that resizes it shows.
MEASURE_CHARTS = """
(() => {
  const box = (element) => { const r = element.getBoundingClientRect();
    return {left: r.left + scrollX, right: r.right + scrollX, top: r.top + scrollY, bottom: r.bottom + scrollY,
            width: r.width, height: r.height}; };
  return Array.from(document.querySelectorAll('svg.chart')).map((svg) => ({
    title: svg.getAttribute('aria-label'),
    box: box(svg),
    grid: Array.from(svg.querySelectorAll('line.grid')).map(box),
    ticks: Array.from(svg.querySelectorAll('text.tick')).map((t) => ({text: t.textContent, box: box(t)})),
    zero: Array.from(svg.querySelectorAll('line.zero')).map(box),
    swatches: Array.from(svg.querySelectorAll('rect.swatch')).map((rect) => ({classes: rect.getAttribute('class'),
      fill: getComputedStyle(rect).fill})),
    rows: Array.from(svg.querySelectorAll('g.row')).map((row) => ({
      label: (row.querySelector('text.label') || {}).textContent,
      bars: Array.from(row.querySelectorAll('rect')).map((rect) => ({classes: rect.getAttribute('class'),
        box: box(rect), fill: getComputedStyle(rect).fill, opacity: getComputedStyle(rect).fillOpacity})),
      values: Array.from(row.querySelectorAll('text.value')).map((t) => t.textContent),
      whiskers: Array.from(row.querySelectorAll('line.ci')).map(box),
    })),
  }));
})()
"""

# The score column's little meter in each category table: its filled share against the score printed beside it.
MEASURE_METERS = """
Array.from(document.querySelectorAll('td .score-meter')).map((meter) => {
  const row = meter.closest('tr');
  return {name: row.cells[0].textContent, score: row.cells[2].textContent,
          outer: meter.getBoundingClientRect().width, inner: meter.firstElementChild.getBoundingClientRect().width};
})
"""


def tick_value(text: str) -> float:
    return float(text.replace("%", "").replace("−", "-"))


def axis_of(chart: dict[str, Any], problems: list[str]) -> tuple[float, float] | None:
    """(x of zero, pixels per unit) from the drawn grid lines and their labels; every tick must sit on the line."""
    title = chart["title"]
    if len(chart["grid"]) != len(chart["ticks"]) or len(chart["grid"]) < 2:
        problems.append(f"{title}: {len(chart['grid'])} grid lines for {len(chart['ticks'])} tick labels")
        return None
    points = []
    for line, tick in zip(chart["grid"], chart["ticks"], strict=True):  # equal counts: checked above
        centre = (tick["box"]["left"] + tick["box"]["right"]) / 2
        if abs(centre - line["left"]) > PIXEL:
            problems.append(f"{title}: tick {tick['text']!r} is drawn {centre - line['left']:+.1f} px off its line")
        points.append((tick_value(tick["text"]), line["left"]))
    (v0, x0), (v1, x1) = points[0], points[-1]
    scale = (x1 - x0) / (v1 - v0)
    zero = x0 - v0 * scale
    for value, x in points:
        if abs(zero + value * scale - x) > PIXEL:
            problems.append(f"{title}: the axis is not linear at {value:g} ({x:.1f} px)")
    if chart["zero"] and abs(chart["zero"][0]["left"] - zero) > PIXEL:
        problems.append(f"{title}: the zero line is at {chart['zero'][0]['left']:.1f} px, the axis's zero at "
                        f"{zero:.1f}")
    return zero, scale


def chart_problems(chart: dict[str, Any], expected: list[Expected]) -> list[str]:
    """Everything a reader of this chart would be misled by."""
    title, problems = chart["title"], []
    axis = axis_of(chart, problems)
    if axis is None:
        return problems
    zero, scale = axis
    labels = [row["label"] for row in chart["rows"]]
    if labels != [row.label for row in expected]:
        return [*problems, f"{title}: rows {labels}, expected {[row.label for row in expected]}"]
    for row, wanted in zip(chart["rows"], expected, strict=True):  # equal counts: checked above
        where = f"{title} / {wanted.label}"
        if row["values"] != list(wanted.texts):
            problems.append(f"{where}: shows {row['values']}, the summary says {list(wanted.texts)}")
        if len(row["bars"]) != len(wanted.values):
            problems.append(f"{where}: {len(row['bars'])} bars for {len(wanted.values)} values")
            continue
        for bar, value in zip(row["bars"], wanted.values, strict=True):  # equal counts: checked above
            box, end = bar["box"], zero + value * scale
            start_edge, end_edge = (box["left"], box["right"]) if value >= 0 else (box["right"], box["left"])
            if abs(start_edge - zero) > PIXEL:
                problems.append(f"{where}: the bar of {value:g} starts at {start_edge:.1f} px, not at zero "
                                f"({zero:.1f})")
            if abs(end_edge - end) > PIXEL:
                problems.append(f"{where}: the bar of {value:g} ends at {end_edge:.1f} px, its value is at {end:.1f}")
            if abs(box["width"] - abs(value * scale)) > PIXEL:
                problems.append(f"{where}: the bar of {value:g} is {box['width']:.1f} px long, "
                                f"not {abs(value * scale):.1f}")
            if value != 0 and box["height"] <= 0:
                problems.append(f"{where}: the bar of {value:g} has no height")
            if bar["fill"] in ("none", "") or float(bar["opacity"]) == 0:
                problems.append(f"{where}: the bar of {value:g} is not painted")
            if box["right"] > chart["box"]["right"] + PIXEL or box["left"] < chart["box"]["left"] - PIXEL:
                problems.append(f"{where}: the bar of {value:g} runs outside its chart")
        problems += whisker_problems(where, row["whiskers"], wanted.interval, zero, scale)
    return problems + legend_problems(chart)


def legend_problems(chart: dict[str, Any]) -> list[str]:
    """A chart with a legend: each bar painted in its kind's swatch colour, and the kinds told apart."""
    swatches = {kind: swatch["fill"] for swatch in chart["swatches"]
                for kind in swatch["classes"].split() if kind != "swatch"}
    problems = []
    if len(set(swatches.values())) != len(swatches):
        problems.append(f"{chart['title']}: the legend's kinds share a colour: {swatches}")
    for row in chart["rows"]:
        for bar in row["bars"]:
            for kind in set(bar["classes"].split()) & set(swatches):
                if bar["fill"] != swatches[kind]:
                    problems.append(f"{chart['title']} / {row['label']}: a {kind} bar is painted {bar['fill']}, its "
                                    f"legend swatch {swatches[kind]}")
    return problems


def whisker_problems(where: str, whiskers: list[dict[str, float]], interval: tuple[float, float] | None,
                     zero: float, scale: float) -> list[str]:
    if interval is None:
        return [f"{where}: a whisker is drawn without an interval"] if whiskers else []
    if len(whiskers) != 3:
        return [f"{where}: {len(whiskers)} whisker lines for the interval {interval}"]
    span, *caps = sorted(whiskers, key=lambda line: line["height"])  # the span is flat, the caps stand up
    low, high = zero + interval[0] * scale, zero + interval[1] * scale
    problems = []
    if abs(span["left"] - low) > PIXEL or abs(span["right"] - high) > PIXEL:
        problems.append(f"{where}: the whisker spans {span['left']:.1f}-{span['right']:.1f} px, the interval "
                        f"{interval} is at {low:.1f}-{high:.1f}")
    cap_xs = sorted(cap["left"] for cap in caps)
    if abs(cap_xs[0] - low) > PIXEL or abs(cap_xs[1] - high) > PIXEL:
        problems.append(f"{where}: the whisker's caps are at {cap_xs}, the interval's ends at {low:.1f}, {high:.1f}")
    return problems


def meter_problems(meters: list[dict[str, Any]]) -> list[str]:
    problems = []
    for meter in meters:
        shown = re.match(r"\s*([0-9.]+)", meter["score"])
        if shown is None:
            continue  # no score ("–"): the meter is empty
        expected = float(shown.group(1)) / 100 * meter["outer"]
        if abs(meter["inner"] - expected) > PIXEL:
            problems.append(f"score meter of {meter['name']!r}: filled {meter['inner']:.1f} of {meter['outer']:.1f} px "
                            f"for a score of {shown.group(1)}")
    return problems


def drawn_problems(browser: DevTools, session: str, summary: dict[str, Any], shots: Path | None = None) -> list[str]:
    charts = browser.evaluate(session, MEASURE_CHARTS)
    expected = expected_charts(summary)
    problems = []
    drawn = [chart["title"] for chart in charts]
    if sorted(drawn) != sorted(expected):
        problems.append(f"charts drawn {drawn}, expected {sorted(expected)}")
    for index, chart in enumerate(charts):
        if chart["title"] in expected:
            problems += chart_problems(chart, expected[chart["title"]])
        if shots is not None:
            box = chart["box"]
            browser.screenshot(session, shots / f"chart-{index + 1}-{slug(chart['title'])}.png",
                               {"x": box["left"], "y": box["top"], "width": box["width"], "height": box["height"]})
    return problems + meter_problems(browser.evaluate(session, MEASURE_METERS))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ---- tests ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_bar_and_whisker_is_drawn_at_its_value(case: str, tmp_path: Path, browser: DevTools,
                                                     artifacts_dir: Path) -> None:
    run_dir, summary = CASES[case](tmp_path / case)
    session = browser.open((run_dir / "report.html").resolve().as_uri())
    browser.set_viewport(session, 1280, 900)
    shots = artifacts_dir / "report-charts" / case
    problems = drawn_problems(browser, session, summary, shots)
    browser.screenshot(session, shots / "page.png")
    assert problems == []
    assert browser.problems(session) == []


def test_the_case_runs_hold_what_they_are_named_for(tmp_path: Path) -> None:
    """The cases cover what the charts must get right: zero scores, partial scores, gains and losses, +0.0."""
    _, zero = case_all_zero(tmp_path / "zero")
    assert {group["score"] for group in zero["suites"][0]["scores"]["by_subset"].values()} == {0.0}
    _, mixed = case_mixed(tmp_path / "mixed")
    assert len({group["score"] for group in mixed["suites"][0]["scores"]["by_subset"].values()}) == 5
    assert 0 < mixed["suites"][0]["scores"]["by_format"]["format"]["score"] < 100 * 1 / 4 + 50 * 3 / 4 + 1e-9
    _, both = case_gains_and_losses(tmp_path / "both")
    deltas = {name: group["delta"] for name, group in both["suites"][0]["comparison"]["by_subset"].items()}
    assert deltas["ShopFront"] > 0 > deltas["Kitchen"] and deltas["Video"] == 0 and deltas["MultiImg"] > 0
    assert both["suites"][0]["comparison"]["by_subset"]["MultiImg"]["clusters"] == 1
    _, flat = case_no_change(tmp_path / "flat")
    assert flat["suites"][0]["comparison"]["overall"]["delta"] == 0
    _, losses = case_losses_only(tmp_path / "losses")
    assert all(group["delta"] < 0 for group in losses["suites"][0]["comparison"]["by_subset"].values())


def test_the_check_catches_bars_drawn_at_the_wrong_length(tmp_path: Path, browser: DevTools) -> None:
    """The stylesheet rule that once matched the charts' bars (`.bar { width: 120px }`) makes every bar 120 px: the
    check must report the scores and the regression drawn wrong."""
    run_dir, summary = case_gains_and_losses(tmp_path / "case")
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace("</style>", ".bar, rect { display: inline-block; width: 120px; }</style>", 1),
                      encoding="utf-8")
    session = browser.open(broken.resolve().as_uri())
    problems = drawn_problems(browser, session, summary)
    assert any("Score change against the baseline" in problem and "Kitchen" in problem for problem in problems)
    assert any("Score by subset" in problem for problem in problems)


def test_the_check_catches_a_wrong_value_text_and_a_misplaced_whisker(tmp_path: Path, browser: DevTools) -> None:
    run_dir, summary = case_mixed(tmp_path / "case")
    wrong = json.loads(json.dumps(summary))
    wrong["suites"][0]["scores"]["by_subset"]["Kitchen"]["score"] += 5
    low, high = wrong["suites"][0]["scores"]["by_subset"]["ShopFront"]["score_ci"]
    wrong["suites"][0]["scores"]["by_subset"]["ShopFront"]["score_ci"] = [low - 3, high]
    session = browser.open((run_dir / "report.html").resolve().as_uri())
    problems = drawn_problems(browser, session, wrong)
    assert any("Kitchen" in problem and "shows" in problem for problem in problems)
    assert any("ShopFront" in problem and "whisker" in problem for problem in problems)
    assert math.isfinite(summary["suites"][0]["scores"]["overall"]["score"])


def test_the_compare_command_page_draws_its_deltas_at_their_values(tmp_path: Path, browser: DevTools,
                                                                   artifacts_dir: Path) -> None:
    """`ray-eval compare --html`: the comparison section on its own page, its chart checked like the report's."""
    candidate, _ = case_gains_and_losses(tmp_path / "candidate")
    baseline = candidate.with_name("candidate-baseline")
    page, out = tmp_path / "comparison.html", tmp_path / "out"
    assert main(["compare", str(baseline), str(candidate), "--html", str(page), "--out", str(out),
                 "--set", f"statistics.bootstrap_resamples={STATISTICS.bootstrap_resamples}"]) == 0
    comparison = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    session = browser.open(page.resolve().as_uri())
    browser.set_viewport(session, 1280, 900)
    charts = browser.evaluate(session, MEASURE_CHARTS)
    assert [chart["title"] for chart in charts] == ["Score change against the baseline, by subset"]
    assert chart_problems(charts[0], delta_rows(comparison)) == []
    box = charts[0]["box"]
    shots = artifacts_dir / "report-charts" / "compare-page"
    browser.screenshot(session, shots / "chart-1-score-change.png",
                       {"x": box["left"], "y": box["top"], "width": box["width"], "height": box["height"]})
    browser.screenshot(session, shots / "page.png")
    assert browser.problems(session) == []


# The suite table of a several-suite run as drawn: each row's box, its cells' text, and where the suites' own
# sections start (the table must open the page, above them).
MEASURE_SUITE_TABLE = """
(() => {
  const box = (element) => { const r = element.getBoundingClientRect();
    return {left: r.left + scrollX, right: r.right + scrollX, top: r.top + scrollY, bottom: r.bottom + scrollY,
            width: r.width, height: r.height}; };
  const table = document.querySelector('table.suites');
  return {
    table: table && box(table),
    page_width: document.documentElement.clientWidth,
    rows: table ? Array.from(table.tBodies[0].rows).map((row) => ({box: box(row),
      cells: Array.from(row.cells).map((cell) => ({text: cell.textContent.trim().replace(/\\s+/g, ' '),
                                                   box: box(cell)}))})) : [],
    sections: Array.from(document.querySelectorAll('section.suite')).map((section) => ({
      id: section.id, heading: section.querySelector('h2').textContent, box: box(section)})),
  };
})()
"""


def suite_table_problems(drawn: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """The suite table a reader sees: one visible row per suite in order, each cell's text the summary's numbers,
    inside the page's width, above every suite's section, each of which starts below the one before."""
    if drawn["table"] is None:
        return ["no suite table is drawn"]
    problems = []
    if drawn["table"]["right"] > drawn["page_width"] + PIXEL:
        problems.append(f"the suite table runs {drawn['table']['right'] - drawn['page_width']:.0f} px past the page")
    names = [suite["name"] for suite in summary["suites"]]
    if [row["cells"][0]["text"] for row in drawn["rows"]] != names:
        return [*problems, f"suite rows {[row['cells'][0]['text'] for row in drawn['rows']]}, expected {names}"]
    for index, (row, suite) in enumerate(zip(drawn["rows"], summary["suites"], strict=True)):
        overall = suite["scores"]["overall"]
        low, high = overall["score_ci"]
        wanted = {1: f"{suite['name']}.jsonl", 2: str(suite["dataset"]["rows"]),
                  3: f"{overall['score']:.1f} [{low:.1f}, {high:.1f}]", 5: str(suite["counts"]["errors"])}
        for column, text in wanted.items():
            if row["cells"][column]["text"] != text:
                problems.append(f"{suite['name']}: column {column} shows {row['cells'][column]['text']!r}, the "
                                f"summary says {text!r}")
        if row["box"]["height"] <= 0 or any(cell["box"]["width"] <= 0 for cell in row["cells"]):
            problems.append(f"{suite['name']}: its row or a cell of it is not drawn")
        if index and row["box"]["top"] < drawn["rows"][index - 1]["box"]["bottom"] - PIXEL:
            problems.append(f"{suite['name']}: its row overlaps the row above")
    headings = [section["heading"] for section in drawn["sections"]]
    if headings != [f"Suite {name}" for name in names]:
        problems.append(f"suite sections {headings}")
    tops = [section["box"]["top"] for section in drawn["sections"]]
    if tops and drawn["table"]["bottom"] > tops[0]:
        problems.append("the suite table is not above the suites' sections")
    if tops != sorted(tops):
        problems.append(f"the suite sections are not drawn in order: {tops}")
    return problems


def test_a_several_suite_report_opens_with_its_suite_table_and_draws_every_suites_charts(
        tmp_path: Path, browser: DevTools, artifacts_dir: Path) -> None:
    run_dir = tmp_path / "two-suites"
    summary = make_suites_run(run_dir, {
        "shopbench": result_rows(MIXED, prefix="shop", media_per_sample=2),
        "guard-ocr": result_rows([Outcome("ocr", "open", 2, 10), Outcome("counting", "mcq", 8, 2)], prefix="guard"),
    })
    assert [suite["name"] for suite in summary["suites"]] == ["shopbench", "guard-ocr"]
    assert summary["verdict"]["status"] == "failed" and summary["verdict"]["failed_checks"] == [
        "guard-ocr: overall pass rate"]
    session = browser.open((run_dir / "report.html").resolve().as_uri())
    browser.set_viewport(session, 1280, 900)
    shots = artifacts_dir / "report-charts" / "two-suites"
    drawn = browser.evaluate(session, MEASURE_SUITE_TABLE)
    problems = suite_table_problems(drawn, summary) + drawn_problems(browser, session, summary, shots)
    table = drawn["table"]
    browser.screenshot(session, shots / "suite-table.png",
                       {"x": table["left"], "y": table["top"], "width": table["width"], "height": table["height"]})
    browser.screenshot(session, shots / "page.png")
    assert problems == []
    assert browser.problems(session) == []


def test_the_suite_table_check_catches_a_wrong_score_and_a_missing_suite(tmp_path: Path, browser: DevTools) -> None:
    run_dir = tmp_path / "two-suites"
    summary = make_suites_run(run_dir, {"shopbench": result_rows([Outcome("ShopFront", "mcq", 5, 3)], prefix="s"),
                                        "guard-ocr": result_rows([Outcome("ocr", "open", 2, 6)], prefix="g")})
    session = browser.open((run_dir / "report.html").resolve().as_uri())
    browser.set_viewport(session, 1280, 900)
    drawn = browser.evaluate(session, MEASURE_SUITE_TABLE)
    assert suite_table_problems(drawn, summary) == []
    wrong = json.loads(json.dumps(summary))
    wrong["suites"][1]["scores"]["overall"]["score"] += 10
    assert any("guard-ocr: column 3" in problem for problem in suite_table_problems(drawn, wrong))
    wrong["suites"].append({**wrong["suites"][0], "name": "guard-yesno"})
    assert any("suite rows" in problem for problem in suite_table_problems(drawn, wrong))


@pytest.mark.ray
def test_the_demo_scripted_run_draws_every_chart_at_its_values(local_ray, tmp_path: Path, browser: DevTools,
                                                              artifacts_dir: Path, monkeypatch) -> None:
    """What a new user sees first: `make demo-scripted`'s config (blind pass on) on the synthetic set, its report in
    Chromium."""
    monkeypatch.chdir(tmp_path)
    assert main(["dataset", "synth", "--out", "data/sample", "--n", "24", "--seed", "0"]) == 0
    config = Path(__file__).resolve().parents[2] / "configs" / "scripted.yaml"
    assert main(["run", "-c", str(config), "--set", "run.run_id=demo"]) in (0, 1)
    run_dir = tmp_path / "runs" / "demo"
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["suites"][0]["diagnostics"] is not None and len(summary["suites"][0]["scores"]["by_subset"]) == 5
    session = browser.open((run_dir / "report.html").resolve().as_uri())
    browser.set_viewport(session, 1280, 900)
    shots = artifacts_dir / "report-charts" / "demo-scripted"
    problems = drawn_problems(browser, session, summary, shots)
    browser.screenshot(session, shots / "page.png")
    assert problems == []
    assert browser.problems(session) == []


MODEL_NOTE = """(() => {
  const banner = document.querySelector(".banner.model-note");
  const facts = document.querySelector("dl.facts");
  const box = element => { const r = element.getBoundingClientRect(); return {top: r.top, bottom: r.bottom,
    height: r.height, width: r.width, left: r.left}; };
  const overall = [...document.querySelectorAll("tr")].find(row => row.cells.length === 8
    && row.cells[0].querySelector("b") && row.cells[5].innerText.includes("pts"));
  return {banner: banner && {text: banner.innerText, box: box(banner),
                             visible: getComputedStyle(banner).visibility === "visible"
                                      && getComputedStyle(banner).display !== "none"},
          stand_in: document.querySelectorAll(".banner.stand-in").length, facts_top: box(facts).top,
          mg_cell: overall && overall.cells[5].innerText};
})()"""


def test_a_demo_models_report_says_what_its_scores_mean_and_shows_mg_with_its_interval(
        tmp_path: Path, browser: DevTools, artifacts_dir: Path) -> None:
    """run.demo_model: the "About this model" note is drawn at the top of the first screen, above the run's facts,
    with the summary's note, and no stand-in banner; the diagnostics table's MG cell shows MG and its interval."""
    rows = result_rows(MIXED)
    run_dir = tmp_path / "demo-model"
    summary = make_run(run_dir, rows, blind_rows=blind_of(rows, {"ShopFront"}),
                       engine={"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "tiny-shop-vl"},
                       run={"demo_model": True})
    assert summary["model"]["note"].startswith("small demo model") and not summary["model"]["stand_in"]
    session = browser.open((run_dir / "report.html").resolve().as_uri())
    browser.set_viewport(session, 1280, 900)
    drawn = browser.evaluate(session, MODEL_NOTE)
    browser.screenshot(session, artifacts_dir / "report-charts" / "demo-model" / "page.png")
    banner = drawn["banner"]
    assert banner is not None and banner["visible"], drawn
    box = banner["box"]
    assert box["height"] > 20 and box["width"] > 300
    assert 0 <= box["top"] and box["bottom"] <= min(900, drawn["facts_top"])  # first screen, above the facts
    assert banner["text"].splitlines()[0].strip() == "About this model"
    assert " ".join(banner["text"].split()[3:]) == " ".join(summary["model"]["note"].split())
    assert drawn["stand_in"] == 0
    overall = summary["suites"][0]["diagnostics"]["overall"]
    low, high = overall["MG_ci"]
    sign = lambda share: f"{100 * share:+.1f}".replace("-0.0", "+0.0")  # noqa: E731
    assert drawn["mg_cell"].split() == [sign(overall["MG"]), "pts", f"[{sign(low)},", f"{sign(high)}]"]
    assert low < overall["MG"] < high
    assert browser.problems(session) == []
