"""A local Ray started by a run does not outlive the run, even when the run is killed (SIGKILL, the OOM killer).

Ray ties its GCS server and raylet to the driver that started them (Linux's parent-death signal) and its workers to
the raylet, but its dashboard and runtime-env agents, once the raylet is gone, keep retrying the dead GCS for about a
minute before they exit (Ray 2.60, measured). So a run that starts a local Ray starts a watchdog first: a small
process in a session of its own (a signal to the run's process group does not reach it), holding the read end of a
pipe from the run. While the run lives, the watchdog notes every process descended from it that it had not seen
when it started (Ray's processes: they rename themselves, `ray::DashboardAgent`, which also blanks what /proc shows
of their environment, so descent is what identifies them, and a start time with the id). When the run ends, however
it ends, the pipe closes and the watchdog kills those still running.

Processes are read from /proc (Linux); elsewhere the watchdog sees none and Ray's own clean-up is all there is.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
POLL_S = 0.5  # how often the watchdog looks for the run's new processes
WATCHDOG_EXIT_S = 15.0  # how long a run that ends normally waits for its watchdog to finish


@dataclass(frozen=True)
class ProcessId:
    """A process as /proc shows it: its id and start time (ids are reused; the pair is not)."""

    pid: int
    parent: int
    started: int  # clock ticks after boot


@contextlib.contextmanager
def reaped_when_this_process_ends() -> Iterator[None]:
    """When the block ends, or this process dies, the processes it started inside the block (and theirs) that
    still run are killed."""
    watchdog = subprocess.Popen([sys.executable, "-m", "ray_eval.cluster.ray_reaper"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    assert watchdog.stdout is not None and watchdog.stdin is not None  # both are pipes, opened above
    watchdog.stdout.readline()  # it has noted what this process had already started: those are left alone
    watchdog.stdout.close()
    try:
        yield
    finally:
        watchdog.stdin.close()  # what a killed run's exit does too
        try:
            watchdog.wait(timeout=WATCHDOG_EXIT_S)
        except subprocess.TimeoutExpired:
            pass  # it finishes on its own; the run does not wait longer for it


def processes() -> dict[int, ProcessId]:
    found = {}
    for entry in PROC.glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (name) ": the name may hold spaces and ')'
        found[int(entry.name)] = ProcessId(int(entry.name), int(fields[1]), int(fields[19]))
    return found


def descendants(root: int, table: dict[int, ProcessId]) -> set[ProcessId]:
    """The processes below `root`: its children, theirs, and so on."""
    children: dict[int, list[ProcessId]] = {}
    for process in table.values():
        children.setdefault(process.parent, []).append(process)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child.pid)
    return found


def kill_survivors(noted: set[ProcessId]) -> int:
    """SIGKILL each noted process still running (the same id and start time: its parent may have changed, to init
    once the run died), and what they started meanwhile."""
    table = processes()
    alive = {table[process.pid] for process in noted
             if process.pid in table and table[process.pid].started == process.started}
    for process in list(alive):
        alive |= descendants(process.pid, table)
    for process in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, signal.SIGKILL)
    return len(alive)


def watch(run: int, me: int) -> None:
    """The watchdog: note the processes the run starts until its end closes stdin, then kill those still running.
    What the run had started before the watchdog was ready is not the block's, and is left alone."""
    for number in (signal.SIGINT, signal.SIGHUP):  # a Ctrl-C or hang-up meant for the run must not stop it first
        signal.signal(number, signal.SIG_IGN)
    earlier = descendants(run, processes())
    sys.stdout.write("ready\n")
    sys.stdout.close()
    noted: set[ProcessId] = set()
    while True:
        ended, _, _ = select.select([sys.stdin], [], [], POLL_S)
        noted |= {process for process in descendants(run, processes()) if process.pid != me} - earlier
        if ended and not sys.stdin.buffer.read1(4096):  # type: ignore[union-attr]  # stdin is a pipe: buffered
            break
    kill_survivors(noted)


if __name__ == "__main__":
    watch(os.getppid(), os.getpid())
