"""junit.xml, so a CI's test tab shows what failed: a one-suite run has one test suite for the gate's checks and one
per subset with a test case per sample; a several-suite run has one test suite per suite (its checks, then its
samples' cases) and one for the checks of the run itself. ElementTree escapes text; characters XML 1.0 forbids are
removed first."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ray_eval.data.taxonomy import NO_SUBSET
from ray_eval.outputs.suites import several_suites, suite_checks
from ray_eval.verdict.summary_model import Check, Summary, Verdict

XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any, limit: int = 2000) -> str:
    text = XML_FORBIDDEN.sub("\ufffd", "" if value is None else str(value))
    return text if len(text) <= limit else text[:limit] + "…"


def write_junit(path: Path, summary: Summary, results: Path) -> None:
    """Written as it goes, one test case at a time: a run of any size needs the memory of its few text columns in
    Arrow, never a pandas frame and a tree of every sample (at 50,000 cases those took 150 MB)."""
    present = set(pq.read_schema(results).names)
    table = pq.read_table(results, columns=[column for column in JUNIT_COLUMNS if column in present])
    decision = summary.verdict
    with open(path, "w", encoding="utf-8") as out:
        out.write("<?xml version='1.0' encoding='utf-8'?>\n<testsuites name=\"ray-eval\">")
        if not several_suites(summary):
            out.write(ET.tostring(_gate_suite(decision, decision.checks or [], len(decision.failed_checks)),
                                  encoding="unicode"))
            subsets = pc.fill_null(table["subset"], NO_SUBSET)
            for subset in sorted(set(subsets.to_pylist())):
                _write_suite(out, f"shopbench.{xml_text(subset)}", [], table.filter(pc.equal(subsets, subset)),
                             "shopbench")
        else:
            # The run's own checks (those of no suite) and whether it completed, then a test suite per suite.
            run_checks = [check for check in decision.checks or [] if check.suite is None]
            out.write(ET.tostring(_gate_suite(decision, run_checks, sum(not check.passed for check in run_checks)),
                                  encoding="unicode"))
            suites = table["suite"] if "suite" in table.column_names else pa.nulls(table.num_rows, pa.string())
            for suite in summary.suites:
                rows = table.filter(pc.fill_null(pc.equal(suites, suite.name), False))
                _write_suite(out, suite.name, suite_checks(summary, suite), rows, suite.name)
        out.write("</testsuites>")


def _write_suite(out: TextIO, name: str, checks: list[Check], rows: pa.Table, prefix: str) -> None:
    """A <testsuite>: a case per check (classed NAME.gate), then a case per sample row (classed PREFIX.SUBSET.FORMAT);
    a wrong answer or a failed check is a failure, a row that ended in an error an error."""
    ok = pc.fill_null(pc.equal(rows["status"], "ok"), False)
    failed = pc.and_(ok, pc.invert(pc.fill_null(rows["passed"], False)))
    failures = (pc.sum(failed).as_py() or 0) + sum(not check.passed for check in checks)
    suite = ET.Element("testsuite", name=name, tests=str(rows.num_rows + len(checks)), failures=str(failures),
                       errors=str(rows.num_rows - (pc.sum(ok).as_py() or 0)))
    out.write(ET.tostring(suite, encoding="unicode").removesuffix(" />") + ">")
    for check in checks:
        out.write(ET.tostring(_check_case(check, f"{name}.gate"), encoding="unicode"))
    for batch in rows.to_batches(max_chunksize=1000):
        for row in batch.to_pylist():
            classname = f"{prefix}.{xml_text(row['subset'] or NO_SUBSET)}.{xml_text(row['format'])}"
            out.write(ET.tostring(_sample_case(row, classname), encoding="unicode"))
    out.write("</testsuite>")


def _gate_suite(decision: Verdict, checks: list[Check], failures: int) -> ET.Element:
    gate = ET.Element("testsuite", name="gate", tests=str(len(checks)), failures=str(failures), errors="0")
    gate.extend(_check_case(check, "gate") for check in checks)
    if decision.status == "incomplete":
        case = ET.SubElement(gate, "testcase", classname="gate", name="run completed")
        ET.SubElement(case, "error", message=xml_text(decision.reason))
        gate.set("tests", str(len(checks) + 1))
        gate.set("errors", "1")
    return gate


def _check_case(check: Check, classname: str) -> ET.Element:
    case = ET.Element("testcase", classname=classname, name=xml_text(check.name))
    if check.result == "undecided":  # not a pass, and not a measured failure either: say why
        failure = ET.SubElement(case, "failure", message=xml_text(f"undecided: {check.note}"))
        failure.text = xml_text(f"{check.name}: {check.note}")
    elif not check.passed:
        value = check.value if check.value is not None else check.note
        failure = ET.SubElement(case, "failure", message=xml_text(
            f"{value} is not {check.comparison} {check.threshold}"))
        failure.text = xml_text(f"{check.name}: value {value}, threshold {check.comparison} "
                                f"{check.threshold}, {check.samples} samples")
    return case


def _sample_case(row: dict[str, Any], classname: str) -> ET.Element:
    case = ET.Element("testcase", classname=classname,
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


JUNIT_COLUMNS = ["suite", "sample_id", "subset", "format", "status", "error_stage", "error_type", "error", "passed",
                 "unparsed", "score", "question", "answer", "extracted", "response"]
