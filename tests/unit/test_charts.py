"""The report's inline SVG charts: one bar per group, interval whiskers, escaping of hostile names, empty markup
without data, values outside the axis kept in view, and the same bytes for the same input."""

from __future__ import annotations

import math
from html.parser import HTMLParser
from typing import Any

import pytest
from markupsafe import Markup

from ray_eval.outputs.charts import LABEL_CHARS, WIDTH, delta_chart, diagnostics_chart, score_chart
from ray_eval.verdict.summary_model import (
    Comparison,
    Diagnostics,
    DiagnosticsGroup,
    GroupScores,
    PairedGroupScores,
)
from tests.unit import summary_parts as parts

HOSTILE = "<script>alert(1)</script>\"' onload=x"
SVG_TAGS = {"svg", "g", "rect", "line", "text", "title"}


class Svg(HTMLParser):
    """Elements (tag, attributes), element texts and the text of every <title> of one chart."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []  # of <text> elements
        self.titles: list[str] = []
        self._in: str | None = None
        self.feed(str(markup))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in ("text", "title"):
            self._in = tag
            (self.texts if tag == "text" else self.titles).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "text":
            self.texts[-1] += data
        elif self._in == "title":
            self.titles[-1] += data

    def with_class(self, tag: str, *classes: str) -> list[dict[str, str | None]]:
        return [attributes for name, attributes in self.elements
                if name == tag and set(classes) <= set((attributes.get("class") or "").split())]


def group(score: float | None, ci: Any = None) -> GroupScores:
    return parts.group_scores(n=10, score=score, score_ci=ci, pass_rate=None if score is None else score / 100)


def paired(delta: float | None, ci: list[float] | None, significant: bool) -> PairedGroupScores:
    return parts.paired_group(n=40, baseline_score=50.0, candidate_score=None if delta is None else 50.0 + delta,
                              delta=delta, delta_ci=ci, p_value=0.01 if significant else 0.4, significant=significant)


def comparison(overall: PairedGroupScores | None = None, **by_subset: PairedGroupScores) -> Comparison:
    return parts.comparison(overall=overall, by_subset=by_subset)


def vision(with_vision: float | None, without_vision: float | None) -> DiagnosticsGroup:
    return DiagnosticsGroup(n=10, excluded=0, accuracy_with_vision=with_vision, accuracy_without_vision=without_vision,
                            MG=None, VNR=None, VIF=None)


def diagnostics(overall: DiagnosticsGroup | None = None, **by_subset: DiagnosticsGroup) -> Diagnostics:
    return Diagnostics(overall=overall or vision(None, None), by_subset=by_subset)


def test_score_chart_has_a_bar_per_group_and_whiskers_for_intervals():
    groups = {"ShopFront": group(60.1, [57.3, 62.8]), "Kitchen": group(42.0), "Video": group(75.5, [70.0, 80.0])}
    svg = Svg(score_chart(groups, group(58.0, [55.0, 61.0]), title="Score by subset"))
    assert len(svg.with_class("rect", "bar")) == 4  # overall + three subsets
    assert len(svg.with_class("rect", "bar", "overall")) == 1
    assert len(svg.with_class("line", "ci")) == 3 * 3  # a whisker and two caps per interval
    assert svg.texts.count("60.1") == 1 and "42.0" in svg.texts
    assert [label for label in svg.texts if label in groups or label == "overall"] == ["overall", *groups]
    assert "ShopFront: 60.1 [57.3, 62.8]" in svg.titles
    assert "Kitchen: 42.0" in svg.titles
    bars = svg.with_class("rect", "bar")
    widths = {label: float(rect["width"]) for label, rect in zip(["overall", *groups], bars, strict=True)}
    assert widths["Video"] > widths["ShopFront"] > widths["Kitchen"]
    assert math.isclose(widths["Video"] / widths["Kitchen"], 75.5 / 42.0, rel_tol=0.01)


def test_charts_are_accessible_and_self_contained():
    for markup in (score_chart({"a": group(10.0)}, title="Score by subset"),
                   delta_chart(comparison(paired(1.0, [0.5, 1.5], True))),
                   diagnostics_chart(diagnostics(vision(0.6, 0.3)))):
        svg = Svg(markup)
        tag, attributes = svg.elements[0]
        assert tag == "svg" and attributes["role"] == "img" and attributes["aria-label"]
        assert svg.elements[1][0] == "title" and svg.titles[0] == attributes["aria-label"]
        assert {tag for tag, _ in svg.elements} <= SVG_TAGS
        assert "http" not in markup and "style=" not in markup and "href" not in markup


def test_charts_are_deterministic():
    def build() -> list[str]:
        groups = {"b": group(33.3333, [30.1, 36.7]), "a": group(66.6666, [60.0, 70.0])}
        changes = comparison(paired(2.5, [0.4, 4.6], True), a=paired(-1.25, [-3.0, 0.5], False))
        return [str(score_chart(groups, group(50.0))), str(delta_chart(changes)),
                str(diagnostics_chart(diagnostics(vision(0.71, 0.4))))]

    assert build() == build()


@pytest.mark.parametrize("chart", [
    score_chart({}), score_chart({"a": group(None), "b": group(float("nan"))}),
    delta_chart(None), delta_chart(comparison()), delta_chart(comparison(None, a=paired(None, None, False))),
    diagnostics_chart(None), diagnostics_chart(diagnostics()),
    diagnostics_chart(diagnostics(a=vision(None, None))),
])
def test_no_data_is_empty_markup(chart):
    assert isinstance(chart, Markup) and chart == ""


def test_hostile_names_are_escaped_text():
    charts = [
        score_chart({HOSTILE: group(50.0, [40.0, 60.0])}, title="Score by subset"),
        delta_chart(comparison(None, **{HOSTILE: paired(-2.0, [-4.0, 0.0], True)})),
        diagnostics_chart(diagnostics(**{HOSTILE: vision(0.5, 0.2)})),
    ]
    for markup in charts:
        assert "<script" not in markup and "onload=x" in markup  # the name is there, as text
        svg = Svg(markup)
        assert all(tag != "script" for tag, _ in svg.elements)
        assert all(not name.startswith("on") for _, attributes in svg.elements for name in attributes)
        assert HOSTILE in svg.texts  # the label, shown whole (shorter than LABEL_CHARS)
        assert any(title.startswith(HOSTILE + ": ") for title in svg.titles)


def test_hostile_title_is_escaped_in_the_attribute_too():
    svg = Svg(score_chart({"a": group(1.0)}, title=HOSTILE))
    assert svg.elements[0][1]["aria-label"] == HOSTILE and svg.titles[0] == HOSTILE
    assert all(tag in SVG_TAGS for tag, _ in svg.elements)


def test_long_label_is_cut_and_its_title_keeps_it_whole():
    name = "Category " + "x" * 100
    svg = Svg(score_chart({name: group(20.0)}))
    label = next(text for text in svg.texts if text.startswith("Category"))
    assert len(label) == LABEL_CHARS and label.endswith("…")
    assert f"{name}: 20.0" in svg.titles


def test_values_outside_the_axis_stay_in_view():
    groups = {"high": group(150.0, [120.0, 180.0]), "low": group(-20.0, [-40.0, 10.0])}
    svg = Svg(score_chart(groups, title="Score"))
    for rect in svg.with_class("rect", "bar"):
        assert 0 <= float(rect["x"]) and float(rect["x"]) + float(rect["width"]) <= WIDTH
    for line in svg.with_class("line", "ci"):
        assert all(0 <= float(line[key]) <= WIDTH for key in ("x1", "x2"))
    assert "150.0" in svg.texts  # the value itself is still printed


def test_malformed_values_are_skipped():
    # Values a summary's model admits but no chart can draw: an infinite score, and a reversed or NaN interval.
    groups = {"ok": group(50.0, [float("nan"), 3]), "inf": group(math.inf)}
    svg = Svg(score_chart(groups))
    assert len(svg.with_class("rect", "bar")) == 1
    assert svg.with_class("line", "ci") == []  # the malformed interval draws no whisker


def test_delta_chart_bars_leave_the_zero_line_by_sign():
    changes = comparison(paired(1.5, [0.2, 2.8], True), better=paired(4.6, [1.0, 8.2], True),
                         worse=paired(-3.0, [-6.0, -0.5], True), noise=paired(-0.5, [-2.0, 1.0], False))
    svg = Svg(delta_chart(changes))
    bars = svg.with_class("rect", "bar")
    assert len(bars) == 4
    assert [rect["class"] for rect in bars] == ["bar pos overall", "bar pos", "bar neg", "bar neg ns"]
    zero = svg.with_class("line", "zero")
    assert len(zero) == 1
    zero_x = float(zero[0]["x1"])
    for rect, delta in zip(bars, (1.5, 4.6, -3.0, -0.5), strict=True):
        left, right = float(rect["x"]), float(rect["x"]) + float(rect["width"])
        assert (left, right)[0 if delta > 0 else 1] == pytest.approx(zero_x, abs=0.11)
    assert {"-10", "+10", "0"} <= set(svg.texts)  # a symmetric axis wide enough for 8.2
    assert "worse: -3.0 [-6.0, -0.5]" in svg.titles
    assert "+4.6" in svg.texts and "-0.5" in svg.texts


def test_delta_chart_draws_a_one_cluster_group_without_whisker_and_not_significant():
    one_cluster = paired(-33.3, [-33.3, -33.3], True).model_copy(update={"clusters": 1})
    overall = paired(-5.0, [-8.0, -2.0], True).model_copy(update={"clusters": 40})
    svg = Svg(delta_chart(comparison(overall, Kitchen=one_cluster)))
    assert [rect["class"] for rect in svg.with_class("rect", "bar")] == ["bar neg overall", "bar neg ns"]
    assert len(svg.with_class("line", "ci")) == 3  # the overall bar's whisker only
    assert "Kitchen: -33.3" in svg.titles


def test_diagnostics_chart_draws_two_bars_per_row():
    svg = Svg(diagnostics_chart(diagnostics(vision(0.8, 0.4), ShopFront=vision(0.6, 0.3), Video=vision(0.9, None))))
    with_bars, without_bars = svg.with_class("rect", "bar", "with"), svg.with_class("rect", "bar", "without")
    assert len(with_bars) == 3 and len(without_bars) == 2  # Video has no blind accuracy
    assert len(svg.with_class("rect", "swatch")) == 2 and {"with vision", "without vision"} <= set(svg.texts)
    assert float(with_bars[0]["width"]) == pytest.approx(2 * float(without_bars[0]["width"]), abs=0.2)
    assert "overall: with vision 80.0%, without vision 40.0%" in svg.titles
    assert "Video: with vision 90.0%" in svg.titles
