"""report.html: one self-contained page a reviewer opens offline to see why the gate passed or failed, down to each
sample's question, options, expected answer and full response.

Everything from the dataset or the model is untrusted (a question or a response may hold markup). So the template
is rendered with autoescape on, data only ever lands in element text (never in attributes, scripts or styles; the
thumbnails' data URLs are built here from bytes, their alt text from our own words and numbers), and a
Content-Security-Policy admits no external resource and no script but our own (pinned by its hash): even a missed
escape could neither run code nor call home. Charts are
inline SVG drawn by charts.py (labels escaped there, colours from the page's own stylesheet); the views of
summary.json and verdict.json (intervals, visual diagnostics, the comparison with a baseline) are in report_views.py.

results.parquet can be large and its thumbnails heavy: it is read column by column, and the text and thumbnails of
samples are read only for the few rows the report details.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ray_eval.cluster.malloc import release_free_memory
from ray_eval.config import ReportConfig
from ray_eval.data.taxonomy import LABEL_LEVELS, NO_SUBSET
from ray_eval.outputs.report_views import (
    FILTERS,
    check_view,
    comparison_view,
    overview,
    suite_view,
)
from ray_eval.outputs.suites import several_suites, suite_rows
from ray_eval.runs.layout import RunLayout
from ray_eval.runs.results import LEGACY_THUMBNAIL, legacy_thumbnails
from ray_eval.verdict.summary_model import Comparison, Summary

TEMPLATE = "report.html.j2"
COMPARISON_TEMPLATE = "comparison.html.j2"  # the comparison section on its own page
# Columns deciding which samples are detailed: small, read for every row.
SELECTION_COLUMNS = ["sample_id", "source", "row_number", "status", "passed", "unparsed", "critical"]
# Columns of a detailed sample: read only for the selected rows.
DETAIL_COLUMNS = [
    "suite", "sample_id", "source", "row_number", "subset", "format", "input_type", "question", "options", "answer",
    "extracted", "response", "finish_reason", "score", "passed", "unparsed", "status", "error_stage", "error_type",
    "error", *LABEL_LEVELS, "critical", "latency_s", "thumbnails", "thumbnail_captions", LEGACY_THUMBNAIL,
]
WRONG_ANSWERS = 10  # rows of the "most common wrong MCQ answers" table
ERROR_EXAMPLE_CHARS = 400  # an error message quoted in the error table is cut here (the sample shows it all)
THUMBNAIL_MAX_BYTES = 256 * 1024  # a "thumbnail" bigger than this is not one; it would bloat the page
JPEG_MAGIC = b"\xff\xd8\xff"
OUTCOME_LABELS = {"wrong": "wrong answer", "unparsed": "unparsed", "error": "error", "passed": "passed"}
# Detailed first: wrong answers (what the model got wrong), then errors (runs of the same infrastructure failure
# would otherwise crowd them out; the error table summarises those), then passed samples if there is room.
OUTCOME_ORDER = {"wrong": 0, "unparsed": 0, "error": 1, "passed": 2}

# The filter box of the samples section. It only reads the page's own text and the data-outcome attribute (a
# value of OUTCOME_LABELS' keys), never data. Kept here rather than in the template so its hash for the CSP is
# computed over exactly the text the page carries.
FILTER_SCRIPT = """
(function () {
  var box = document.getElementById("sample-filter");
  var outcome = document.getElementById("sample-outcome");
  var shown = document.getElementById("sample-shown");
  var cards = document.querySelectorAll("article.sample");
  function apply() {
    var text = box.value.toLowerCase();
    var wanted = outcome.value;
    var count = 0;
    for (var i = 0; i < cards.length; i++) {
      var card = cards[i];
      var visible = (wanted === "all" || card.getAttribute("data-outcome") === wanted) &&
        card.textContent.toLowerCase().indexOf(text) !== -1;
      card.hidden = !visible;
      if (visible) { count++; }
    }
    shown.textContent = String(count);
  }
  box.addEventListener("input", apply);
  outcome.addEventListener("change", apply);
})();
"""


def write_report(path: Path, summary: Summary, run_dir: Path, config: ReportConfig) -> None:
    """A one-suite run's page is as it was before suites; a several-suite run's opens with a row per suite, then each
    suite's scores, comparison, categories and diagnostics under its name."""
    results_path = RunLayout(run_dir).results.merged
    decision = summary.verdict
    several = several_suites(summary)
    analysis = analyse_results(results_path, config.max_samples) if results_path.exists() else None
    page = _environment().get_template(TEMPLATE).render(
        overview=overview(summary),
        several=several,
        suite_rows=suite_rows(summary) if several else [],
        suites=[suite_view(suite, position if several else None)
                for position, suite in enumerate(summary.suites, 1)],
        checks=[check_view(check) for check in decision.checks or []],
        checks_note=decision.note or "no gate checks were configured",
        analysis=analysis,
        max_samples=config.max_samples,
        outcome_labels=OUTCOME_LABELS,
        csp=content_security_policy(),
        # Markup: our own constant, not data; escaping it would break the script (and its hash).
        filter_script=Markup(FILTER_SCRIPT),
    )
    path.write_text(page, encoding="utf-8")


