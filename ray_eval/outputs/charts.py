"""Charts of report.html as inline SVG, drawn here in Python: no script, no library, no font or anything else to
fetch, so the report still opens offline under its strict Content-Security-Policy.

Every label (a subset, format or category name) comes from the data and may hold markup: each one is escaped with
markupsafe before it is joined into the SVG, and the whole is marked safe (Markup) only once it is built. Data only
ever lands in element text (<text>, <title>); attributes hold our own words and numbers formatted here. Colours come
from CSS classes (the page's stylesheet), never from inline styles.

A chart is deterministic (same input, same bytes) and a chart without any value to draw is empty markup, so the
page can leave its place out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from ray_eval.verdict.comparison_verdict import PairedGroup, min_paired_samples
from ray_eval.verdict.summary_model import Comparison, Diagnostics, GroupScores

WIDTH = 600  # px; the viewBox is the same, so the chart scales down on narrow screens
ROW = 22  # px per bar row
BAR = 14  # px bar height
GROUPED_ROW = 30  # px per row of the grouped chart (two bars)
GROUPED_BAR = 11
TOP = 22  # px above the first row: the axis tick labels
LEGEND = 18  # px above the axis for the legend of the grouped chart
BOTTOM = 6
LABEL_CHARS = 40  # longer labels are cut (the row's <title> keeps the whole name)
CHAR_WIDTH = 6.4  # px per character of the 11px sans-serif label font, roughly
LABEL_MIN, LABEL_MAX = 60, 230  # px of the label column
VALUE_WIDTH = 56  # px right of the plot for the value text
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif" font-size="11"'
PERCENT_TICKS = (0.0, 25.0, 50.0, 75.0, 100.0)
NICE_LIMITS = (1, 2, 5, 10, 20, 50, 100)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    interval: tuple[float, float] | None = None
    kind: str = ""  # extra CSS classes of the bar: "overall", "with", "without", "pos", "neg", "ns"


# ---- public charts --------------------------------------------------------------------------------------------------


def score_chart(groups: Mapping[str, GroupScores], overall: GroupScores | None = None, *,
                title: str = "Score by group") -> Markup:
    """Horizontal bars of each group's score (0-100) with its confidence interval as a whisker; `overall` first."""
    bars = []
    if overall is not None:
        bars.extend(_score_bars({"overall": overall}, kind="overall"))
    bars.extend(_score_bars(groups))
    return interval_bar_chart(bars, title=title, domain=(0.0, 100.0), ticks=PERCENT_TICKS)


def diagnostics_chart(diagnostics: Diagnostics | None, *,
                      title: str = "Accuracy with and without vision") -> Markup:
    """Two bars per row (overall, then each subset): accuracy with the image or video and without it, in %."""
    if not diagnostics:
        return Markup("")
    rows: list[tuple[str, Bar | None, Bar | None]] = []
    named = [("overall", diagnostics.overall), *diagnostics.by_subset.items()]
    for name, group in named:
        with_vision, without_vision = as_number(group.accuracy_with_vision), as_number(group.accuracy_without_vision)
        if with_vision is None and without_vision is None:
            continue
        rows.append((str(name),
                     Bar(str(name), 100 * with_vision, kind="with") if with_vision is not None else None,
                     Bar(str(name), 100 * without_vision, kind="without") if without_vision is not None else None))
    return grouped_bar_chart(rows, title=title, legend=(("with", "with vision"), ("without", "without vision")))


def delta_chart(comparison: Comparison | None, *, title: str = "Score change against the baseline") -> Markup:
    """Score difference (candidate - baseline, points) of overall and each subset around a zero line, with its
    interval; bars are classed pos or neg by sign, and also ns unless their verdict is a significant change. A
    group of one media cluster has no whisker: its interval would be the point itself."""
    if not comparison:
        return Markup("")
    minimum = min_paired_samples(comparison)
    bars = []
    named = [("overall", comparison.overall, True)]
    named += [(name, group, False) for name, group in comparison.by_subset.items()]
    for name, stored, is_overall in named:
        group = PairedGroup.of(stored)
        if group is None or group.delta is None:
            continue
        kinds = ["pos" if group.delta > 0 else "neg" if group.delta < 0 else "flat"]
        if is_overall:
            kinds.append("overall")
        if not group.verdict(minimum).decided:
            kinds.append("ns")
        bars.append(Bar(str(name), group.delta, group.shown_interval, " ".join(kinds)))
    return diverging_bar_chart(bars, title=title)


