"""Ray's own lines on a run's console: kept out by default, shown with `ray-eval run --ray-logs`.

What Ray (2.60) prints on the driver's console during a run, and where it comes from:

* Ray Data's driver logger `ray.data` logs each dataset's start, execution plan and end at INFO, and, since the
  run turns progress bars off (its own progress lines are what a CI log can show), a WARNING on how to turn them
  on (ray/data/_internal/progress). Ray configures that logger with a handler named "console" (its
  DEFAULT_CONFIG) besides the session's logs/ray-data/ray-data.log: the console handler is raised to WARNING and
  the progress module's logger to ERROR; the log file keeps everything else.
* The driver's own C++ core worker writes every ERROR line to file descriptor 2: a driver has no error log file
  (Ray's logging.cc), and its python-core-driver-*.log in the session's logs holds the same lines. One such line
  comes with every Ray Data actor pool: "core_worker.cc: Actor with class name: 'MapWorker(...)' ... has
  constructor arguments in the object store and max_restarts > 0" (ray-project/ray#53727), since Ray Data passes
  each actor's arguments by reference and restarts its actors. Ray's only switch for it, RAY_BACKEND_LOG_LEVEL=fatal,
  prints a line of its own and reaches every process of a local Ray through the environment, so instead the
  driver's fd 2 goes through a pipe that drops lines in Ray's native log format and passes everything else on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator

# "[2026-12-06 07:45:33,990 E 4874 4874] core_worker.cc:2465: ...": Ray's native (spdlog) text format.
NATIVE_LOG_LINE = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [TDIWEFC] \d+ \d+\] ")
RAY_DATA_LOGGER, RAY_DATA_CONSOLE_HANDLER = "ray.data", "console"
PROGRESS_HINT_LOGGER = "ray.data._internal.progress"


@contextlib.contextmanager
def quiet_ray_console() -> Iterator[None]:
    """Ray's own console lines left out (they stay in the Ray session's log files) while the block runs."""
    with _ray_data_console_quiet(), _native_lines_dropped():
        yield


@contextlib.contextmanager
def _ray_data_console_quiet() -> Iterator[None]:
    import ray.data  # noqa: F401 - Ray Data configures its loggers when imported

    consoles = [handler for handler in logging.getLogger(RAY_DATA_LOGGER).handlers
                if handler.name == RAY_DATA_CONSOLE_HANDLER]
    progress = logging.getLogger(PROGRESS_HINT_LOGGER)
    before = [handler.level for handler in consoles], progress.level
    for handler in consoles:
        handler.setLevel(logging.WARNING)
    progress.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for handler, level in zip(consoles, before[0], strict=True):
            handler.setLevel(level)
        progress.setLevel(before[1])


@contextlib.contextmanager
def _native_lines_dropped() -> Iterator[None]:
    sys.stderr.flush()
    console = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(target=_forward, args=(read_end, console), name="ray-eval-stderr", daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(console, 2)  # this process's last write end of the pipe closes: the forwarder drains it and ends
        forwarder.join(timeout=5)
        if not forwarder.is_alive():  # else a child still holds the pipe: the forwarder keeps writing to `console`
            os.close(console)


def _forward(read_end: int, console: int) -> None:
    pending = b""
    with open(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not NATIVE_LOG_LINE.match(line))
            if kept and not _write(console, kept):
                return
    if pending and not NATIVE_LOG_LINE.match(pending):
        _write(console, pending)


def _write(fd: int, data: bytes) -> bool:
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:  # the console went away (a closed terminal): nothing left to show it on
        return False
    return True
