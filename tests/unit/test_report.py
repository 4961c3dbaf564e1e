"""report.html from a hand-made run directory: escaping of hostile dataset and model text, sample order and
count, the stand-in warning, embedded thumbnails, no external resources, and None values everywhere."""

from __future__ import annotations

import base64
import hashlib
import io
import types
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from ray_eval.aggregate import summarize
from ray_eval.config import GateConfig, ReportConfig, validate_config
from ray_eval.gate import evaluate_gate, verdict
from ray_eval.outputs import report as report_module
from ray_eval.outputs.report import FILTER_SCRIPT, read_rows, write_report
from ray_eval.outputs.summary import build_summary
from ray_eval.records import RESULT_SCHEMA
from ray_eval.shopbench.dataset import DatasetScan

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
    """A passed row first in the file (with a thumbnail), then a wrong, an error and an unparsed row, with hostile
    text in every field a dataset or a model controls."""
    return [
        result_row("passed-1", 1, "passed", thumbnail=jpeg()),
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
                 reason: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    scores = summarize(pq.read_table(run_dir / "results.parquet").to_pandas())
    decision = verdict(evaluate_gate(scores, gate), complete=complete, incomplete_reason=reason)
    engine = ({"kind": "scripted"} if stand_in else
              {"kind": "openai", "base_url": "http://user:secret@127.0.0.1:8000/v1", "model": "ostrakon-vl-8b"})
    config = validate_config({"dataset": {"path": "data/manifest.jsonl"}, "engine": engine,
                              "run": {"model_label": "checkpoint " + SCRIPT_PAYLOAD}})
    scan = DatasetScan(Path("data/manifest.jsonl"), types.SimpleNamespace(name="manifest"), rows=scores["overall"]["n"],
                       chunks=[], fingerprint="f" * 64)
    summary = build_summary(config, scan, scores, decision, run_dir=run_dir, started_at=datetime.now(timezone.utc),
                            duration_s=83.2, served_models=["scripted-model"])
    return summary, decision


class Page(HTMLParser):
    """The parts of report.html the tests look at."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self.samples: list[dict[str, Any]] = []  # per <article class="sample">: id, outcome, img srcs
        self._in: str | None = None  # "script", "style" or "sample-id" while inside one
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
            self.samples.append({"id": "", "outcome": attributes.get("data-outcome"), "images": []})
        elif tag == "span" and "sample-id" in classes:
            self._in, self._buffer = "sample-id", []
        elif tag == "img" and self.samples:
            self.samples[-1]["images"].append(attributes.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if self._in in ("script", "style") and tag == self._in:
            (self.scripts if tag == "script" else self.styles).append("".join(self._buffer))
            self._in = None
        elif self._in == "sample-id" and tag == "span":
            self.samples[-1]["id"] = "".join(self._buffer)
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
           gate: GateConfig | None = None, **summary_options: Any) -> tuple[str, Page]:
    run_dir = tmp_path / "run"
    write_results(run_dir, standard_rows() if rows is None else rows)
    summary, decision = make_summary(run_dir, gate or GateConfig(min_pass_rate=0.9), **summary_options)
    write_report(run_dir / "report.html", summary, decision, run_dir, ReportConfig(max_samples=max_samples))
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    return html, Page(html)


def test_hostile_text_is_only_escaped_text(tmp_path):
    html, page = render(tmp_path)
    assert page.scripts == [FILTER_SCRIPT]  # our filter box and nothing else
    assert sum(tag == "script" for tag, _ in page.elements) == 1
    assert sum(tag == "style" for tag, _ in page.elements) == 1
    for tag, attributes in page.elements:
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        assert tag not in ("svg", "iframe", "object", "embed", "link", "base", "form")
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


def test_thumbnail_is_embedded_as_data_url(tmp_path):
    _, page = render(tmp_path)
    passed = next(sample for sample in page.samples if sample["id"] == "passed-1")
    assert len(passed["images"]) == 1
    prefix = "data:image/jpeg;base64,"
    assert passed["images"][0].startswith(prefix)
    assert base64.b64decode(passed["images"][0][len(prefix):]) == jpeg()
    assert all(not sample["images"] for sample in page.samples if sample["id"] != "passed-1")


def test_no_external_resources(tmp_path):
    html, page = render(tmp_path, stand_in=False)  # the engine URL is shown, as text only (and without the password)
    assert "http://127.0.0.1:8000/v1" in page.all_text
    assert "secret" not in html
    for tag, attributes in page.elements:
        for name, value in attributes.items():
            assert "http:" not in (value or "") and "https:" not in (value or "") and "//" not in (value or ""), (tag, name)
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
    summary, decision = make_summary(run_dir, GateConfig())
    (run_dir / "results.parquet").unlink()
    write_report(run_dir / "report.html", summary, decision, run_dir, ReportConfig())
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
    lowest = report_module.lowest_categories(summarize(pq.read_table(tmp_path / "run" / "results.parquet").to_pandas()))
    assert (lowest[0]["level"], lowest[0]["name"], lowest[0]["pass_rate"]) == ("L2", "Counting", 0.0)


def test_thumbnails_are_read_only_for_detailed_rows(tmp_path, monkeypatch):
    """Whole-file reads never include the thumbnail column; thumbnails come row group by row group, matched to their
    samples even when the detailed rows are spread over several row groups."""
    rows = [result_row(f"s{n}", n, "wrong" if n % 3 == 0 else "passed", thumbnail=jpeg(width=8 + n)) for n in range(9)]
    write_results(tmp_path / "run", rows, row_group_size=2)
    whole_file_reads: list[list[str] | None] = []
    real_read_table = pq.read_table

    def spy(source, *args, columns=None, **kwargs):
        whole_file_reads.append(columns)
        return real_read_table(source, *args, columns=columns, **kwargs)

    summary, decision = make_summary(tmp_path / "run", GateConfig())
    monkeypatch.setattr(pq, "read_table", spy)
    write_report(tmp_path / "run" / "report.html", summary, decision, tmp_path / "run", ReportConfig(max_samples=4))
    assert whole_file_reads and all(columns is not None and "thumbnail" not in columns for columns in whole_file_reads)
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
