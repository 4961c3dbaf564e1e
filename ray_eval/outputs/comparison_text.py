"""The comparison of two runs as words and rows: `ray-eval compare`'s terminal text, and the content summary.md's
comparison section renders as Markdown (summary.comparison_markdown). Both say the same: the verdict word, both runs
as `model (run RUN_ID)`, the change with its interval, p shown as `p < 0.001` below that, the test of every row and
each row's own verdict.

Names and answers come from the dataset and the models. Markdown escapes them (summary.md_cell); on a terminal they
are printed as they are, less control characters (an answer holding an escape sequence would drive the terminal)
and line breaks (they would break the columns).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Collection
from dataclasses import astuple, dataclass
from typing import Any

from ray_eval.outputs.report_views import (
    TEST_NAMES,
    confidence_label,
    format_delta,
    format_delta_ci,
    format_p_value,
    format_score,
)
from ray_eval.verdict.comparison_verdict import (
    ComparisonVerdict,
    PairedGroup,
    comparison_verdict,
    min_paired_samples,
    too_few_reason,
)
from ray_eval.verdict.summary_model import Comparison, RunIdentity

ROW_HEADERS = ("group", "paired n", "baseline score", "candidate score", "change (points)", "interval", "p", "test",
               "verdict")
RIGHT_ALIGNED = {1, 2, 3, 4}  # the numbers' columns
FLIPPED_HEADERS = ("flipped sample", "subset", "change", "baseline answer", "candidate answer")
ANSWER_COLUMNS = 40  # a longer answer is cut on the terminal (comparison.json and --html keep it whole)
ONE_CLUSTER = "none: one media cluster"  # the interval cell of a degenerate bootstrap


@dataclass(frozen=True)
class ComparisonRow:
    """One group's row; every field is display text, `group` straight from the data."""

    group: str
    n: str
    baseline_score: str
    candidate_score: str
    change: str
    interval: str
    p: str
    test: str
    verdict: str


@dataclass(frozen=True)
class FlippedRow:
    sample_id: str
    subset: str
    change: str
    baseline_answer: str
    candidate_answer: str


@dataclass(frozen=True)
class Headline:
    """The sentences above the table, already escaped by whoever asked (see comparison_headline)."""

    title: str
    verdict: ComparisonVerdict
    verdict_line: str
    detail: str
    notes: list[str]


def run_name(identity: RunIdentity) -> str:
    """`model (run RUN_ID)`: the run id tells apart two runs of the same model label."""
    return f"{identity.model or 'unknown model'} (run {identity.run_id or '–'})"


def comparison_headline(comparison: Comparison, text: Callable[[Any], str],
                        strong: Callable[[str], str]) -> Headline:
    """The title, verdict and headline numbers; `text` escapes data for the output, `strong` marks the verdict."""
    verdict = comparison_verdict(comparison)
    title = (f"Comparison of candidate {text(run_name(comparison.candidate))} "
             f"with baseline {text(run_name(comparison.baseline))}")
    reason = too_few_reason(comparison) if verdict is ComparisonVerdict.TOO_FEW else None
    verdict_line = f"Verdict: {strong(verdict.value)}" + (f" ({text(reason)})" if reason else "")
    overall = PairedGroup.of(comparison.overall)
    flipped = comparison.flipped_total
    if overall is None:
        detail = "No samples in common."
    else:
        interval = overall.shown_interval
        confidence = confidence_label(comparison.confidence)
        shown_interval = (f" {format_delta_ci(interval)} ({confidence + ' ' if confidence else ''}paired bootstrap "
                          "interval)" if interval
                          else " (no interval: one media cluster)" if overall.degenerate else "")
        detail = (f"Change (candidate − baseline): {format_delta(overall.delta)} points{shown_interval}, "
                  f"{format_score(overall.baseline_score)} → {format_score(overall.candidate_score)}, "
                  f"{format_p_value(overall.p_value)} ({_test_name(overall.test)}), "
                  f"{overall.n} paired samples; flipped: {flipped.gained} gained, {flipped.lost} lost.")
    notes = [f"Note: {text(note)}" for note in comparison.notes if note]
    return Headline(title, verdict, verdict_line, detail, notes)


