"""The canary's configuration reference for the README, generated from CanaryConfig like the run's
(`python -m ray_eval.canary.docs`; `--write README.md` replaces it between its markers)."""

from __future__ import annotations

import sys
from pathlib import Path

from ray_eval.canary.config import CanaryConfig
from ray_eval.config_docs import reference_table, replace_between

BEGIN, END = "<!-- canary-config-reference:begin -->", "<!-- canary-config-reference:end -->"


def canary_config_reference() -> str:
    return reference_table(CanaryConfig, BEGIN, END)


def write_into(path: Path) -> None:
    replace_between(path, canary_config_reference(), BEGIN, END)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_into(Path(sys.argv[2]))
    else:
        print(canary_config_reference())
