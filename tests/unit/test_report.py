"""report.html from a hand-made run directory: escaping of hostile dataset and model text, sample order and
count, the stand-in warning, embedded thumbnails, no external resources, and None values everywhere."""

from __future__ import annotations

import base64
import hashlib
import io
import types
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from ray_eval.config import GateConfig, ReportConfig, validate_config
from ray_eval.data.dataset import DatasetScan
from ray_eval.outputs import report as report_module
from ray_eval.outputs import report_views
from ray_eval.outputs.report import FILTER_SCRIPT, read_rows, write_report
from ray_eval.outputs.summary import build_summary, suite_result
from ray_eval.records import RESULT_SCHEMA
from ray_eval.verdict.aggregate import summarize
from ray_eval.verdict.gate import evaluate_gate, verdict
from ray_eval.verdict.summary_model import Check as StoredCheck
from ray_eval.verdict.summary_model import (
    Comparison,
    Diagnostics,
    GroupScores,
    RunIdentity,
    Scores,
    Statistics,
    Summary,
)

SCRIPT_PAYLOAD = "<script>alert(1)</script>"
ATTRIBUTE_PAYLOAD = '" onmouseover="alert(1)'
IMG_PAYLOAD = "<img src=x onerror=alert(1)>"
STYLE_PAYLOAD = "</pre><style>body{background:url(https://evil.example/x)}</style>"
PAYLOADS = (SCRIPT_PAYLOAD, ATTRIBUTE_PAYLOAD, IMG_PAYLOAD, STYLE_PAYLOAD)


def jpeg(width: int = 24, height: int = 16, colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def result_row(sample_id: str, row_number: int, outcome: str, **fields: Any) -> dict[str, Any]:
    """A RESULT_SCHEMA row of an MCQ question (answer A) ending in `outcome`: passed, wrong, unparsed or error."""
    row: dict[str, Any] = {field.name: None for field in RESULT_SCHEMA}
    row.update(sample_id=sample_id, source="manifest.jsonl", row_number=row_number, subset="ShopFront", format="mcq",
               input_type="single", question=f"Which shelf? ({sample_id})", options=["left", "middle", "right"],
               answer="A", l1="Perception", l2="OCR", weight=1.0, critical=False, status="ok",
               latency_s=0.5, prompt_tokens=100, completion_tokens=3, attempts=1, media_refs=[])
    if outcome == "passed":
        row.update(response="A", extracted="A", score=1.0, passed=True, unparsed=False)
    elif outcome == "wrong":
        row.update(response="B", extracted="B", score=0.0, passed=False, unparsed=False)
    elif outcome == "unparsed":
        row.update(response="I cannot tell.", extracted=None, score=0.0, passed=False, unparsed=True)
    elif outcome == "error":  # no response, no score: the engine never answered
        row.update(status="error", error_stage="inference", error_type="ReadTimeout", error="request timed out",
                   latency_s=None, prompt_tokens=None, completion_tokens=None)
    else:
        raise ValueError(outcome)
    row.update(fields)
    return row


def standard_rows() -> list[dict[str, Any]]:
    """A passed row first in the file (with a thumbnail, its caption hostile), then a wrong, an error and an unparsed
    row, with hostile text in every field a dataset or a model controls."""
    return [
        result_row("passed-1", 1, "passed", thumbnails=[jpeg()], thumbnail_captions=[IMG_PAYLOAD + ATTRIBUTE_PAYLOAD]),
        result_row("wrong-1", 2, "wrong", question=SCRIPT_PAYLOAD, response=ATTRIBUTE_PAYLOAD + SCRIPT_PAYLOAD,
                   options=[IMG_PAYLOAD, ATTRIBUTE_PAYLOAD, "right"], l2=ATTRIBUTE_PAYLOAD, l3=SCRIPT_PAYLOAD),
        result_row("error-1", 3, "error", error=STYLE_PAYLOAD, question=ATTRIBUTE_PAYLOAD),
        result_row(SCRIPT_PAYLOAD, 4, "unparsed", response=STYLE_PAYLOAD, critical=True),
    ]


def write_results(run_dir: Path, rows: list[dict[str, Any]], row_group_size: int | None = None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=RESULT_SCHEMA), run_dir / "results.parquet",
                   row_group_size=row_group_size)


def make_summary(run_dir: Path, gate: GateConfig, *, stand_in: bool = True, complete: bool = True,
                 reason: str | None = None, demo_model: bool = False) -> Summary:
    scores = summarize(pq.read_table(run_dir / "results.parquet").to_pandas())
    decision = verdict(evaluate_gate(scores, gate), complete=complete, incomplete_reason=reason)
    engine = ({"kind": "scripted"} if stand_in else
              {"kind": "openai", "base_url": "http://user:secret@127.0.0.1:8000/v1", "model": "ostrakon-vl-8b"})
    config = validate_config({"dataset": {"path": "data/manifest.jsonl"}, "engine": engine,
                              "run": {"model_label": "checkpoint " + SCRIPT_PAYLOAD, "demo_model": demo_model}})
    scan = DatasetScan("manifest", Path("data/manifest.jsonl"), types.SimpleNamespace(name="manifest"),
                       rows=scores.overall.n,
                       chunks=[], fingerprint="f" * 64)
    suite = suite_result("manifest", scan, scores, statistics=None, diagnostics=None, comparison=None)
    return build_summary(config, [suite], decision, run_dir=run_dir, started_at=datetime.now(UTC),
                         duration_s=83.2, served_models=["scripted-model"], serving=None)


