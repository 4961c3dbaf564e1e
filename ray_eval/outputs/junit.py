"""junit.xml: one test suite for the gate's checks and one per subset with a test case per sample, so a CI's
test tab shows what failed. ElementTree escapes text; characters XML 1.0 forbids are removed first."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd

from ray_eval.shopbench.taxonomy import NO_SUBSET

XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any, limit: int = 2000) -> str:
    text = XML_FORBIDDEN.sub("\ufffd", "" if value is None else str(value))
    return text if len(text) <= limit else text[:limit] + "…"


def write_junit(path: Path, decision: dict[str, Any], results: pd.DataFrame) -> None:
    root = ET.Element("testsuites", name="ray-eval")
    gate = ET.SubElement(root, "testsuite", name="gate", tests=str(len(decision["checks"])),
                         failures=str(len(decision["failed_checks"])), errors="0")
    for check in decision["checks"]:
        case = ET.SubElement(gate, "testcase", classname="gate", name=xml_text(check["name"]))
        if check.get("outcome") == "undecided":  # not a pass, and not a measured failure either: say why
            failure = ET.SubElement(case, "failure", message=xml_text(f"undecided: {check['note']}"))
            failure.text = xml_text(f"{check['name']}: {check['note']}")
        elif not check["passed"]:
            value = check["value"] if check["value"] is not None else check["note"]
            failure = ET.SubElement(case, "failure", message=xml_text(
                f"{value} is not {check['comparison']} {check['threshold']}"))
            failure.text = xml_text(f"{check['name']}: value {value}, threshold {check['comparison']} "
                                    f"{check['threshold']}, {check['samples']} samples")
    if decision["status"] == "incomplete":
        case = ET.SubElement(gate, "testcase", classname="gate", name="run completed")
        ET.SubElement(case, "error", message=xml_text(decision["reason"]))
        gate.set("tests", str(len(decision["checks"]) + 1))
        gate.set("errors", "1")
    subsets = results["subset"].fillna(NO_SUBSET)
    for subset, rows in results.groupby(subsets, sort=True):
        suite = ET.SubElement(root, "testsuite", name=f"shopbench.{xml_text(subset)}", tests=str(len(rows)),
                              failures=str(int(((rows["status"] == "ok") & ~rows["passed"].fillna(False).astype(bool)).sum())),
                              errors=str(int((rows["status"] != "ok").sum())))
        for row in rows.itertuples(index=False):
            case = ET.SubElement(suite, "testcase", classname=f"shopbench.{xml_text(subset)}.{xml_text(row.format)}",
                                 name=xml_text(row.sample_id, 200))
            if row.status != "ok":
                error = ET.SubElement(case, "error", message=xml_text(f"{row.error_stage}: {row.error_type}", 200))
                error.text = xml_text(row.error)
            elif not row.passed:
                failure = ET.SubElement(case, "failure", message=xml_text(
                    "unparsed answer" if row.unparsed else f"score {row.score:.2f}", 200))
                failure.text = xml_text(f"question: {row.question}\nexpected: {row.answer}\n"
                                        f"extracted: {row.extracted}\nresponse: {row.response}")
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


JUNIT_COLUMNS = ["sample_id", "subset", "format", "status", "error_stage", "error_type", "error", "passed",
                 "unparsed", "score", "question", "answer", "extracted", "response"]
