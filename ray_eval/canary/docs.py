"""The canary's configuration reference (docs/reference/canary-config.md), generated from CanaryConfig like the
run's (`python -m ray_eval.canary.docs`; `--write [PAGE]` replaces it between its markers in PAGE, default that page
from the checkout's root)."""

from __future__ import annotations

import sys
from pathlib import Path

from ray_eval.canary.config import CanaryConfig
from ray_eval.config_docs import reference_table, replace_between

BEGIN, END = "<!-- canary-config-reference:begin -->", "<!-- canary-config-reference:end -->"
PAGE = Path("docs/reference/canary-config.md")  # relative to the checkout's root


def canary_config_reference() -> str:
    return reference_table(CanaryConfig, BEGIN, END)


def write_into(path: Path) -> None:
    replace_between(path, canary_config_reference(), BEGIN, END)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_into(Path(sys.argv[2]) if len(sys.argv) > 2 else PAGE)
    else:
        print(canary_config_reference())