class Page(HTMLParser):
    """The parts of report.html the tests look at."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self.samples: list[dict[str, Any]] = []  # per <article class="sample">: id, outcome, img srcs, alts, captions
        self._in: str | None = None  # "script", "style", "sample-id" or "figcaption" while inside one
        self._buffer: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        classes = (attributes.get("class") or "").split()
        if tag in ("script", "style"):
            self._in, self._buffer = tag, []
        elif tag == "article" and "sample" in classes:
            self.samples.append({"id": "", "outcome": attributes.get("data-outcome"), "images": [], "alts": [],
                                 "captions": [], "thumb_classes": []})
        elif tag == "span" and "sample-id" in classes:
            self._in, self._buffer = "sample-id", []
        elif tag == "div" and "thumb" in classes and self.samples:
            self.samples[-1]["thumb_classes"] = classes
        elif tag == "img" and self.samples:
            self.samples[-1]["images"].append(attributes.get("src") or "")
            self.samples[-1]["alts"].append(attributes.get("alt"))
        elif tag == "figcaption" and self.samples:
            self._in, self._buffer = "figcaption", []

    def handle_endtag(self, tag: str) -> None:
        if self._in in ("script", "style") and tag == self._in:
            (self.scripts if tag == "script" else self.styles).append("".join(self._buffer))
            self._in = None
        elif self._in == "sample-id" and tag == "span":
            self.samples[-1]["id"] = "".join(self._buffer)
            self._in = None
        elif self._in == "figcaption" and tag == "figcaption":
            self.samples[-1]["captions"].append("".join(self._buffer))
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._buffer.append(data)
        if self._in not in ("script", "style"):
            self.text.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def render(tmp_path: Path, rows: list[dict[str, Any]] | None = None, *, max_samples: int = 500,
           gate: GateConfig | None = None, extend: Callable[[Summary], None] | None = None,
           **summary_options: Any) -> tuple[str, Page]:
    """report.html of these rows; `extend` may change the summary (and its verdict) before the report is written."""
    run_dir = tmp_path / "run"
    write_results(run_dir, standard_rows() if rows is None else rows)
    summary = make_summary(run_dir, gate or GateConfig(min_pass_rate=0.9), **summary_options)
    if extend is not None:
        extend(summary)
    write_report(run_dir / "report.html", summary, run_dir, ReportConfig(max_samples=max_samples))
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    return html, Page(html)


def test_hostile_text_is_only_escaped_text(tmp_path):
    html, page = render(tmp_path)
    assert page.scripts == [FILTER_SCRIPT]  # our filter box and nothing else
    assert sum(tag == "script" for tag, _ in page.elements) == 1
    assert sum(tag == "style" for tag, _ in page.elements) == 1
    for tag, attributes in page.elements:
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        assert tag not in ("iframe", "object", "embed", "link", "base", "form", "use", "image", "foreignobject")
    images = [attributes for tag, attributes in page.elements if tag == "img"]
    assert images and all(attributes["src"].startswith("data:image/jpeg;base64,") for attributes in images)
    # Every payload is shown to the reader, as text.
    for payload in PAYLOADS:
        assert payload in page.all_text
    assert "<script>alert" not in html and "onmouseover=\"alert" not in html


def test_failures_and_errors_come_before_passed_samples(tmp_path):
    _, page = render(tmp_path)
    order = [sample["id"] for sample in page.samples]
    assert order == [SCRIPT_PAYLOAD, "wrong-1", "error-1", "passed-1"]  # the critical failure leads
    assert [sample["outcome"] for sample in page.samples] == ["unparsed", "wrong", "error", "passed"]


@pytest.mark.parametrize("max_samples", [0, 1, 3])
def test_max_samples_is_respected(tmp_path, max_samples):
    _, page = render(tmp_path, max_samples=max_samples)
    assert len(page.samples) == max_samples
    assert all(sample["outcome"] != "passed" for sample in page.samples)
    if max_samples == 0:
        assert page.scripts == []  # no samples, no filter box


def test_stand_in_warning(tmp_path):
    _, page = render(tmp_path / "stand-in", stand_in=True)
    assert "Stand-in model" in page.all_text
    assert "these scores say nothing about a model" in page.all_text
    _, page = render(tmp_path / "real", stand_in=False)
    assert "Stand-in model" not in page.all_text
    assert "checkpoint " + SCRIPT_PAYLOAD in page.all_text  # the model label, as set by run.model_label


def test_a_demo_model_is_named_for_what_it_is_in_both_reports(tmp_path):
    """The demo model's scores are its own, real measurements: no stand-in warning, but a note saying what they mean."""
    from ray_eval.outputs.summary import DEMO_NOTE, render_markdown

    _, page = render(tmp_path / "demo", stand_in=False, demo_model=True)
    assert "About this model" in page.all_text and DEMO_NOTE in page.all_text
    assert "Stand-in model" not in page.all_text
    summary = make_summary(tmp_path / "demo" / "run", GateConfig(), stand_in=False, demo_model=True)
    assert not summary.model.stand_in and summary.model.note == DEMO_NOTE
    assert f"> {DEMO_NOTE}" in render_markdown(summary).splitlines()
    _, page = render(tmp_path / "real", stand_in=False)
    assert "About this model" not in page.all_text


