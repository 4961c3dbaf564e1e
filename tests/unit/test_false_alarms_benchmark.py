"""The simulation of the decision's false alarms (benchmarks/false_alarms.py), run as docs/concepts/gate.md shows it
with a few repetitions: a table of every row, with rates and their intervals in [0, 1]. No statistical assertion on so
few repetitions (tests/unit/test_holm.py holds the exact ones on Holm itself; the docs hold a measured table)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATE_DOC = ROOT / "docs" / "concepts" / "gate.md"
RATE = re.compile(r"^(\d\.\d{3}) \[(\d\.\d{3}), (\d\.\d{3})\]$")


def documented_command() -> list[str]:
    commands = re.findall(r"`(python benchmarks/false_alarms\.py[^`]*)`", GATE_DOC.read_text(encoding="utf-8"))
    assert len(commands) == 1, f"docs/concepts/gate.md shows the simulation's command once, found {commands}"
    return shlex.split(commands[0])


def run(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, PYTHONPATH=str(ROOT))  # this checkout's ray_eval, whatever the venv installed
    return subprocess.run([sys.executable, *arguments], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=300, check=False)


def with_option(arguments: list[str], option: str, value: str) -> list[str]:
    at = arguments.index(option)
    return [*arguments[:at + 1], value, *arguments[at + 2:]]


def test_the_documented_command_prints_a_rate_table_for_1_3_and_6_suites() -> None:
    command = documented_command()
    assert command[:2] == ["python", "benchmarks/false_alarms.py"]
    arguments = with_option(with_option(command[1:], "--repetitions", "2"), "--samples", "60")
    finished = run(arguments)
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0].startswith("2 repetitions, 60 paired samples per suite")
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| suites | true change (points) | measure | Holm | uncorrected |"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [row[0] for row in rows] == ["1"] * 5 + ["3"] * 5 + ["6"] * 5
    assert [row[2] for row in rows[:5]] == ["false alarms (least favourable null)", "false alarms", "passed",
                                            "power (failed)", "power (failed)"]
    for row in rows:
        for cell in row[3:]:
            match = RATE.match(cell)
            assert match, f"not a rate with its interval: {cell!r}"
            rate, low, high = map(float, match.groups())
            assert 0.0 <= low <= rate <= high <= 1.0
            assert rate in (0.0, 0.5, 1.0)  # a share of 2 repetitions


def test_a_bad_option_is_one_line_and_exit_2() -> None:
    finished = run(["benchmarks/false_alarms.py", "--repetitions", "0"])
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines()[-1].endswith(
        "error: --repetitions must be at least 1 and --samples at least 6")
