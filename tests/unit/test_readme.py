"""The README stays true: its config reference is the code's, and it names every result column and command."""

from __future__ import annotations

import re
from pathlib import Path

from ray_eval.cli import cli
from ray_eval.config_docs import BEGIN, END, config_reference
from ray_eval.records import RESULT_SCHEMA

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_config_reference_matches_the_code() -> None:
    section = README[README.index(BEGIN): README.index(END) + len(END)]
    assert section == config_reference(), "run: python -m ray_eval.config_docs, and paste it into README.md"


def test_every_result_column_is_documented() -> None:
    documented = set(re.findall(r"`([a-z0-9_]+)`", README.split("`results.parquet` columns:")[1].split("##")[0]))
    assert set(RESULT_SCHEMA.names) <= documented


def test_every_command_is_documented_and_the_two_commands_are_there() -> None:
    for name, command in cli.commands.items():
        subcommands = getattr(command, "commands", {None: None})
        for sub in subcommands:
            assert f"ray-eval {name}{' ' + sub if sub else ''}" in README
    assert "make demo" in README and "make test" in README
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert "make test" in ci