def test_thumbnail_is_embedded_as_data_url(tmp_path):
    _, page = render(tmp_path)
    passed = next(sample for sample in page.samples if sample["id"] == "passed-1")
    assert len(passed["images"]) == 1
    prefix = "data:image/jpeg;base64,"
    assert passed["images"][0].startswith(prefix)
    assert base64.b64decode(passed["images"][0][len(prefix):]) == jpeg()
    assert passed["alts"] == ["image"] and passed["captions"] == [IMG_PAYLOAD + ATTRIBUTE_PAYLOAD]  # as text
    assert all(not sample["images"] for sample in page.samples if sample["id"] != "passed-1")


def test_no_external_resources(tmp_path):
    html, page = render(tmp_path, stand_in=False)  # the engine URL is shown, as text only (and without the password)
    assert "http://127.0.0.1:8000/v1" in page.all_text
    assert "secret" not in html
    for tag, attributes in page.elements:
        for name, value in attributes.items():
            text = value or ""
            assert "http:" not in text and "https:" not in text and "//" not in text, (tag, name)
            if name in ("src", "href", "action", "srcset", "poster", "data"):
                assert (value or "").startswith(("#", "data:image/jpeg;base64,")), (tag, name, value)
    assert all("url(" not in style and "@import" not in style for style in page.styles)


def test_content_security_policy_allows_only_our_script(tmp_path):
    _, page = render(tmp_path)
    policy = next(attributes["content"] for tag, attributes in page.elements
                  if tag == "meta" and attributes.get("http-equiv") == "Content-Security-Policy")
    digest = base64.b64encode(hashlib.sha256(page.scripts[0].encode("utf-8")).digest()).decode("ascii")
    assert f"script-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "img-src data:" in policy


def test_verdict_banner_and_checks(tmp_path):
    gate = GateConfig(min_pass_rate=0.9, subsets={"Kitchen": {"min_score": 50}})  # no Kitchen sample: value None
    _, page = render(tmp_path, gate=gate)
    text = page.all_text
    assert "Gate FAILED" in text
    assert "overall pass rate" in text and "FAIL" in text
    assert "no samples in this group" in text


def test_incomplete_run_and_no_checks(tmp_path):
    _, page = render(tmp_path, gate=GateConfig(), complete=False, reason="engine unreachable " + SCRIPT_PAYLOAD)
    text = page.all_text
    assert "Gate COULD NOT COMPLETE" in text
    assert "engine unreachable " + SCRIPT_PAYLOAD in text
    assert "no thresholds are configured" in text
    assert page.scripts == [FILTER_SCRIPT]


def test_none_values_everywhere(tmp_path):
    """Only errors: every score, pass rate and response is None, no critical sample, no labels, no thumbnails."""
    rows = [result_row(f"error-{n}", n, "error", subset=None, l1=None, l2=None, options=None, answer=None,
                       question=None, error=None, error_type=None) for n in range(3)]
    rows[0]["row_number"] = None
    _, page = render(tmp_path, rows=rows, gate=GateConfig(critical_min_pass_rate=0.5))
    text = page.all_text
    assert len(page.samples) == 3
    assert "No sample is marked critical." in text
    assert "The samples carry no labels." in text
    assert "no response" in text and "no thumbnail" in text


def test_report_without_results_file(tmp_path):
    run_dir = tmp_path / "run"
    write_results(run_dir, standard_rows())
    summary = make_summary(run_dir, GateConfig())
    (run_dir / "results.parquet").unlink()
    write_report(run_dir / "report.html", summary, run_dir, ReportConfig())
    page = Page((run_dir / "report.html").read_text(encoding="utf-8"))
    assert "results.parquet is missing" in page.all_text
    assert page.samples == []


def test_letter_bias_and_lowest_categories(tmp_path):
    rows = [result_row(f"wrong-{n}", n, "wrong", l2="Counting") for n in range(4)]
    rows += [result_row(f"ok-{n}", 10 + n, "passed", answer="C", response="C", extracted="C") for n in range(2)]
    _, page = render(tmp_path, rows=rows)
    text = page.all_text
    assert "Most common wrong MCQ answers" in text
    wrong = report_module.wrong_mcq_answers(tmp_path / "run" / "results.parquet",
                                            set(RESULT_SCHEMA.names))
    assert wrong["rows"][0] == {"answer": "B", "wrong": 4, "given_share": 4 / 6, "expected_share": 0.0}
    lowest = report_views.lowest_categories(summarize(pq.read_table(tmp_path / "run" / "results.parquet").to_pandas()))
    assert (lowest[0]["level"], lowest[0]["name"], lowest[0]["pass_rate"]) == ("L2", "Counting", 0.0)


def test_thumbnails_are_read_only_for_detailed_rows(tmp_path, monkeypatch):
    """Whole-file reads never include the thumbnail column; thumbnails come row group by row group, matched to their
    samples even when the detailed rows are spread over several row groups."""
    rows = [result_row(f"s{n}", n, "wrong" if n % 3 == 0 else "passed", thumbnails=[jpeg(width=8 + n)])
            for n in range(9)]
    write_results(tmp_path / "run", rows, row_group_size=2)
    whole_file_reads: list[list[str] | None] = []
    real_read_table = pq.read_table

    def spy(source, *args, columns=None, **kwargs):
        whole_file_reads.append(columns)
        return real_read_table(source, *args, columns=columns, **kwargs)

    summary = make_summary(tmp_path / "run", GateConfig())
    monkeypatch.setattr(pq, "read_table", spy)
    write_report(tmp_path / "run" / "report.html", summary, tmp_path / "run", ReportConfig(max_samples=4))
    assert whole_file_reads and all(columns is not None and "thumbnails" not in columns for columns in whole_file_reads)
    page = Page((tmp_path / "run" / "report.html").read_text(encoding="utf-8"))
    assert [sample["id"] for sample in page.samples] == ["s0", "s3", "s6", "s1"]
    for sample in page.samples:
        blob = base64.b64decode(sample["images"][0].split(",", 1)[1])
        assert Image.open(io.BytesIO(blob)).width == 8 + int(sample["id"][1:])


