"""A several-suite run's reports as their readers see them: summary.md's suite table and per-suite sections (parsed as
Markdown), junit.xml's test suite per suite (parsed as XML, as a CI's test tab reads it), and report.html's suite
table and per-suite sections (parsed as HTML). One verdict over every suite; a one-suite run's reports are tested
against main's rendering by test_report.py and the stored summaries."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ray_eval.config import ReportConfig
from ray_eval.outputs import write_outputs
from ray_eval.outputs.junit import write_junit
from ray_eval.outputs.report import write_report
from ray_eval.outputs.summary import render_markdown
from ray_eval.records import RESULT_SCHEMA
from ray_eval.verdict.summary_model import Summary
from tests.unit import summary_parts as parts
from tests.unit.test_report import HOSTILE_NAME, Page, Structure

SHOP_SUBSETS = {"ShopFront": (6, 4), "Kitchen": (2, 2)}  # passed, failed
GUARD_SUBSETS = {"ocr": (1, 3)}


def rows_of(suite: str, subsets: dict[str, tuple[int, int]], errors: int = 0) -> list[dict[str, Any]]:
    rows = []
    for subset, (passed, failed) in subsets.items():
        for index in range(passed + failed + (errors if subset == next(iter(subsets)) else 0)):
            row: dict[str, Any] = {field.name: None for field in RESULT_SCHEMA}
            error = index >= passed + failed
            right = index < passed
            row.update(suite=suite, sample_id=f"{subset}-{index}", subset=subset, format="mcq", question="q",
                       answer="A", status="error" if error else "ok", passed=None if error else right,
                       unparsed=None if error else False, score=None if error else float(right),
                       extracted=None if error else "A" if right else "B", response="r",
                       error_stage="inference" if error else None, error_type="ReadTimeout" if error else None)
            rows.append(row)
    return rows


def write_results(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """results.parquet with each row's suite (the column records.SAMPLE_COLUMNS carries)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=RESULT_SCHEMA), run_dir / "results.parquet")


def two_suite_summary() -> Summary:
    """ShopBench passed its check and improved on the baseline; the guard suite failed its check and regressed."""
    improved = parts.comparison(paired_samples=20, overall=parts.paired_group(
        n=20, baseline_score=50.0, candidate_score=60.0, delta=10.0, delta_ci=[4.0, 16.0], p_value=0.001,
        significant=True))
    regressed = parts.comparison(paired_samples=40, overall=parts.paired_group(
        n=40, baseline_score=85.0, candidate_score=25.0, delta=-60.0, delta_ci=[-70.0, -50.0], p_value=0.0001,
        significant=True))
    shop = parts.suite("shopbench", parts.group_scores(n=16, weight=16, score=60.0, score_ci=[45.0, 75.0],
                                                       pass_rate=0.5, pass_rate_ci=[0.3, 0.7], passed=8, errors=0),
                       comparison_of=improved,
                       by_subset={name: parts.group_scores(n=p + f, score=100.0 * p / (p + f), passed=p)
                                  for name, (p, f) in SHOP_SUBSETS.items()})
    guard = parts.suite("guard-ocr", parts.group_scores(n=5, weight=5, score=25.0, score_ci=[0.0, 60.0],
                                                        pass_rate=0.2, pass_rate_ci=[0.0, 0.6], passed=1, errors=1),
                        comparison_of=regressed,
                        by_subset={"ocr": parts.group_scores(n=5, score=25.0, passed=1, errors=1)})
    return parts.several_suite_summary([shop, guard], [
        parts.check("overall score", "passed", 60.0, suite="shopbench"),
        parts.check("overall score", "failed", 25.0, suite="guard-ocr"),
        parts.check("regression against baseline", "undecided", None, -1.0, "regression", suite="guard-ocr"),
    ])


def markdown_table(text: str, header: str) -> list[dict[str, str]]:
    """The rows of the Markdown table whose header line starts with `header`, each by column name."""
    lines = text.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(header))
    names = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(names, (cell.strip() for cell in line.strip("|").split(" | ")), strict=True)))
    return rows


