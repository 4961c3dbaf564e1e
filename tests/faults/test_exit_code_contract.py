"""The "Exit codes" of docs/reference/cli.md stay true to the fault suite: every scenario's fault is a row of its
fault table, its exit code is one its cause class documents, and every row of that table is a scenario of the suite.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.faults import test_engine_faults
from tests.faults.scenarios import SCENARIOS

# Each row of both tables: (name, documented fault, the exit codes it may end with). An engine scenario without an exit
# code of its own ends as the undisturbed run of its model does: 0 for the good model, 1 for the poor one.
ROWS = [(scenario.name, scenario.fault, {scenario.exit_code}) for scenario in SCENARIOS] + [
    (scenario.name, scenario.fault,
     {scenario.exit_code} if scenario.exit_code is not None else {0 if scenario.model == "good" else 1})
    for scenario in test_engine_faults.SCENARIOS]

SECTION = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md").read_text(encoding="utf-8") \
    .split("## Exit codes\n", 1)[1].split("\n## ", 1)[0]


def table(header: str) -> list[list[str]]:
    """The rows of the section's table whose header row starts with `header`, as cells."""
    lines = SECTION.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def codes_by_class() -> dict[str, set[int]]:
    classes: dict[str, set[int]] = {}
    for code, cause, _ in table("code"):
        classes.setdefault(cause, set()).add(int(code))
    return classes


def documented_faults() -> dict[str, tuple[str, set[int]]]:
    """fault -> (cause class, the exit codes its row gives)."""
    return {fault: (cause, {int(code) for code in re.findall(r"\d", codes)})
            for fault, cause, codes, *_ in table("fault")}


def test_the_cause_classes_are_model_input_and_infrastructure() -> None:
    assert codes_by_class() == {"model": {0, 1}, "input": {2}, "infrastructure": {3}}


def test_each_documented_fault_exits_with_the_codes_of_its_cause_class() -> None:
    classes = codes_by_class()
    for fault, (cause, codes) in documented_faults().items():
        assert codes == classes[cause], f"docs/reference/cli.md: {fault!r} is {cause} but exits {sorted(codes)}"


def test_every_scenario_exits_as_the_readme_documents_its_fault() -> None:
    faults = documented_faults()
    for name, fault, exits in ROWS:
        assert fault in faults, f"{name}: its fault {fault!r} is not in the documented fault table"
        cause, codes = faults[fault]
        assert exits <= codes, f"{name}: exits {sorted(exits)}, but the docs give {fault!r} ({cause}) {sorted(codes)}"


def test_every_documented_fault_is_a_scenario_of_the_suite() -> None:
    assert set(documented_faults()) == {fault for _, fault, _ in ROWS}