def test_read_rows_keeps_the_asked_order_across_row_groups(tmp_path):
    rows = [result_row(f"s{n}", n, "passed") for n in range(7)]
    write_results(tmp_path / "run", rows, row_group_size=3)
    found = read_rows(tmp_path / "run" / "results.parquet", [6, 0, 4, 3], ["sample_id"])
    assert [row["sample_id"] for row in found] == ["s6", "s0", "s4", "s3"]
    assert read_rows(tmp_path / "run" / "results.parquet", [], ["sample_id"]) == []


# ---- intervals, visual diagnostics, comparison with a baseline, charts -----------------------------------------------

HOSTILE_NAME = "<script>alert(1)</script>\"' onload=x"
CHART_TAGS = {"svg", "g", "rect", "line", "text", "title"}
CHART_ATTRIBUTES = {"class", "role", "aria-label", "width", "height", "viewbox", "font-family", "font-size", "x", "y",
                    "x1", "x2", "y1", "y2", "text-anchor"}
STATISTICS_NOTE = ("Brackets hold 95% percentile bootstrap confidence intervals (1000 resamples), clustered by shared "
                   "media: "
                   "samples sharing an image or video are resampled together (123 clusters).")
SECTIONS = ["Overview", "Gate checks", "Categories", "Failure analysis", "Samples"]


class Structure(HTMLParser):
    """Headings, table rows (by section and the h3 above them) and charts (by section) of report.html."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[str, str]] = []
        self.rows: list[tuple[str, str, list[str]]] = []  # (section id, last h3, cell texts)
        self.charts: list[dict[str, Any]] = []
        self.section, self.h3 = "", ""
        self._heading: list[str] | None = None
        self._cells: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self.section = attributes.get("id") or ""
        elif tag in ("h2", "h3"):
            self._heading = []
        elif tag == "tr":
            self._cells = []
        elif tag in ("td", "th"):
            self._cell = []
        if tag == "svg":
            self.charts.append({"section": self.section, "label": attributes.get("aria-label"), "elements": [],
                                "texts": []})
        if self.charts and self.charts[-1].get("open", True) and (tag in CHART_TAGS):
            self.charts[-1]["elements"].append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h2", "h3") and self._heading is not None:
            text = "".join(self._heading).strip()
            self.headings.append((tag, text))
            if tag == "h3":
                self.h3 = text
            self._heading = None
        elif tag in ("td", "th") and self._cell is not None and self._cells is not None:
            self._cells.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._cells is not None:
            self.rows.append((self.section, self.h3, self._cells))
            self._cells = None
        elif tag == "svg" and self.charts:
            self.charts[-1]["open"] = False

    def handle_data(self, data: str) -> None:
        for buffer in (self._heading, self._cell):
            if buffer is not None:
                buffer.append(data)
        if self.charts and self.charts[-1].get("open", True) and self.lasttag == "text":
            self.charts[-1]["texts"].append(data)

    def table(self, section: str, h3: str | None = None) -> dict[str, list[str]]:
        """Data rows of a section's table(s) under that h3, by first cell."""
        return {cells[0]: cells for where, heading, cells in self.rows
                if where == section and (h3 is None or heading == h3) and cells and not self._is_head(cells)}

    @staticmethod
    def _is_head(cells: list[str]) -> bool:
        return cells[0] in ("subset", "format", "group", "check", "sample", "level", "L2")

    def chart(self, label: str) -> dict[str, Any]:
        found = [chart for chart in self.charts if chart["label"] == label]
        assert len(found) == 1, [chart["label"] for chart in self.charts]
        return found[0]


def rects(chart: dict[str, Any], *classes: str) -> list[dict[str, str | None]]:
    return [attributes for tag, attributes in chart["elements"]
            if tag == "rect" and set(classes) <= set((attributes.get("class") or "").split())]


def multi_subset_rows() -> list[dict[str, Any]]:
    """ShopFront 2 of 3 right, Kitchen 1 of 2, a hostile subset name 0 of 1."""
    return [
        result_row("front-1", 1, "passed"), result_row("front-2", 2, "passed"), result_row("front-3", 3, "wrong"),
        result_row("kitchen-1", 4, "passed", subset="Kitchen"), result_row("kitchen-2", 5, "wrong", subset="Kitchen"),
        result_row("odd-1", 6, "wrong", subset=HOSTILE_NAME, l2=HOSTILE_NAME),
    ]


def score_groups(scores: Scores) -> list[GroupScores]:
    groups = [scores.overall, scores.critical, *scores.by_subset.values(), *scores.by_format.values(),
              *scores.by_input_type.values()]
    for level in scores.by_label.values():
        groups += list(level.values())
    return groups