def test_summary_md_opens_with_a_row_per_suite_then_each_suite_under_its_name() -> None:
    text = render_markdown(two_suite_summary())
    assert text.startswith("## ShopBench gate: ❌ FAILED\n\nModel **cand-model** on 2 suites, run `multi`,")
    suites = markdown_table(text, "| suite |")
    assert suites == [
        {"suite": "shopbench", "dataset": "shopbench.jsonl", "samples": "16", "score": "60.0 [45.0, 75.0]",
         "pass rate": "50.0% [30.0%, 70.0%]", "errors": "0", "checks": "passed", "baseline": "improved"},
        {"suite": "guard-ocr", "dataset": "guard-ocr.jsonl", "samples": "5", "score": "25.0 [0.0, 60.0]",
         "pass rate": "20.0% [0.0%, 60.0%]", "errors": "1", "checks": "**failed**", "baseline": "regressed"},
    ]
    # The table comes first, then the run's checks (every suite's, by name), then a section per suite in order.
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings[:4] == ["## ShopBench gate: ❌ FAILED", "### Gate checks",
                            "### Suite shopbench: shopbench.jsonl (16 samples)", "#### By subset"]
    assert "### Suite guard-ocr: guard-ocr.jsonl (5 samples)" in headings
    assert headings.index("### Suite guard-ocr: guard-ocr.jsonl (5 samples)") > headings.index("#### By subset")
    assert text.index("| suite |") < text.index("### Gate checks") < text.index("### Suite shopbench")
    checks = {row["check"]: row["result"] for row in markdown_table(text, "| check |")}
    assert checks == {"shopbench: overall score": "pass", "guard-ocr: overall score": "**FAIL**",
                      "guard-ocr: regression against baseline": "**UNDECIDED**"}
    guard = text[text.index("### Suite guard-ocr"):]
    assert [row["subset"] for row in markdown_table(guard, "| subset |")] == ["ocr"]
    assert "**regressed**" in guard and "#### Comparison of candidate" in guard
    assert "**improved**" in text[text.index("### Suite shopbench"):text.index("### Suite guard-ocr")]


def test_a_suite_without_checks_or_baseline_says_so() -> None:
    summary = two_suite_summary()
    only = parts.check("overall score", "passed", suite="shopbench")
    summary.verdict = summary.verdict.model_copy(update={"checks": [only]})
    summary.suites[1] = summary.suites[1].model_copy(update={"comparison": None})
    guard = markdown_table(render_markdown(summary), "| suite |")[1]
    assert (guard["checks"], guard["baseline"]) == ("no checks", "–")


def test_junit_has_a_test_suite_per_suite_with_its_checks_and_samples(tmp_path: Path) -> None:
    summary = two_suite_summary()
    rows = rows_of("shopbench", SHOP_SUBSETS) + rows_of("guard-ocr", GUARD_SUBSETS, errors=1)
    write_results(tmp_path, rows)
    write_junit(tmp_path / "junit.xml", summary, tmp_path / "results.parquet")
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert root.tag == "testsuites"
    suites = {suite.get("name"): suite for suite in root}
    assert list(suites) == ["gate", "shopbench", "guard-ocr"]
    assert len(suites["gate"]) == 0 and suites["gate"].get("tests") == "0"  # no check of the run itself

    shop = suites["shopbench"]
    cases = list(shop)
    assert [case.get("name") for case in cases[:1]] == ["shopbench: overall score"]
    assert cases[0].get("classname") == "shopbench.gate" and cases[0].find("failure") is None
    assert (shop.get("tests"), shop.get("failures"), shop.get("errors")) == ("15", "6", "0")  # 14 samples + 1 check
    assert {case.get("classname") for case in cases[1:]} == {"shopbench.ShopFront.mcq", "shopbench.Kitchen.mcq"}

    guard = suites["guard-ocr"]
    cases = list(guard)
    assert [case.get("name") for case in cases[:2]] == ["guard-ocr: overall score",
                                                        "guard-ocr: regression against baseline"]
    assert cases[0].find("failure").get("message") == "25.0 is not >= 50.0"
    assert cases[1].find("failure").get("message").startswith("undecided: too few paired samples")
    # 5 samples (1 passed, 3 wrong, 1 error) and 2 checks, both not passed.
    assert (guard.get("tests"), guard.get("failures"), guard.get("errors")) == ("7", "5", "1")
    assert sum(case.find("error") is not None for case in cases) == 1
    assert {case.get("classname") for case in cases[2:]} == {"guard-ocr.ocr.mcq"}