# ---- chart kinds ----------------------------------------------------------------------------------------------------


def interval_bar_chart(bars: list[Bar], *, title: str, domain: tuple[float, float],
                       ticks: Iterable[float], unit: str = "") -> Markup:
    """One horizontal bar per Bar from the domain's low end, a whisker for its interval, its value on the right."""
    if not bars:
        return Markup("")
    scale = _Scale(bars, domain)
    height = TOP + len(bars) * ROW + BOTTOM
    body = scale.axis(ticks, TOP, height - BOTTOM, unit)
    for index, bar in enumerate(bars):
        top = TOP + index * ROW
        middle = top + ROW / 2
        body.append(_row(bar, scale.left, middle, [
            _rect(scale.x(domain[0]), scale.x(bar.value), top + (ROW - BAR) / 2, BAR, bar.kind),
            *_whisker(scale, bar.interval, middle),
            _value_text(scale.right, middle, f"{bar.value:.1f}{unit}"),
        ], unit))
    return _svg(title, height, body)


def diverging_bar_chart(bars: list[Bar], *, title: str) -> Markup:
    """Bars from a zero line to each value (negative left, positive right), symmetric domain, interval whiskers."""
    if not bars:
        return Markup("")
    largest = max([abs(bar.value) for bar in bars] + [abs(end) for bar in bars if bar.interval for end in bar.interval])
    limit = _nice_limit(largest)
    domain = (-limit, limit)
    scale = _Scale(bars, domain)
    height = TOP + len(bars) * ROW + BOTTOM
    body = scale.axis((-limit, -limit / 2, 0.0, limit / 2, limit), TOP, height - BOTTOM, "", signed=True)
    body.append(_line(scale.x(0.0), TOP - 4, scale.x(0.0), height - BOTTOM, "zero"))
    for index, bar in enumerate(bars):
        top = TOP + index * ROW
        middle = top + ROW / 2
        body.append(_row(bar, scale.left, middle, [
            _rect(scale.x(0.0), scale.x(bar.value), top + (ROW - BAR) / 2, BAR, bar.kind),
            *_whisker(scale, bar.interval, middle),
            _value_text(scale.right, middle, _signed(bar.value)),
        ], "", signed=True))
    return _svg(title, height, body)


def grouped_bar_chart(rows: list[tuple[str, Bar | None, Bar | None]], *, title: str,
                      legend: tuple[tuple[str, str], tuple[str, str]]) -> Markup:
    """Two bars per row (either may be missing), 0-100 %, with a legend naming the two kinds."""
    rows = [row for row in rows if row[1] is not None or row[2] is not None]
    if not rows:
        return Markup("")
    top = LEGEND + TOP
    scale = _Scale([Bar(label, 0.0) for label, _, _ in rows], (0.0, 100.0))
    height = top + len(rows) * GROUPED_ROW + BOTTOM
    body = []
    x: float = scale.left
    for kind, words in legend:
        body.append(f'<rect class="swatch {kind}" x="{_n(x)}" y="4" width="10" height="10"></rect>'
                    f'<text class="legend" x="{_n(x + 14)}" y="13">{escape(words)}</text>')
        x += 14 + len(words) * CHAR_WIDTH + 16
    body += scale.axis(PERCENT_TICKS, top, height - BOTTOM, "%")
    for index, (label, first, second) in enumerate(rows):
        row_top = top + index * GROUPED_ROW + (GROUPED_ROW - 2 * GROUPED_BAR - 2) / 2
        parts, tips = [], []
        for offset, bar, (_, words) in ((0, first, legend[0]), (GROUPED_BAR + 2, second, legend[1])):
            if bar is None:
                continue
            middle = row_top + offset + GROUPED_BAR / 2
            parts.append(_rect(scale.x(0.0), scale.x(bar.value), row_top + offset, GROUPED_BAR, bar.kind))
            parts.append(_value_text(scale.right, middle, f"{bar.value:.1f}%"))
            tips.append(f"{words} {bar.value:.1f}%")
        middle = top + index * GROUPED_ROW + GROUPED_ROW / 2
        body.append(f'<g class="row"><title>{escape(label)}: {escape(", ".join(tips))}</title>'
                    f'{_label(scale.left, middle, label)}{"".join(parts)}</g>')
    return _svg(title, height, body)


# ---- pieces ---------------------------------------------------------------------------------------------------------