def add_intervals(summary: Summary) -> None:
    for group in score_groups(summary.suites[0].scores):
        score, rate = group.score, group.pass_rate
        group.score_ci = None if score is None else [round(max(score - 2.5, 0.0), 4), round(min(score + 3.0, 100.0), 4)]
        group.pass_rate_ci = (None if rate is None
                              else [round(max(rate - 0.05, 0.0), 6), round(min(rate + 0.05, 1.0), 6)])
    summary.suites[0].statistics = Statistics(confidence=0.95, resamples=1000, method="percentile bootstrap",
                                              clustered=True, clusters=123)


def diagnostics_group(n: int, with_vision: float, without_vision: float, mg: float | None, vnr: float | None,
                      vif: float | None) -> dict[str, Any]:
    return {"n": n, "excluded": 1, "accuracy_with_vision": with_vision, "accuracy_without_vision": without_vision,
            "MG": mg, "VNR": vnr, "VIF": vif}


def add_diagnostics(summary: Summary) -> None:
    summary.suites[0].diagnostics = Diagnostics.model_validate({
        "overall": diagnostics_group(5, 0.6, 0.2, 0.4, 0.6667, 0.25),
        "by_subset": {"ShopFront": diagnostics_group(3, 0.6667, 0.3333, 0.3333, 0.5, 0.0),
                      "Kitchen": diagnostics_group(2, 0.5, 0.0, 0.5, 1.0, 0.0),
                      HOSTILE_NAME: diagnostics_group(1, 0.0, 1.0, -1.0, None, 1.0)},
    })


def paired_group(n: int, baseline: float, delta: float, ci: list[float], p: float, significant: bool,
                 test: str = "mcnemar") -> dict[str, Any]:
    return {"n": n, "baseline_score": baseline, "candidate_score": baseline + delta, "delta": delta, "delta_ci": ci,
            "p_value": p, "test": test, "significant": significant}


def add_comparison(summary: Summary) -> None:
    summary.suites[0].comparison = Comparison.model_validate({
        "baseline": {"run_dir": "runs/baseline-run", "run_id": "baseline-run", "model": "ostrakon-vl-7b"},
        "candidate": {"run_id": "run", "model": "ostrakon-vl-8b"},
        "paired_samples": 240, "only_in_baseline": 2, "only_in_candidate": 1, "confidence": 0.95, "notes": [],
        "overall": paired_group(240, 61.2, 2.5, [0.4, 4.6], 0.031, True),
        "by_subset": {"ShopFront": paired_group(120, 60.0, 4.6, [1.2, 8.0], 0.004, True),
                      "Kitchen": paired_group(80, 65.0, -3.0, [-5.5, -0.5], 0.02, True),
                      HOSTILE_NAME: paired_group(40, 55.0, -0.5, [-4.0, 3.0], 0.8, False, "paired_bootstrap")},
        "by_format": {"mcq": paired_group(200, 62.0, 2.0, [0.1, 3.9], 0.0004, True)},
        "by_label": {"l2": {"OCR": paired_group(100, 50.0, 1.0, [-1.0, 3.0], 0.3, False),
                            HOSTILE_NAME: paired_group(10, 40.0, -10.0, [-30.0, 10.0], 0.5, False)}},
        "flipped_total": {"gained": 7, "lost": 3},
        "flipped": [
            {"sample_id": "front-9", "subset": "ShopFront", "format": "mcq", "change": "gained",
             "baseline_extracted": "B", "candidate_extracted": "A", "baseline_error": False, "candidate_error": False},
            {"sample_id": HOSTILE_NAME, "subset": HOSTILE_NAME, "format": "mcq", "change": "lost",
             "baseline_extracted": "A", "candidate_extracted": HOSTILE_NAME, "baseline_error": False,
             "candidate_error": False},
            {"sample_id": "kitchen-7", "subset": None, "format": "mcq", "change": "lost",
             "baseline_extracted": "C", "candidate_extracted": None, "baseline_error": False, "candidate_error": False},
        ],
    })


def add_everything(summary: Summary) -> None:
    for extend in (add_intervals, add_diagnostics, add_comparison):
        extend(summary)


def test_intervals_are_shown_next_to_every_score(tmp_path):
    html, page = render(tmp_path, rows=multi_subset_rows(), extend=add_intervals)
    structure = Structure(html)
    scores = summarize(pq.read_table(tmp_path / "run" / "results.parquet").to_pandas())
    overall = scores.overall
    assert page.all_text.count(STATISTICS_NOTE) == 1  # level and method named once
    assert f"[{overall.score - 2.5:.1f}, {overall.score + 3.0:.1f}]" in page.all_text  # the overview metric
    subsets = structure.table("categories", "By subset")
    assert set(subsets) == {"ShopFront", "Kitchen", HOSTILE_NAME}
    for name, cells in subsets.items():
        group = scores.by_subset[name]
        score, rate = group.score, group.pass_rate
        assert cells[2] == f"{score:.1f} [{max(score - 2.5, 0):.1f}, {min(score + 3.0, 100):.1f}]", cells
        assert cells[4] == f"{100 * rate:.1f}% [{100 * max(rate - 0.05, 0):.1f}%, {100 * min(rate + 0.05, 1):.1f}%]"
    assert structure.table("categories", "By answer format")["mcq"][2].endswith(
        f"[{overall.score - 2.5:.1f}, {overall.score + 3.0:.1f}]")
    assert "[" in structure.table("categories", "By label L2")["OCR"][2]
    lowest = structure.table("failures", "Lowest pass rates by label")
    assert lowest and all("[" in cells[3] and "[" in cells[4] for cells in lowest.values())


