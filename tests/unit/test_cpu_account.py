"""The benchmarks' CPU count (benchmarks/cpu_account.py): what a started process and its own children use is counted,
what is left out is not, and the count says how it was made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cpu_account import CGROUP, CPUACCT, RUSAGE, CpuAccount

SPIN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"
# A child that starts a grandchild spinning for 0.6 s of CPU, reaps it, and waits to be killed.
REAPS_THEN_HANGS = (
    "import subprocess, sys, time\n"
    f"subprocess.run([sys.executable, '-c', {SPIN.format(s=0.6)!r}], check=True)\n"
    "print('reaped', flush=True)\n"
    "time.sleep(600)\n"
)
cgroups_writable = os.geteuid() == 0 and CPUACCT.is_dir()


@pytest.mark.skipif(not cgroups_writable, reason="needs root and the cpuacct cgroup hierarchy (CI has both)")
def test_a_grandchilds_cpu_counts_and_the_group_goes_with_the_account() -> None:
    with CpuAccount() as account:
        assert account.method == CGROUP
        before = account.seconds()
        child = subprocess.Popen([sys.executable, "-c", REAPS_THEN_HANGS], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "reaped"
        finally:
            child.kill()
            child.wait()
        assert account.seconds() - before >= 0.55
        group = account.group
    assert group is not None and not group.exists()  # removed, this process back where it was


@pytest.mark.skipif(not cgroups_writable, reason="needs root and the cpuacct cgroup hierarchy (CI has both)")
def test_a_process_left_out_is_not_counted() -> None:
    with CpuAccount() as account:
        engine = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()\n" + SPIN.format(s=0.6)],
                                  stdin=subprocess.PIPE, text=True)
        account.leave_out(engine.pid)
        before = account.seconds()
        engine.communicate("go\n")
        assert account.seconds() - before < 0.3  # the spin (0.6 s) is not in it; Python's start may be


def test_without_a_cgroup_the_count_says_it_is_a_lower_bound(tmp_path: Path) -> None:
    with CpuAccount(root=tmp_path / "no-such-hierarchy") as account:
        assert account.method == RUSAGE and account.group is None
        before = account.seconds()
        subprocess.run([sys.executable, "-c", SPIN.format(s=0.3)], check=True)
        assert account.seconds() - before >= 0.25  # a child reaped here is counted either way


def test_the_watch_window_counts_a_process_that_ended_before_the_closing_reading() -> None:
    """A run's Ray workers end within a second of its last answer, before the watch's next reading: their CPU up to
    their last reading is still the request phase's."""
    from benchmarks.cpu_watch import CpuWatch, Reading

    watch = CpuWatch(exclude=set())
    watch.readings = [
        Reading(at=0.0, by_process={1: ("driver", 1.0), 2: ("worker", 0.5)}, machine_busy=0.5, load_1m=1.0),
        Reading(at=1.0, by_process={1: ("driver", 1.2), 2: ("worker", 1.3)}, machine_busy=0.9, load_1m=1.0),
        Reading(at=2.0, by_process={1: ("driver", 1.4)}, machine_busy=0.2, load_1m=1.0),  # the worker has ended
    ]
    window = watch.window(0.0, 2.0)
    assert window.by_process == {"worker": 0.8, "driver": 0.4}
    assert window.cpu_s == pytest.approx(1.2)