def comparison_rows(comparison: Comparison) -> list[ComparisonRow]:
    """Overall, then each subset and format (the label groups are in comparison.json and the HTML page)."""
    minimum = min_paired_samples(comparison)
    named = [("overall", comparison.overall)]
    named += [(f"subset {name}", group) for name, group in comparison.by_subset.items()]
    named += [(f"format {name}", group) for name, group in comparison.by_format.items()]
    rows = []
    for name, stored in named:
        group = PairedGroup.of(stored)
        if group is None:
            continue
        interval = format_delta_ci(group.shown_interval) or (ONE_CLUSTER if group.degenerate else "–")
        rows.append(ComparisonRow(
            group=str(name), n=str(group.n), baseline_score=format_score(group.baseline_score),
            candidate_score=format_score(group.candidate_score), change=format_delta(group.delta), interval=interval,
            p=format_p_value(group.p_value), test=_test_name(group.test), verdict=group.verdict(minimum).row_word))
    return rows


def flipped_rows(comparison: Comparison, limit: int) -> list[FlippedRow]:
    def answer(extracted: str | None, error: bool) -> str:
        if extracted is not None:
            return extracted
        return "(error)" if error else "–"

    return [FlippedRow(sample.sample_id, sample.subset or "–", sample.change,
                       answer(sample.baseline_extracted, sample.baseline_error),
                       answer(sample.candidate_extracted, sample.candidate_error))
            for sample in comparison.flipped[:limit]]


def comparison_text(comparison: Comparison, max_flipped: int = 50) -> str:
    """The comparison as plain text for a terminal: aligned columns, no Markdown."""
    headline = comparison_headline(comparison, plain, strong=lambda word: word)
    lines = [headline.title, *headline.notes, headline.verdict_line, headline.detail]
    rows = comparison_rows(comparison)
    if rows:
        lines += ["", *aligned(ROW_HEADERS, [astuple(row) for row in rows], RIGHT_ALIGNED)]
    if comparison.by_label:
        lines.append("By label: see comparison.json (--out DIR) or the HTML page (--html FILE).")
    flipped = flipped_rows(comparison, max_flipped)
    if flipped:
        total = comparison.flipped_total.gained + comparison.flipped_total.lost
        lines += ["", f"Flipped samples{f' (the first {len(flipped)} of {total})' if total > len(flipped) else ''}:",
                  *aligned(FLIPPED_HEADERS, [tuple(cut(cell, ANSWER_COLUMNS) for cell in astuple(row))
                                             for row in flipped])]
    return "\n".join(lines)


# ---- plain text on a terminal -----------------------------------------------------------------------------------


def plain(value: Any) -> str:
    """Data as one line of terminal text: line breaks and tabs become spaces, other control and format characters
    (escape sequences, bidirectional overrides) a replacement character."""
    characters = []
    for character in str(value):
        category = unicodedata.category(character)
        if character in "\t\n\r\v\f" or category in ("Zl", "Zp"):
            characters.append(" ")
        elif category in ("Cc", "Cf"):
            characters.append("\ufffd")
        else:
            characters.append(character)
    return "".join(characters)


def width(text: str) -> int:
    """Terminal columns: East Asian wide characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
               for c in text)


def cut(text: str, columns: int) -> str:
    text = plain(text)
    if width(text) <= columns:
        return text
    kept = ""
    for character in text:
        if width(kept + character) > columns - 1:
            break
        kept += character
    return kept + "…"


def aligned(headers: tuple[str, ...], rows: list[tuple[str, ...]], right: Collection[int] = ()) -> list[str]:
    """Header, a rule and the rows in columns two spaces apart; `right` columns (by index) aligned right."""
    table = [headers, *[tuple(plain(cell) for cell in row) for row in rows]]
    widths = [max(width(row[column]) for row in table) for column in range(len(headers))]

    def line(cells: tuple[str, ...]) -> str:
        padded = [" " * (widths[i] - width(cell)) + cell if i in right else cell + " " * (widths[i] - width(cell))
                  for i, cell in enumerate(cells)]
        return "  ".join(padded).rstrip()

    return [line(headers), line(tuple("-" * w for w in widths)), *(line(row) for row in table[1:])]


def _test_name(test: str | None) -> str:
    return TEST_NAMES.get(test, test) if test else "–"
