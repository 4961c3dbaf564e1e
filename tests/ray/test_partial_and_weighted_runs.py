"""What a reader is told about the figures: a run of part of the dataset says "N of M rows evaluated" everywhere and
cannot pass as a whole one; weighted pass rates say they are weighted; the visual diagnostics read the same in
summary.md and report.html; the baseline check says what it checked. Through the real CLI on a local Ray with the
scripted engine, and report.html read as Chromium shows it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ray_eval.cli import main
from tests.browser import DevTools
from tests.conftest import jpeg_bytes

pytestmark = pytest.mark.ray

ROWS = 10


@pytest.fixture
def weighted_suite(tmp_path: Path) -> Path:
    """A seed-article suite of 10 MCQ cases on four images, weights 1 and 3."""
    (tmp_path / "images").mkdir()
    for index in range(4):
        (tmp_path / "images" / f"{index}.jpg").write_bytes(jpeg_bytes(("red", "green", "blue", "white")[index]))
    cases = [{"id": f"TC{i:03d}", "category": "商品识别" if i % 2 else "场景理解", "image_path": f"images/{i % 4}.jpg",
              "question": "这家店的商品陈列存在什么问题？",
              "options": ["通道太窄", "商品分类混乱", "照明不足", "所有以上"],
              "expected_answer": "ABCD"[i % 4], "test_type": "mcq", "weight": 1.0 if i % 3 else 3.0}
             for i in range(ROWS)]
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"test_suite": {"name": "s", "version": "1"}, "test_cases": cases}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def write_config(tmp_path: Path, suite: Path, **extra: str) -> Path:
    config = tmp_path / "eval.yaml"
    lines = [f"dataset: {{path: {suite}, root: {suite.parent}{extra.get('dataset', '')}}}",
             "engine: {kind: scripted, policy: oracle, accuracy: 0.7, blind_accuracy: 0.3}",
             f"run: {{out_dir: {tmp_path / 'runs'}, run_id: {extra.get('run_id', 'r')}}}",
             "diagnostics: {blind_pass: true}",
             "statistics: {bootstrap_resamples: 200}",
             f"gate: {{min_pass_rate: 0.1{extra.get('gate', '')}}}"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def markdown_text(path: Path) -> str:
    """summary.md as it reads rendered: Markdown's backslash escapes taken out."""
    return re.sub(r"\\(.)", r"\1", path.read_text(encoding="utf-8"))


def shown_text(browser: DevTools, page: Path, selector: str) -> str:
    """The text of an element as the browser renders it (hidden parts left out), whitespace collapsed."""
    session = browser.open(page.resolve().as_uri())
    text = browser.evaluate(session, f"document.querySelector({json.dumps(selector)}).innerText")
    assert browser.problems(session) == []
    return " ".join(text.split())


def test_a_limited_run_says_so_everywhere_and_is_undecided_until_called_a_smoke_run(
        local_ray, weighted_suite: Path, tmp_path: Path, browser: DevTools) -> None:
    config = write_config(tmp_path, weighted_suite, dataset=", limit: 4")
    assert main(["run", "-c", str(config)]) == 1  # not a pass ...
    run_dir = tmp_path / "runs" / "r"
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["status"] == "undecided"  # ... and not a failure of the model either
    assert verdict["coverage"] == {"evaluated_rows": 4, "dataset_rows": ROWS, "partial": True}
    assert "4 of 10 rows evaluated" in verdict["reason"] and "gate.allow_partial" in verdict["reason"]
    summary = json.loads((run_dir / "summary.json").read_text())
    dataset = summary["suites"][0]["dataset"]
    assert (dataset["rows"], dataset["file_rows"], dataset["partial"]) == (4, ROWS, True)
    markdown = (run_dir / "summary.md").read_text()
    assert "UNDECIDED" in markdown and "(4 of 10 rows evaluated (dataset.limit))" in markdown
    assert re.search(r"\| whole dataset evaluated \| 4 \| >= 10 \| \*\*UNDECIDED\*\* "
                     r"\| only 4 of 10 rows evaluated", markdown)
    overview = shown_text(browser, run_dir / "report.html", "#overview")
    assert "Gate UNDECIDED" in overview and "partial run: 4 of 10 rows evaluated" in overview
    checks = shown_text(browser, run_dir / "report.html", "#checks")
    assert "whole dataset evaluated overall 4 ≥ 10 undecided only 4 of 10 rows evaluated" in checks

    # Re-gated as a smoke run: it passes, and still says what it stands on.
    assert main(["gate", str(run_dir), "--set", "gate.allow_partial=true"]) == 0
    markdown = markdown_text(run_dir / "summary.md")
    assert "✅ PASSED" in markdown and "4 of 10 rows evaluated" in markdown
    assert "a smoke run (gate.allow_partial)" in markdown
    assert "partial run: 4 of 10 rows evaluated" in shown_text(browser, run_dir / "report.html", "#overview")


def test_a_limit_at_or_above_the_dataset_is_a_whole_run(local_ray, weighted_suite: Path, tmp_path: Path) -> None:
    assert main(["run", "-c", str(write_config(tmp_path, weighted_suite, dataset=f", limit: {ROWS}"))]) == 0
    verdict = json.loads((tmp_path / "runs" / "r" / "verdict.json").read_text())
    assert verdict["coverage"]["partial"] is False
    assert "whole dataset evaluated" not in [check["name"] for check in verdict["checks"]]


def test_weighted_figures_and_the_diagnostics_read_the_same_in_summary_md_and_report_html(
        local_ray, weighted_suite: Path, tmp_path: Path, browser: DevTools) -> None:
    assert main(["run", "-c", str(write_config(tmp_path, weighted_suite))]) in (0, 1)
    run_dir = tmp_path / "runs" / "r"
    summary = json.loads((run_dir / "summary.json").read_text())
    overall = summary["suites"][0]["scores"]["overall"]
    passed, weighted_rate = overall["passed"], overall["pass_rate"]
    assert weighted_rate != pytest.approx(passed / ROWS)  # the case the reader must have explained

    markdown = markdown_text(run_dir / "summary.md")
    count = f"by count, {passed} of {ROWS} samples passed"
    assert f"pass rate {100 * weighted_rate:.1f}%" in markdown and f"({passed} of {ROWS} samples passed)" in markdown
    assert "weighted by each sample's weight (from the dataset, 1 to 3)" in markdown and count in markdown
    overview = shown_text(browser, run_dir / "report.html", "#overview")
    assert f"{100 * weighted_rate:.1f}%" in overview and "pass rate (weighted)" in overview
    assert f"{passed} / {ROWS} samples passed (count)" in overview and count in overview

    diagnostics = summary["suites"][0]["diagnostics"]["overall"]
    mg, vnr = f"{100 * diagnostics['MG']:+.1f} pts", f"{100 * diagnostics['VNR']:.1f}%"
    md_row = next(line for line in markdown.splitlines() if line.startswith("| overall |") and "pts" in line)
    assert mg in md_row and vnr in md_row
    assert "MG (multimodal gain): accuracy with the media minus accuracy without, in percentage points" in markdown
    html_row = shown_text(browser, run_dir / "report.html", "#diagnostics tbody tr")
    assert mg in html_row and vnr in html_row
    assert "in percentage points (pts)" in shown_text(browser, run_dir / "report.html", "#diagnostics ul.explain")
