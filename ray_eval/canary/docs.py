"""The canary's configuration reference for the README, generated from CanaryConfig like the run's
(`python -m ray_eval.canary.docs`; `--write README.md` replaces it between its markers)."""

from __future__ import annotations

import sys
from pathlib import Path

from ray_eval.canary.config import CanaryConfig
from ray_eval.config_docs import _rows

BEGIN, END = "<!-- canary-config-reference:begin -->", "<!-- canary-config-reference:end -->"


def canary_config_reference() -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|", *_rows(CanaryConfig, "")]
    return "\n".join([BEGIN, *lines, END])


def write_into(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    path.write_text(text[:start] + canary_config_reference() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_into(Path(sys.argv[2]))
    else:
        print(canary_config_reference())