class _Scale:
    """x positions of a domain over the plot area right of the label column."""

    def __init__(self, bars: list[Bar], domain: tuple[float, float]):
        longest = max(len(_short(bar.label)) for bar in bars)
        self.left = min(max(LABEL_MIN, math.ceil(longest * CHAR_WIDTH) + 12), LABEL_MAX)
        self.right = WIDTH - VALUE_WIDTH
        self.low, self.high = domain

    def x(self, value: float) -> float:
        share = (min(max(value, self.low), self.high) - self.low) / (self.high - self.low)
        return self.left + share * (self.right - self.left)

    def axis(self, ticks: Iterable[float], top: float, bottom: float, unit: str, signed: bool = False) -> list[str]:
        parts = []
        for tick in ticks:
            x = self.x(tick)
            words = (_signed(tick, digits=None) if signed and tick else f"{tick:g}") + unit
            parts.append(_line(x, top - 4, x, bottom, "grid"))
            parts.append(f'<text class="tick" x="{_n(x)}" y="{_n(top - 8)}" '
                         f'text-anchor="middle">{escape(words)}</text>')
        return parts


def _score_bars(groups: Mapping[str, GroupScores], kind: str = "") -> list[Bar]:
    bars = []
    for name, group in groups.items():
        score = as_number(group.score)
        if score is not None:
            bars.append(Bar(str(name), score, as_interval(group.score_ci), kind))
    return bars


def _svg(title: str, height: float, body: list[str]) -> Markup:
    words = escape(title)
    return Markup(f'<svg class="chart" role="img" aria-label="{words}" width="{WIDTH}" height="{_n(height)}" '
                  f'viewBox="0 0 {WIDTH} {_n(height)}" {FONT}><title>{words}</title>{"".join(body)}</svg>')


def _row(bar: Bar, left: float, middle: float, parts: list[str], unit: str, signed: bool = False) -> str:
    value = _signed(bar.value) if signed else f"{bar.value:.1f}{unit}"
    interval = ""
    if bar.interval:
        low, high = (_signed(end) if signed else f"{end:.1f}{unit}" for end in bar.interval)
        interval = f" [{low}, {high}]"
    return (f'<g class="row"><title>{escape(bar.label)}: {escape(value + interval)}</title>'
            f'{_label(left, middle, bar.label)}{"".join(parts)}</g>')


def _label(left: float, middle: float, label: str) -> str:
    return (f'<text class="label" x="{_n(left - 6)}" y="{_n(middle + 4)}" text-anchor="end">'
            f'{escape(_short(label))}</text>')


def _rect(x0: float, x1: float, y: float, height: float, kind: str) -> str:
    left, right = min(x0, x1), max(x0, x1)
    classes = f"bar {kind}".strip()
    return (f'<rect class="{classes}" x="{_n(left)}" y="{_n(y)}" width="{_n(right - left)}" '
            f'height="{_n(height)}"></rect>')


def _whisker(scale: _Scale, interval: tuple[float, float] | None, middle: float) -> list[str]:
    if interval is None:
        return []
    low, high = scale.x(interval[0]), scale.x(interval[1])
    return [_line(low, middle, high, middle, "ci"), _line(low, middle - 5, low, middle + 5, "ci"),
            _line(high, middle - 5, high, middle + 5, "ci")]


def _line(x1: float, y1: float, x2: float, y2: float, kind: str) -> str:
    return f'<line class="{kind}" x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}"></line>'


def _value_text(right: float, middle: float, words: str) -> str:
    return f'<text class="value" x="{_n(right + 6)}" y="{_n(middle + 4)}">{escape(words)}</text>'


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def _n(value: float) -> str:
    """A coordinate: one decimal, no "-0.0"."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _signed(value: float, digits: int | None = 1) -> str:
    if digits is None:
        return f"{value:+g}"
    text = f"{value:+.{digits}f}"
    return "+" + text[1:] if text.startswith("-") and float(text) == 0 else text


def _nice_limit(largest: float) -> float:
    for limit in NICE_LIMITS:
        if largest <= limit:
            return float(limit)
    return float(math.ceil(largest / 50) * 50)


def as_number(value: Any) -> float | None:
    """A finite float, or None for anything else (None, NaN, text, a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def as_interval(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    low, high = as_number(value[0]), as_number(value[1])
    if low is None or high is None:
        return None
    return (min(low, high), max(low, high))
