"""What a run starts while its local Ray lasts dies with the run, even when the run is killed with SIGKILL: the
watchdog (ray_eval/ray_reaper.py) kills every process carrying the run's mark once the run's pipe closes. Here the
run is a small Python process that starts a long `sleep` inside the block; with Ray: tests/faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from ray_eval.ray_reaper import MARK, kill_marked, marked_processes
from ray_eval.testing.prometheus import wait_until

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="the watchdog reads /proc (Linux)")

RUN = textwrap.dedent("""
    import subprocess, sys, time
    from ray_eval.ray_reaper import reaped_when_this_process_ends
    with reaped_when_this_process_ends():
        child = subprocess.Popen(["sleep", "600"])
        print(child.pid, flush=True)
        if sys.argv[1] == "hang":
            time.sleep(600)
""")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("end", ["killed", "returns"])
def test_what_the_run_started_dies_with_it(end: str) -> None:
    run = subprocess.Popen([sys.executable, "-c", RUN, "hang" if end == "killed" else "return"], cwd=REPO,
                           stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    child = int(run.stdout.readline())
    try:
        if end == "killed":
            assert not gone(child)
            os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        wait_until(lambda: gone(child), 20, f"the run's child {child} to be killed")
    finally:
        if not gone(child):
            os.kill(child, signal.SIGKILL)
    assert MARK not in os.environ


def test_only_processes_with_this_runs_mark_are_killed() -> None:
    ours = subprocess.Popen(["sleep", "600"], env={**os.environ, MARK: "ours"})
    other = subprocess.Popen(["sleep", "600"], env={**os.environ, MARK: "another-run"})
    try:
        assert marked_processes("ours") == [ours.pid]
        assert kill_marked("ours") == 1
        assert ours.wait(timeout=10) == -signal.SIGKILL and other.poll() is None
    finally:
        for process in (ours, other):
            if process.poll() is None:
                process.kill()
                process.wait()