def test_score_charts_draw_a_bar_per_group_with_whiskers(tmp_path):
    html, _ = render(tmp_path, rows=multi_subset_rows(), extend=add_intervals)
    structure = Structure(html)
    by_subset = structure.chart("Score by subset")
    assert by_subset["section"] == "categories"
    assert len(rects(by_subset, "bar")) == 3 + 1  # three subsets and the overall bar
    assert len(rects(by_subset, "bar", "overall")) == 1
    assert sum(tag == "line" and attributes.get("class") == "ci" for tag, attributes in by_subset["elements"]) == 4 * 3
    assert HOSTILE_NAME in by_subset["texts"]
    assert len(rects(structure.chart("Score by answer format"), "bar")) == 1 + 1


def test_charts_without_intervals_have_no_whiskers(tmp_path):
    html, page = render(tmp_path, rows=multi_subset_rows(), extend=strip_new_keys)
    chart = Structure(html).chart("Score by subset")
    assert len(rects(chart, "bar")) == 4
    assert not any(tag == "line" and attributes.get("class") == "ci" for tag, attributes in chart["elements"])
    assert "Brackets hold" not in page.all_text and 'class="ci"' not in html


def test_visual_diagnostics_section(tmp_path):
    html, page = render(tmp_path, rows=multi_subset_rows(), extend=add_diagnostics)
    structure = Structure(html)
    assert ("h2", "Visual diagnostics") in structure.headings
    text = " ".join(page.all_text.split())
    assert "multimodal gain: accuracy with vision minus accuracy without it" in text
    assert "VNR: the share of correct answers (with vision) that needed the image" in text
    assert "VIF: the share of failures (wrong with vision) that the model got right without the image" in text
    table = structure.table("diagnostics")
    assert list(table) == ["overall", "ShopFront", "Kitchen", HOSTILE_NAME]
    assert table["overall"][1:] == ["5", "1", "60.0%", "20.0%", "+40.0 pts", "66.7%", "25.0%"]
    assert table[HOSTILE_NAME][3:] == ["0.0%", "100.0%", "-100.0 pts", "–", "100.0%"]
    chart = structure.chart("Accuracy with and without vision")
    assert chart["section"] == "diagnostics"
    assert len(rects(chart, "bar", "with")) == 4 and len(rects(chart, "bar", "without")) == 4
    assert HOSTILE_NAME in chart["texts"]


def test_comparison_section(tmp_path):
    html, page = render(tmp_path, rows=multi_subset_rows(), extend=add_comparison)
    structure = Structure(html)
    headings = [text for level, text in structure.headings if level == "h2"]
    assert headings == ["Overview", "Gate checks", "Comparison with baseline", "Categories", "Failure analysis",
                        "Samples"]
    text = " ".join(page.all_text.split())
    assert "Verdict: improved" in text
    assert ("Score change (candidate − baseline): +2.5 points [+0.4, +4.6] (95% confidence interval) · 61.2 → 63.7 "
            "· p = 0.031 (McNemar's test)") in text
    assert "ostrakon-vl-7b (run baseline-run, runs/baseline-run)" in text
    assert "This run (candidate)ostrakon-vl-8b (run run)" in text  # <dt> then <dd>
    assert "240 (not compared: 2 only in the baseline, 1 only in the candidate)" in text
    assert [cells for section, _, cells in structure.rows if section == "comparison"][0] == [
        "subset", "paired n", "baseline score", "candidate score", "change (points)", "p", "test", "verdict"]
    subsets = structure.table("comparison", "By subset")
    assert subsets["ShopFront"][1:] == ["120", "60.0", "64.6", "+4.6 [+1.2, +8.0]", "p = 0.004", "McNemar's test",
                                        "improved"]
    assert subsets["Kitchen"][4:] == ["-3.0 [-5.5, -0.5]", "p = 0.020", "McNemar's test", "regressed"]
    assert subsets[HOSTILE_NAME][5:] == ["p = 0.800", "paired bootstrap", "no significant change"]
    assert structure.table("comparison", "By answer format")["mcq"][5] == "p < 0.001"
    labels = structure.table("comparison", "By label L2")
    assert set(labels) == {"OCR", HOSTILE_NAME}
    assert labels[HOSTILE_NAME][-1] == "too few to tell"  # 10 paired samples, fewer than 30
    assert "By label (1 levels)" in text  # the label tables sit in a <details>
    assert "7 samples pass now and failed in the baseline (gained), 3 passed in the baseline and fail now (lost); " \
           "the first 3 are listed." in text
    flipped = structure.table("comparison", "Flipped samples")
    assert flipped["front-9"][1:] == ["ShopFront", "mcq", "gained", "B", "A"]
    assert flipped[HOSTILE_NAME][1:] == [HOSTILE_NAME, "mcq", "lost", "A", HOSTILE_NAME]
    assert flipped["kitchen-7"][1:] == ["–", "mcq", "lost", "C", "none"]
    chart = structure.chart("Score change against the baseline, by subset")
    bars = rects(chart, "bar")
    assert [bar["class"] for bar in bars] == ["bar pos overall", "bar pos", "bar neg", "bar neg ns"]
    assert sum(tag == "line" and attributes.get("class") == "zero" for tag, attributes in chart["elements"]) == 1


