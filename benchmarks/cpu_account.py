"""The CPU of everything a benchmark starts, the engine's excepted: ray-eval's command, its local Ray's daemons and
workers, and a running cluster's processes during a run.

Counted by a cpuacct cgroup the benchmark moves itself into: every process it starts inherits the group, and a
process's CPU stays counted there after it ends, whoever reaps it. Exact. Counting by RUSAGE_CHILDREN and the live
descendants instead (the benchmark a child subreaper, reaping what Ray leaves) missed a local run's Ray workers,
4-6 of its 11 CPU seconds, in about one run of three (measured 2026-12-06; which process reaped them was not found:
they were gone, neither live nor left to reap). That count is still what is used where no cgroup can be made (not
root, no cpuacct hierarchy), and `method` then says it is a lower bound.

    with CpuAccount() as account:
        account.leave_out(engine_pid)
        before = account.seconds(); ...run...; account.settle(); used = account.seconds() - before
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import time
from pathlib import Path

import psutil

CPUACCT = Path("/sys/fs/cgroup/cpuacct")  # cgroup v1, as on this project's machines
PR_SET_CHILD_SUBREAPER = 36
CGROUP = "cgroup"
RUSAGE = "rusage (a lower bound)"


class CpuAccount:
    def __init__(self, root: Path = CPUACCT):
        self.root = root
        self.group: Path | None = None
        self.method = RUSAGE
        self.left_out: set[int] = set()

    def __enter__(self) -> CpuAccount:
        become_subreaper()  # either way: what Ray leaves behind is re-parented here, to be reaped (settle)
        group = self.root / f"ray-eval-bench-{os.getpid()}"
        try:
            group.mkdir()
            (group / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            return self
        self.group, self.method = group, CGROUP
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.group is None:
            return
        for pid in (self.group / "cgroup.procs").read_text().split():  # this process, and any process left
            with contextlib.suppress(OSError):
                (self.root / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            self.group.rmdir()

    def leave_out(self, pid: int) -> None:
        """Not counted from now on (the engine: a process of its own, whose CPU is not ray-eval's)."""
        self.left_out.add(pid)
        if self.group is not None:
            (self.root / "cgroup.procs").write_text(str(pid))

    def seconds(self) -> float:
        """CPU seconds so far of the processes this one started, less those left out; use differences."""
        if self.group is not None:
            own = sum(os.times()[:2])  # this process's, which joined the group too
            return int((self.group / "cpuacct.usage").read_text()) / 1e9 - own
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        live = 0.0
        for process in self._descendants():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                live += times.user + times.system + times.children_user + times.children_system
        return usage.ru_utime + usage.ru_stime + live

    def settle(self, timeout_s: float = 30.0) -> None:
        """Wait for the processes a local Ray leaves behind to end (its reaper stops them), reaping each, zombies
        included: for the rusage count, their CPU reaches RUSAGE_CHILDREN only once reaped."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            leftovers = [process for process in self._descendants() if _local_ray_leftover(process)]
            if not leftovers:
                return
            psutil.wait_procs(leftovers, timeout=max(0.1, deadline - time.monotonic()))

    def _descendants(self) -> list[psutil.Process]:
        found = []
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if child.pid not in self.left_out and not {p.pid for p in child.parents()} & self.left_out:
                    found.append(child)
        return found


def become_subreaper() -> None:
    """Processes this one starts, and theirs, are re-parented to it when their parent ends (`ray start`'s daemons
    among them), not to init: they stay its descendants."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _local_ray_leftover(process: psutil.Process) -> bool:
    """A process of a run's own local Ray re-parented here (not a running cluster's, whose temp dir is
    /tmp/ray-ttv-*), ended or not: a zombie has no command line left, but only a run's processes end between runs."""
    try:
        if process.ppid() != os.getpid():
            return False
        return process.status() == psutil.STATUS_ZOMBIE or "ray-ttv-" not in " ".join(process.cmdline())
    except psutil.ZombieProcess:
        return True
    except psutil.Error:
        return False