def write_comparison_page(path: Path, comparison: Comparison) -> Path:
    """The comparison of two runs (compare.compare_runs) as a page of its own: report.html's comparison section,
    with the same stylesheet and Content-Security-Policy."""
    page = _environment().get_template(COMPARISON_TEMPLATE).render(
        comparison=comparison_view(comparison, standalone=True), csp=content_security_policy())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("ray_eval.outputs", "templates"),
        autoescape=True,  # every value is escaped; the template never marks data |safe
        undefined=StrictUndefined,  # a misspelt field fails the tests instead of rendering blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(FILTERS)
    return environment


def content_security_policy() -> str:
    digest = base64.b64encode(hashlib.sha256(FILTER_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
            "base-uri 'none'; form-action 'none'")


# ---- results.parquet ------------------------------------------------------------------------------------------------


def analyse_results(path: Path, max_samples: int) -> dict[str, Any]:
    """What the report needs from the results: the detailed samples, error groups and MCQ answer counts."""
    present = set(pq.read_schema(path).names)
    selection = pq.read_table(path, columns=[c for c in SELECTION_COLUMNS if c in present]).to_pandas()
    outcomes = sample_outcomes(selection)
    positions = select_samples(selection, outcomes, max_samples)
    rows = read_rows(path, positions, [c for c in DETAIL_COLUMNS if c in present])
    return {
        "total": len(selection),
        "outcome_counts": {name: int((outcomes == name).sum()) for name in OUTCOME_LABELS},
        "samples": [sample_view(row, outcomes.iloc[position]) for row, position in zip(rows, positions, strict=True)],
        "error_groups": error_groups(path, present),
        "wrong_answers": wrong_mcq_answers(path, present),
    }


def sample_outcomes(selection: pd.DataFrame) -> pd.Series:
    """wrong / unparsed / error / passed for each row, as aggregate.py counts them (a non-ok status is an error)."""
    error = selection["status"] != "ok"
    passed = selection["passed"].fillna(False).astype(bool) if "passed" in selection else False
    unparsed = selection["unparsed"].fillna(False).astype(bool) if "unparsed" in selection else False
    outcome = pd.Series("wrong", index=selection.index)
    outcome[unparsed] = "unparsed"
    outcome[passed] = "passed"
    outcome[error] = "error"
    return outcome


def select_samples(selection: pd.DataFrame, outcomes: pd.Series, max_samples: int) -> list[int]:
    """Row positions of the samples to detail: by OUTCOME_ORDER, critical first, then in dataset order."""
    if max_samples <= 0 or selection.empty:
        return []
    order = pd.DataFrame({
        "rank": outcomes.map(OUTCOME_ORDER),
        "not_critical": ~selection["critical"].fillna(False).astype(bool) if "critical" in selection else True,
        "source": selection["source"] if "source" in selection else "",
        "row_number": selection["row_number"] if "row_number" in selection else 0,
    })
    # Results arrive in whatever order Ray finishes them; sorting by source row keeps the report stable across runs.
    order = order.sort_values(["rank", "not_critical", "source", "row_number"], kind="stable", na_position="last")
    return [int(position) for position in order.index[:max_samples]]


def read_rows(path: Path, positions: list[int], columns: list[str]) -> list[dict[str, Any]]:
    """The rows at these positions of the file, in that order, reading one row group at a time and keeping only
    the wanted rows of it: a large run's thumbnails are never all in memory."""
    wanted = sorted(set(positions))
    if not wanted:
        return []
    parquet = pq.ParquetFile(path)
    found: dict[int, dict[str, Any]] = {}
    start, next_wanted = 0, 0
    for group in range(parquet.metadata.num_row_groups):
        end = start + parquet.metadata.row_group(group).num_rows
        inside = []
        while next_wanted < len(wanted) and wanted[next_wanted] < end:
            inside.append(wanted[next_wanted])
            next_wanted += 1
        if inside:
            table = parquet.read_row_group(group, columns=columns).take(pa.array([p - start for p in inside]))
            found.update(zip(inside, table.to_pylist(), strict=True))
            release_free_memory()  # else Arrow's pool keeps every group's pages to the end
        start = end
    return [found[position] for position in positions]


def sample_view(row: dict[str, Any], outcome: str) -> dict[str, Any]:
    answer_format, answer, extracted = row.get("format"), row.get("answer"), row.get("extracted")
    options = []
    for index, text in enumerate(row.get("options") or []):
        letter = chr(ord("A") + index) if index < 26 else str(index + 1)
        options.append({"letter": letter, "text": text, "expected": answer_format == "mcq" and letter == answer,
                        "extracted": answer_format == "mcq" and letter == extracted})
    error = None
    if outcome == "error":
        error = {"stage": row.get("error_stage") or "unknown", "type": row.get("error_type") or "unknown",
                 "message": row.get("error")}
    return {
        "outcome": outcome,
        "suite": row.get("suite"),
        "sample_id": row.get("sample_id"),
        "source": row.get("source"),
        "row_number": row.get("row_number"),
        "subset": row.get("subset") or NO_SUBSET,
        "format": answer_format,
        "input_type": row.get("input_type"),
        "labels": [(level.upper(), row[level]) for level in LABEL_LEVELS if row.get(level)],
        "critical": bool(row.get("critical")),
        "thumbnails": thumbnail_views(row),
        "thumbnail_strip": row.get("input_type") == "video" and "thumbnails" in row,
        "question": row.get("question"),
        "options": options,
        "answer": answer,
        "extracted": extracted,
        "response": row.get("response"),
        "finish_reason": row.get("finish_reason"),
        "score": row.get("score"),
        "latency_s": row.get("latency_s"),
        "error": error,
    }


def thumbnail_views(row: dict[str, Any]) -> list[dict[str, str]]:
    """Each media item's thumbnail as the page shows it, in the sample's order: `url`, a data: URL of real JPEG bytes;
    `alt`, our own words and numbers only (data never lands in an attribute); `caption`, the row's own text for it
    (element text, escaped). A row of an older run holds one `thumbnail`, of the first image or frame."""
    if "thumbnails" in row:
        blobs, captions = row["thumbnails"] or [], row.get("thumbnail_captions") or []
        video = row.get("input_type") == "video"
        alts = ["video frames" if video else "image" if len(blobs) == 1 else f"image {n} of {len(blobs)}"
                for n in range(1, len(blobs) + 1)]
    else:
        blob, caption = legacy_thumbnails(row.get(LEGACY_THUMBNAIL))
        blobs, captions = blob or [], caption or []
        alts = [caption or "" for caption in captions]
    views = []
    # A legacy row's caption list may be shorter than its thumbnails: a thumbnail without one is left out, as ever.
    for index, (blob, alt) in enumerate(zip(blobs, alts, strict=False)):
        url = thumbnail_data_url(blob)
        if url is not None:
            views.append({"url": url, "alt": alt, "caption": captions[index] if index < len(captions) else alt})
    return views


def thumbnail_data_url(blob: bytes | None) -> str | None:
    """A data: URL for a JPEG thumbnail; None for anything else, so only base64 of real JPEG bytes reaches a src."""
    if not blob or len(blob) > THUMBNAIL_MAX_BYTES or not blob.startswith(JPEG_MAGIC):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(blob).decode("ascii")


def error_groups(path: Path, present: set[str]) -> list[dict[str, Any]]:
    """Error rows by stage and type, most frequent first, each with its first message as an example."""
    if not {"status", "error_stage", "error_type"} <= present:
        return []
    columns = ["error_stage", "error_type"] + (["error"] if "error" in present else [])
    status = pc.field("status")
    table = pq.read_table(path, columns=columns, filters=(status != "ok") | status.is_null())
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in table.to_pylist():
        key = (row["error_stage"] or "unknown", row["error_type"] or "unknown")
        group = groups.setdefault(key, {"stage": key[0], "type": key[1], "count": 0, "example": None})
        group["count"] += 1
        if group["example"] is None and row.get("error"):
            message = row["error"]
            group["example"] = message if len(message) <= ERROR_EXAMPLE_CHARS else message[:ERROR_EXAMPLE_CHARS] + "…"
    return sorted(groups.values(), key=lambda group: (-group["count"], group["stage"], group["type"]))


def wrong_mcq_answers(path: Path, present: set[str]) -> dict[str, Any]:
    """The answers MCQ questions were most often wrongly given, next to how often each answer was given at all and
    how often it is the right one: a letter picked far more often than it is right is a position bias."""
    if not {"format", "answer", "extracted", "passed", "status"} <= present:
        return {"questions": 0, "answered": 0, "rows": []}
    table = pq.read_table(path, columns=["answer", "extracted", "passed", "status"],
                          filters=pc.field("format") == "mcq")
    expected: Counter[str] = Counter()
    given: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    answered = 0
    for row in table.to_pylist():
        if row["answer"] is not None:
            expected[row["answer"]] += 1
        if row["status"] != "ok" or row["extracted"] is None:
            continue
        answered += 1
        given[row["extracted"]] += 1
        if not row["passed"]:
            wrong[row["extracted"]] += 1
    rows = [{"answer": answer, "wrong": count,
             "given_share": given[answer] / answered, "expected_share": expected[answer] / table.num_rows}
            for answer, count in sorted(wrong.items(), key=lambda item: (-item[1], item[0]))[:WRONG_ANSWERS]]
    return {"questions": table.num_rows, "answered": answered, "rows": rows}
