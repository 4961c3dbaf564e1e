"""A local Ray started by a run does not outlive the run, even when the run is killed (SIGKILL, the OOM killer).

Ray ties its GCS server and raylet to the driver that started them (Linux's parent-death signal) and its workers to
the raylet, but its dashboard and runtime-env agents, once the raylet is gone, keep retrying the dead GCS for about a
minute before they exit (Ray 2.60, measured). So a run that starts a local Ray starts a watchdog first: a small
process of its own session, holding the read end of a pipe from the run. Every process started while the run's Ray
session lasts carries a mark in its environment (Ray's processes inherit the driver's, its workers the raylet's).
When the run ends, however it ends, the pipe closes, and the watchdog kills every process still carrying the mark.

Processes are found through /proc (Linux); elsewhere the watchdog finds none and Ray's own clean-up is all there is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

MARK = "RAY_EVAL_LOCAL_RAY_OF"  # environment variable naming the run's watchdog token
SETTLE_S = 5.0  # how long the watchdog keeps looking for marked processes (a dying raylet may still start one)
WATCHDOG_EXIT_S = 15.0  # how long a run that ends normally waits for its watchdog to finish


@contextlib.contextmanager
def reaped_when_this_process_ends() -> Iterator[None]:
    """Inside the block, processes this process starts carry the mark; when the block ends, or this process dies,
    the watchdog kills those still running."""
    token = uuid.uuid4().hex
    watchdog = subprocess.Popen([sys.executable, "-m", "ray_eval.ray_reaper", token], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # a signal to the run's process group does not stop it
    previous = os.environ.get(MARK)
    os.environ[MARK] = token
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MARK, None)
        else:
            os.environ[MARK] = previous
        watchdog.stdin.close()  # what a killed run's exit does too
        try:
            watchdog.wait(timeout=WATCHDOG_EXIT_S)
        except subprocess.TimeoutExpired:
            pass  # it finishes on its own; the run does not wait longer for it


def marked_processes(token: str, proc: Path = Path("/proc")) -> list[int]:
    """Ids of the processes whose environment carries this token's mark."""
    wanted = f"{MARK}={token}".encode()
    found = []
    for entry in proc.glob("[0-9]*"):
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if wanted in environment.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_marked(token: str) -> int:
    """SIGKILL every marked process until none is left (or SETTLE_S passed); how many were killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        alive = [pid for pid in marked_processes(token) if pid != os.getpid()]
        if not alive:
            break
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(0.1)  # a killed process leaves /proc once reaped by its parent (init)
    return len(killed)


def watch(token: str) -> None:
    """The watchdog: wait until the run's end closes stdin, then kill what is left of its Ray."""
    for number in (signal.SIGINT, signal.SIGHUP):  # a Ctrl-C or hang-up meant for the run must not stop it first
        signal.signal(number, signal.SIG_IGN)
    sys.stdin.buffer.read()
    kill_marked(token)


if __name__ == "__main__":
    watch(sys.argv[1])
