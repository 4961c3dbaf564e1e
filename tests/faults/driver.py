"""`ray-eval ARGS...` in a process of its own that kills itself with SIGKILL the moment it starts writing the file
named first (`-`: never; the test kills it). Used by the fault suite's driver-kill scenarios: the kill is real, and
its moment exact (the same hook as the full disk's: ray_eval.runs.atomic.temporary_for)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from ray_eval.cli import main
from ray_eval.runs import atomic


def die_when_writing(name: str) -> None:
    original = atomic.temporary_for

    def hooked(path: Path) -> Path:
        if path.name == name:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(path)

    atomic.temporary_for = hooked


if __name__ == "__main__":
    file, *argv = sys.argv[1:]
    if file != "-":
        die_when_writing(file)
    sys.exit(main(argv))