def test_hostile_names_stay_text_in_tables_and_charts(tmp_path):
    html, page = render(tmp_path, rows=multi_subset_rows(), extend=add_everything)
    assert page.scripts == [FILTER_SCRIPT]
    assert "<script>alert" not in html and "onload=x" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    structure = Structure(html)
    assert len(structure.charts) == 4  # subsets, formats, diagnostics, comparison
    inside = [element for chart in structure.charts for element in chart["elements"]]
    assert {tag for tag, _ in inside} <= CHART_TAGS
    assert {name for _, attributes in inside for name in attributes} <= CHART_ATTRIBUTES
    assert all(HOSTILE_NAME in chart["texts"] for chart in structure.charts if chart["label"] != "Score by answer "
                                                                                                 "format")
    for tag, attributes in page.elements:
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        assert all(HOSTILE_NAME not in (value or "") and "alert" not in (value or "") for value in attributes.values())


def test_report_is_the_same_for_the_same_summary(tmp_path):
    first, _ = render(tmp_path / "a", rows=multi_subset_rows(), extend=add_everything)
    second, _ = render(tmp_path / "b", rows=multi_subset_rows(), extend=add_everything)
    strip = [line for line in first.splitlines() if "Started / finished" not in line]
    assert strip == [line for line in second.splitlines() if "Started / finished" not in line]


def strip_new_keys(summary: Summary) -> None:
    """A summary as written before intervals, diagnostics and comparisons existed: read back from its JSON, those
    keys are unset."""
    stored = summary.model_dump(mode="json")
    suite = stored["suites"][0]
    for group in [suite["scores"]["overall"], suite["scores"]["critical"], *suite["scores"]["by_subset"].values(),
                  *suite["scores"]["by_format"].values(), *suite["scores"]["by_input_type"].values(),
                  *(group for level in suite["scores"]["by_label"].values() for group in level.values())]:
        group.pop("score_ci", None)
        group.pop("pass_rate_ci", None)
    for key in ("statistics", "diagnostics", "comparison"):
        suite.pop(key, None)
    old = Summary.model_validate(stored)
    assert "statistics" not in old.suites[0].model_dump()  # read as an old file reads
    assert old.suites[0].scores.overall.score_ci is None
    for name in type(summary).model_fields:
        setattr(summary, name, getattr(old, name))


def set_new_keys_to_none(summary: Summary) -> None:
    for group in score_groups(summary.suites[0].scores):
        group.score_ci = group.pass_rate_ci = None
    suite = summary.suites[0]
    suite.statistics = suite.diagnostics = suite.comparison = None


@pytest.mark.parametrize("extend", [strip_new_keys, set_new_keys_to_none])
def test_summary_without_new_keys_has_no_new_sections(tmp_path, extend):
    html, page = render(tmp_path, rows=multi_subset_rows(), extend=extend)
    structure = Structure(html)
    assert [text for level, text in structure.headings if level == "h2"] == SECTIONS
    assert all(text for _, text in structure.headings)
    assert 'id="comparison"' not in html and 'id="diagnostics"' not in html
    assert 'href="#comparison"' not in html and 'href="#diagnostics"' not in html
    assert "Brackets hold" not in page.all_text and "<details>" not in html
    assert [chart["label"] for chart in structure.charts] == ["Score by subset", "Score by answer format"]
    assert structure.table("categories", "By subset")["Kitchen"][2] == "50.0"


def regression_check(value: float | None, passed: bool, outcome: str | None) -> StoredCheck:
    check = {"name": "regression against baseline", "metric": "regression", "group": "overall", "value": value,
             "threshold": -1.0, "comparison": ">=", "passed": passed, "source": "config", "samples": 12,
             "note": "too few paired samples" if outcome == "undecided" else None}
    if outcome is not None:
        check["outcome"] = outcome
    return StoredCheck.model_validate(check)


def decide(summary: Summary, **verdict: Any) -> None:
    """The summary's verdict changed, as a gate of other checks would have decided it."""
    summary.verdict = summary.verdict.model_copy(update=verdict)


def test_undecided_verdict_and_regression_checks(tmp_path):
    def undecided(summary: Summary) -> None:
        decide(summary, checks=[regression_check(None, False, "undecided")], status="undecided", passed=False,
               failed_checks=["regression against baseline"])

    html, page = render(tmp_path / "undecided", gate=GateConfig(), extend=undecided)
    text = " ".join(page.all_text.split())
    assert "Gate UNDECIDED: not a pass" in text
    assert "Undecided checks (not a pass, not a failure): regression against baseline" in text
    assert "Failed checks" not in text and "Gate PASSED" not in text
    banner = next(attributes for tag, attributes in page.elements
                  if tag == "div" and "banner" in (attributes.get("class") or "").split())
    assert banner["class"] == "banner undecided"
    row = Structure(html).table("checks")["regression against baseline"]
    assert row[1:7] == ["overall", "–", "≥ -1.0 pts", "undecided", "too few paired samples", "config"]

    def failed(summary: Summary) -> None:
        decide(summary, checks=[regression_check(-2.34, False, "failed"), regression_check(0.5, True, None)],
               status="failed", passed=False, failed_checks=["regression against baseline"])

    html, page = render(tmp_path / "failed", gate=GateConfig(), extend=failed)
    assert "Gate FAILED" in page.all_text
    cells = [cells for section, _, cells in Structure(html).rows if section == "checks"][1:]
    assert [(row[2], row[3], row[4]) for row in cells] == [("-2.3 pts", "≥ -1.0 pts", "FAIL"),
                                                           ("+0.5 pts", "≥ -1.0 pts", "pass")]


