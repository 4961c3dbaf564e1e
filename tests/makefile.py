"""The Makefile's recipes as the tests read them, so the commands a newcomer runs are the ones tested."""

from __future__ import annotations

import shlex
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"


def makefile_variables() -> dict[str, str]:
    """The Makefile's `NAME := value` lines."""
    lines = MAKEFILE.read_text(encoding="utf-8").splitlines()
    return dict(line.split(" := ", 1) for line in lines if " := " in line)


def recipe_lines(target: str) -> list[str]:
    """A target's recipe: its tab-indented lines after `target:`, stripped."""
    lines = MAKEFILE.read_text(encoding="utf-8").splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def recipe_commands(target: str, values: dict[str, str]) -> list[list[str]]:
    """A target's commands run from $(BIN)/, as words: continuation lines joined, each `$(NAME)` of `values` replaced,
    $(BIN)/ and a trailing exit-code guard (`|| ...`) dropped."""
    joined = " ".join(line.removesuffix("\\") for line in recipe_lines(target))
    for name, value in values.items():
        joined = joined.replace(f"$({name})", value)
    return [shlex.split(command.split("||")[0]) for command in joined.split("$(BIN)/")[1:]]
