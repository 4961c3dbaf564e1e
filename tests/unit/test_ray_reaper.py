"""What a run starts while its local Ray lasts dies with the run: the watchdog (ray_eval/cluster/ray_reaper.py) kills
what the run started inside the block once the run's pipe closes. Here the run is a small Python process that starts
a long `sleep` inside the block; a real Ray and a driver killed with SIGKILL: tests/faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from ray_eval.cluster.ray_reaper import ProcessId, descendants
from ray_eval.testing.prometheus import wait_until

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the watchdog reads /proc (Linux)")

RUN = textwrap.dedent("""
    import subprocess
    from ray_eval.cluster.ray_reaper import reaped_when_this_process_ends
    with reaped_when_this_process_ends():
        child = subprocess.Popen(["sleep", "600"])
        print(child.pid, flush=True)
""")
EARLIER_AND_INSIDE = textwrap.dedent("""
    import subprocess
    from ray_eval.cluster.ray_reaper import reaped_when_this_process_ends
    earlier = subprocess.Popen(["sleep", "600"])
    with reaped_when_this_process_ends():
        inside = subprocess.Popen(["sleep", "600"])
        print(earlier.pid, inside.pid, flush=True)
""")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_what_the_run_started_dies_with_it() -> None:
    """The block ends; the child it started is killed. (A run killed with SIGKILL: tests/faults, on a real Ray whose
    processes the watchdog has had time to note; it looks every POLL_S.)"""
    run = subprocess.Popen([sys.executable, "-c", RUN], cwd=REPO, stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    child = int(run.stdout.readline())
    try:
        assert run.wait(timeout=30) == 0
        wait_until(lambda: gone(child), 20, f"the run's child {child} to be killed")
    finally:
        if not gone(child):
            os.kill(child, signal.SIGKILL)


def test_only_what_the_run_started_during_the_block_is_killed() -> None:
    """A process the run started before the block, and one it did not start, live on."""
    run = subprocess.Popen([sys.executable, "-c", EARLIER_AND_INSIDE], cwd=REPO, stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    other = subprocess.Popen(["sleep", "600"])
    earlier, inside = (int(pid) for pid in run.stdout.readline().split())
    try:
        assert run.wait(timeout=30) == 0
        wait_until(lambda: gone(inside), 20, f"the process {inside} started inside the block to be killed")
        assert not gone(earlier) and other.poll() is None
    finally:
        for pid in (earlier, inside, other.pid):
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
        other.wait()


def test_descendants_are_found_through_every_generation() -> None:
    table = {pid: ProcessId(pid, parent, started) for pid, parent, started in
             [(10, 1, 5), (11, 10, 50), (12, 11, 60), (13, 12, 2), (20, 1, 80), (21, 20, 90)]}
    assert {p.pid for p in descendants(10, table)} == {11, 12, 13}
