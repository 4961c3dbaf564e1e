"""junit.xml: one test suite for the gate's checks and one per subset with a test case per sample, so a CI's
test tab shows what failed. ElementTree escapes text; characters XML 1.0 forbids are removed first."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from ray_eval.data.taxonomy import NO_SUBSET
from ray_eval.verdict.summary_model import Verdict

XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any, limit: int = 2000) -> str:
    text = XML_FORBIDDEN.sub("\ufffd", "" if value is None else str(value))
    return text if len(text) <= limit else text[:limit] + "…"


def write_junit(path: Path, decision: Verdict, results: Path) -> None:
    """Written as it goes, one test case at a time: a run of any size needs the memory of its few text columns in
    Arrow, never a pandas frame and a tree of every sample (at 50,000 cases those took 150 MB)."""
    table = pq.read_table(results, columns=JUNIT_COLUMNS)
    subsets = pc.fill_null(table["subset"], NO_SUBSET)
    with open(path, "w", encoding="utf-8") as out:
        out.write("<?xml version='1.0' encoding='utf-8'?>\n<testsuites name=\"ray-eval\">")
        out.write(ET.tostring(_gate_suite(decision), encoding="unicode"))
        for subset in sorted(set(subsets.to_pylist())):
            rows = table.filter(pc.equal(subsets, subset))
            ok = pc.fill_null(pc.equal(rows["status"], "ok"), False)
            failed = pc.and_(ok, pc.invert(pc.fill_null(rows["passed"], False)))
            suite = ET.Element("testsuite", name=f"shopbench.{xml_text(subset)}", tests=str(rows.num_rows),
                               failures=str(pc.sum(failed).as_py() or 0),
                               errors=str(rows.num_rows - (pc.sum(ok).as_py() or 0)))
            out.write(ET.tostring(suite, encoding="unicode").removesuffix(" />") + ">")
            for batch in rows.to_batches(max_chunksize=1000):
                for row in batch.to_pylist():
                    out.write(ET.tostring(_sample_case(row, subset), encoding="unicode"))
            out.write("</testsuite>")
        out.write("</testsuites>")


def _gate_suite(decision: Verdict) -> ET.Element:
    checks = decision.checks or []
    gate = ET.Element("testsuite", name="gate", tests=str(len(checks)),
                      failures=str(len(decision.failed_checks)), errors="0")
    for check in checks:
        case = ET.SubElement(gate, "testcase", classname="gate", name=xml_text(check.name))
        if check.result == "undecided":  # not a pass, and not a measured failure either: say why
            failure = ET.SubElement(case, "failure", message=xml_text(f"undecided: {check.note}"))
            failure.text = xml_text(f"{check.name}: {check.note}")
        elif not check.passed:
            value = check.value if check.value is not None else check.note
            failure = ET.SubElement(case, "failure", message=xml_text(
                f"{value} is not {check.comparison} {check.threshold}"))
            failure.text = xml_text(f"{check.name}: value {value}, threshold {check.comparison} "
                                    f"{check.threshold}, {check.samples} samples")
    if decision.status == "incomplete":
        case = ET.SubElement(gate, "testcase", classname="gate", name="run completed")
        ET.SubElement(case, "error", message=xml_text(decision.reason))
        gate.set("tests", str(len(checks) + 1))
        gate.set("errors", "1")
    return gate


def _sample_case(row: dict[str, Any], subset: str) -> ET.Element:
    case = ET.Element("testcase", classname=f"shopbench.{xml_text(subset)}.{xml_text(row['format'])}",
                      name=xml_text(row["sample_id"], 200))
    if row["status"] != "ok":
        error = ET.SubElement(case, "error", message=xml_text(f"{row['error_stage']}: {row['error_type']}", 200))
        error.text = xml_text(row["error"])
    elif not row["passed"]:
        failure = ET.SubElement(case, "failure", message=xml_text(
            "unparsed answer" if row["unparsed"] else f"score {row['score']:.2f}", 200))
        failure.text = xml_text(f"question: {row['question']}\nexpected: {row['answer']}\n"
                                f"extracted: {row['extracted']}\nresponse: {row['response']}")
    return case


JUNIT_COLUMNS = ["sample_id", "subset", "format", "status", "error_stage", "error_type", "error", "passed",
                 "unparsed", "score", "question", "answer", "extracted", "response"]
