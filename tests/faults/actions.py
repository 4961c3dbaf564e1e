"""How a scenario's fault reaches the run besides the engine's answers: a disk that fills up at a given file, an out_dir
on a read-only mount or behind a file, the driver killed with SIGKILL at a given point, an endpoint that takes
connections and never answers. Each action knows how to set itself up, how the faulted run is started under it, and
how the fault goes away before the run is continued.

The disk is real: out_dir is on a small tmpfs mounted for the scenario (root only; CI runs as root), and the ENOSPC
or EROFS a run meets comes from the kernel. Only the moment is chosen: the disk is filled to its last byte just
before the run starts writing the named file (ray_eval.runs.atomic.temporary_for is where every file of a run
directory begins). The driver's SIGKILL is real too, in a process of its own (tests/faults/driver.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from ray_eval.ci import exit_code_without_verdict
from ray_eval.runs import atomic
from ray_eval.testing.prometheus import wait_until

REPO = Path(__file__).resolve().parents[2]
RAY_GONE_S = 20.0  # Ray's own agents linger ~60 s after a killed driver unless the run's watchdog ends them


@dataclass
class Ran:
    """One invocation of the CLI: its exit code as the operator's tooling reads it, and its stderr."""

    exit_code: int
    stderr: str


class Workspace:
    """What the harness gives an action: where the run directory lives, the config's overrides, the CLI, pytest's
    monkeypatch for hooks in this process."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[[list[str]], Ran]):
        self.root = root
        self.monkeypatch = monkeypatch
        self.run_cli = run_cli
        self.out_dir = root / "runs"
        self.run_id = "faulted"
        self.overrides: list[str] = []

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.run_id


class Fault:
    """No fault outside the engine: the run goes as the engine lets it (the engine faults' rows)."""

    needs_root = False

    @contextlib.contextmanager
    def applied(self, workspace: Workspace) -> Iterator[None]:
        yield

    def run(self, workspace: Workspace, argv: list[str]) -> Ran:
        return workspace.run_cli(argv)

    def clear(self, workspace: Workspace) -> None:
        """The fault is gone (space freed, the engine healthy): nothing to do unless the action left something."""


@contextlib.contextmanager
def small_tmpfs(mount: Path, options: str) -> Iterator[Path]:
    mount.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def fill_to_the_last_byte(ballast: Path) -> None:
    with ballast.open("wb", buffering=0) as handle:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    handle.write(b"\0" * chunk)
            except OSError:
                continue


def hook_file(monkeypatch: pytest.MonkeyPatch, name: str, action: Callable[[], None]) -> None:
    """Call `action` once, when the run first starts writing a file called `name` (before its temporary file)."""
    original = atomic.temporary_for
    fired = []

    def hooked(path: Path) -> Path:
        if path.name == name and not fired:
            fired.append(path)
            action()
        return original(path)

    monkeypatch.setattr(atomic, "temporary_for", hooked)


class DiskFullAt(Fault):
    """out_dir on a 4 MiB tmpfs that fills up as the run starts writing `file`; freed before the run is continued."""

    needs_root = True

    def __init__(self, file: str):
        self.file = file

    @contextlib.contextmanager
    def applied(self, workspace: Workspace) -> Iterator[None]:
        with small_tmpfs(workspace.root / "disk", "size=4m") as disk:
            workspace.out_dir = disk / "runs"
            self.ballast = disk / "ballast"
            hook_file(workspace.monkeypatch, self.file, lambda: fill_to_the_last_byte(self.ballast))
            yield

    def clear(self, workspace: Workspace) -> None:
        self.ballast.unlink(missing_ok=True)


class ReadOnlyOutDir(Fault):
    """out_dir on a read-only mount: refused before Ray starts."""

    needs_root = True

    @contextlib.contextmanager
    def applied(self, workspace: Workspace) -> Iterator[None]:
        with small_tmpfs(workspace.root / "read-only", "size=64k,ro") as mount:
            workspace.out_dir = mount / "runs"
            yield


class FileAsOutDir(Fault):
    """A file stands where out_dir's folder should be."""

    @contextlib.contextmanager
    def applied(self, workspace: Workspace) -> Iterator[None]:
        (workspace.root / "a-file").write_text("not a folder")
        workspace.out_dir = workspace.root / "a-file" / "runs"
        yield


class SilentEndpoint(Fault):
    """The engine's address takes TCP connections (the kernel's backlog) and never answers a byte."""

    @contextlib.contextmanager
    def applied(self, workspace: Workspace) -> Iterator[None]:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            port = listener.getsockname()[1]
            workspace.overrides += [f"engine.base_url=http://127.0.0.1:{port}/v1", "engine.connect_timeout_s=0.5"]
            yield


class KillDriverAt(Fault):
    """The driver, in a process of its own, is killed with SIGKILL: by itself as it starts writing `file`, or
    (`file` None) by the test once its first checkpoint is on disk. Afterwards, none of its Ray processes may remain
    (found by the driver's session id: it starts a session of its own)."""

    def __init__(self, file: str | None):
        self.file = file


    def run(self, workspace: Workspace, argv: list[str]) -> Ran:
        driver = subprocess.Popen([sys.executable, "-m", "tests.faults.driver", self.file or "-", *argv], cwd=REPO,
                                  env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            if self.file is None:
                wait_until(lambda: list((workspace.run_dir / "results.parts").glob("part-*.parquet")), 180,
                           "the driver's first checkpoint")
                os.kill(driver.pid, signal.SIGKILL)
            _, stderr = driver.communicate(timeout=300)
        finally:
            if driver.poll() is None:
                driver.kill()
        assert driver.returncode == -signal.SIGKILL, stderr[-3000:]
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not ray_processes_of(driver.pid), RAY_GONE_S, "the killed driver's Ray to end")
        left = ray_processes_of(driver.pid)
        assert not left, f"{RAY_GONE_S:.0f} s after the driver was killed, its Ray lives on: {left}"
        # What CI makes of a job that ended so (no verdict): ray_eval.ci's own rule.
        return Ran(exit_code_without_verdict(driver.returncode), stderr)


class WorkerNodeLost(Fault):
    """The run on a two-node Ray cluster (ray.cluster_utils.Cluster) whose worker node is removed once the first
    results are on disk (tests/faults/node_loss_run.py, in a process of its own)."""


    def run(self, workspace: Workspace, argv: list[str]) -> Ran:
        report = workspace.root / "node-loss.json"
        driver = subprocess.Popen([sys.executable, "-m", "tests.faults.node_loss_run", str(report), *argv], cwd=REPO,
                                  env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, stderr = driver.communicate(timeout=300)
        finally:
            stop_tree(driver)
        assert driver.returncode == 0, stderr[-3000:]
        outcome = json.loads(report.read_text())
        assert outcome["node_lost"], "the worker node was not removed mid-run"
        return Ran(outcome["exit_code"], stderr)


def stop_tree(process: subprocess.Popen) -> None:
    """Kill what is left of a process this test started and of its children (its Ray cluster), by their ids."""
    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for child in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def ray_processes_of(session: int) -> list[str]:
    """The live processes of a session (the killed driver's Ray), as `pid name` lines."""
    found = []
    for process in psutil.process_iter(["pid", "name", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getsid(process.info["pid"]) == session:
                found.append(f"{process.info['pid']} {process.info['name']}")
    return found