def test_comparison_without_shared_samples_says_so(tmp_path):
    def no_pairs(summary: Summary) -> None:
        summary.suites[0].comparison = Comparison.model_validate({
            "baseline": {"run_dir": "runs/old", "run_id": "old", "model": "m0"},
            "candidate": {"run_id": "run", "model": "m1"},
            "paired_samples": 0, "only_in_baseline": 4, "only_in_candidate": 6, "confidence": 0.95,
            "notes": ["the runs used different datasets; they are compared on the samples both have"],
            "overall": None, "by_subset": {}, "by_format": {}, "by_label": {},
            "flipped_total": {"gained": 0, "lost": 0}, "flipped": [],
        })

    html, page = render(tmp_path, rows=multi_subset_rows(), extend=no_pairs)
    structure = Structure(html)
    assert ("h2", "Comparison with baseline") in structure.headings
    text = " ".join(page.all_text.split())
    assert "No sample is shared with the baseline run: there is nothing to compare." in text
    assert "Note: the runs used different datasets" in text
    assert "Flipped samples" not in text and "Score change (this run" not in text
    assert [chart for chart in structure.charts if chart["section"] == "comparison"] == []
    assert [heading for level, heading in structure.headings if level == "h3" and heading.startswith("By ")] == \
        ["By subset", "By answer format", "By input type", "By label L1", "By label L2"]  # all of Categories


def test_undecided_verdict_names_its_reason(tmp_path):
    def undecided(summary: Summary) -> None:
        decide(summary, checks=[regression_check(None, False, "undecided")], status="undecided", passed=False,
               failed_checks=["regression against baseline"],
               reason="regression against baseline: too few samples to decide: 12 shared, 30 needed")

    _, page = render(tmp_path, gate=GateConfig(), extend=undecided)
    text = " ".join(page.all_text.split())
    assert "Gate UNDECIDED: not a pass" in text
    assert "Not a pass: regression against baseline: too few samples to decide: 12 shared, 30 needed" in text
    assert "The run could not complete" not in text


def test_sections_from_the_real_producers(tmp_path):
    """The summary sections as aggregate, compare and the diagnostics write them render with their numbers."""
    from ray_eval.config import StatisticsConfig
    from ray_eval.data.taxonomy import NO_SUBSET
    from ray_eval.scoring.diagnostics import diagnostics_of_runs
    from ray_eval.verdict.aggregate import statistics_note, with_clusters
    from ray_eval.verdict.compare import RunResults, compare

    candidate_rows = [result_row(f"s{n}", n, "passed" if n % 3 else "wrong", subset=("ShopFront", "Kitchen")[n % 2],
                                 media_digests=[f"img{n // 2}"]) for n in range(40)]
    baseline_rows = [dict(row, **({"passed": False, "score": 0.0, "extracted": "C"} if n % 5 == 0 else {}))
                     for n, row in enumerate(candidate_rows)]
    blind_rows = [dict(row, passed=n % 4 == 0, score=float(n % 4 == 0)) for n, row in enumerate(candidate_rows)]
    frame = lambda rows: pa.Table.from_pylist(rows, schema=RESULT_SCHEMA).to_pandas()  # noqa: E731
    statistics = StatisticsConfig(bootstrap_resamples=200)

    captured: dict[str, Any] = {}

    def real(summary: Summary) -> None:
        results = with_clusters(frame(candidate_rows), statistics)
        summary.suites[0].statistics = statistics_note(results, statistics)
        summary.suites[0].diagnostics = diagnostics_of_runs(frame(candidate_rows), frame(blind_rows), NO_SUBSET)
        summary.suites[0].comparison = compare(
            RunResults(frame(candidate_rows), RunIdentity(run_dir="runs/new", run_id="new", model="m1"),
                       {"m": "f" * 64}),
            RunResults(frame(baseline_rows), RunIdentity(run_dir="runs/old", run_id="old", model="m0"),
                       {"m": "f" * 64}),
            statistics)
        captured.update(summary=summary, score_ci=summary.suites[0].scores.overall.score_ci)

    html, page = render(tmp_path, rows=candidate_rows, extend=real)
    structure = Structure(html)
    text = " ".join(page.all_text.split())
    low, high = captured["score_ci"]
    assert f"[{low:.1f}, {high:.1f}]" in text
    assert ("Brackets hold 95% percentile bootstrap confidence intervals (200 resamples), clustered by shared media"
            in text)
    comparison = captured["summary"].suites[0].comparison
    overall = comparison.overall
    assert f"{overall.delta:+.1f} points" in text
    assert f"[{overall.delta_ci[0]:+.1f}, {overall.delta_ci[1]:+.1f}]" in text
    assert set(structure.table("comparison", "By subset")) == {"ShopFront", "Kitchen"}
    assert len(structure.table("comparison", "Flipped samples")) == comparison.flipped_total.gained \
        + comparison.flipped_total.lost
    diagnostics = structure.table("diagnostics")
    assert set(diagnostics) == {"overall", "ShopFront", "Kitchen"}
    assert diagnostics["overall"][5] == f"{100 * captured['summary'].suites[0].diagnostics.overall.MG:+.1f} pts"
    assert [chart["label"] for chart in structure.charts] == [
        "Score change against the baseline, by subset", "Score by subset", "Score by answer format",
        "Accuracy with and without vision"]
