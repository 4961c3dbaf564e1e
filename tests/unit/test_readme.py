"""The README and the reference pages stay true: the config reference is the code's, the outputs page names every
result column, the command page every command, and the README keeps the two commands and stays short."""

from __future__ import annotations

import re
from pathlib import Path

from ray_eval.cli import cli
from ray_eval.config_docs import BEGIN, END, PAGE, config_reference
from ray_eval.records import RESULT_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIG_REFERENCE = (ROOT / PAGE).read_text(encoding="utf-8")
OUTPUTS = (ROOT / "docs" / "concepts" / "outputs.md").read_text(encoding="utf-8")
COMMANDS = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
README_MOST_LINES = 200  # what a newcomer needs first; the manual is docs/


def test_config_reference_matches_the_code() -> None:
    section = CONFIG_REFERENCE[CONFIG_REFERENCE.index(BEGIN): CONFIG_REFERENCE.index(END) + len(END)]
    assert section == config_reference(), f"run: python -m ray_eval.config_docs --write (it rewrites {PAGE})"


def test_every_result_column_is_documented() -> None:
    documented = set(re.findall(r"`([a-z0-9_]+)`", OUTPUTS.split("`results.parquet` columns:")[1].split("##")[0]))
    assert set(RESULT_SCHEMA.names) <= documented


def test_every_command_is_documented_and_the_two_commands_are_there() -> None:
    for name, command in cli.commands.items():
        subcommands = getattr(command, "commands", {None: None})
        for sub in subcommands:
            assert f"ray-eval {name}{' ' + sub if sub else ''}" in COMMANDS
    assert "make demo" in README and "make test" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_the_readme_is_what_a_newcomer_needs_first() -> None:
    assert len(README.splitlines()) <= README_MOST_LINES, f"README.md over {README_MOST_LINES} lines: move it to docs/"
    assert "```bash\nmake demo   #" in README and "\nmake test   #" in README