def test_report_opens_with_a_suite_table_then_a_section_per_suite(tmp_path: Path) -> None:
    summary = two_suite_summary()
    summary.suites[1].scores.by_subset[HOSTILE_NAME] = parts.group_scores(n=1, score=0.0, passed=0)
    write_results(tmp_path, rows_of("shopbench", SHOP_SUBSETS) + rows_of("guard-ocr", GUARD_SUBSETS, errors=1))
    write_report(tmp_path / "report.html", summary, tmp_path, ReportConfig(max_samples=50))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    structure, page = Structure(html), Page(html)
    suites = [cells for section, heading, cells in structure.rows if section == "overview" and heading == "Suites"]
    assert suites == [
        ["suite", "dataset", "samples", "score", "pass rate", "errors", "checks", "baseline"],
        ["shopbench", "shopbench.jsonl", "16", "60.0 [45.0, 75.0]", "50.0% [30.0%, 70.0%]", "0", "passed",
         "improved"],
        ["guard-ocr", "guard-ocr.jsonl", "5", "25.0 [0.0, 60.0]", "20.0% [0.0%, 60.0%]", "1", "failed", "regressed"],
    ]
    h2 = [text for level, text in structure.headings if level == "h2"]
    assert h2 == ["Overview", "Gate checks", "Suite shopbench", "Comparison with baseline", "Categories",
                  "Suite guard-ocr", "Comparison with baseline", "Categories", "Failure analysis", "Samples"]
    # Each suite's charts are titled with its name; the hostile subset name stays text.
    assert [chart["label"] for chart in structure.charts] == [
        "shopbench: Score change against the baseline, by subset", "shopbench: Score by subset",
        "guard-ocr: Score change against the baseline, by subset", "guard-ocr: Score by subset"]
    assert HOSTILE_NAME in structure.chart("guard-ocr: Score by subset")["texts"]
    assert "<script>alert" not in html
    sections = {tag_id for tag, attributes in page.elements if tag == "section" for tag_id in [attributes["id"]]}
    assert {"suite-1", "suite-2", "comparison-1", "comparison-2", "categories-1", "categories-2"} <= sections
    assert structure.table("categories-2", "By subset")["ocr"][1:3] == ["5", "25.0"]
    text = " ".join(page.all_text.split())
    assert "Failed checks: guard-ocr: overall score" in text
    assert "suite: guard-ocr" in text and "suite: shopbench" in text  # the samples are tagged with their suite
    assert [sample["outcome"] for sample in page.samples].count("error") == 1


def test_write_outputs_writes_all_three_for_several_suites(tmp_path: Path) -> None:
    summary = two_suite_summary()
    write_results(tmp_path, rows_of("shopbench", SHOP_SUBSETS) + rows_of("guard-ocr", GUARD_SUBSETS))
    write_outputs(tmp_path, summary, ReportConfig(), then="run it again")
    assert "| guard-ocr | guard-ocr.jsonl |" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert [suite.get("name") for suite in ET.parse(tmp_path / "junit.xml").getroot()] == ["gate", "shopbench",
                                                                                            "guard-ocr"]
    assert "Suite guard-ocr" in (tmp_path / "report.html").read_text(encoding="utf-8")
