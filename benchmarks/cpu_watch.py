"""Where a run's CPU goes over time: a thread that reads, once a second, the CPU seconds of every process this one
started (directly or not; the benchmark is their subreaper, time_to_verdict.py) and how busy the whole machine is.

From the readings: the CPU of ray-eval's processes within any window (a run's request phase), how many cores they
kept busy, the machine's busy share (other users' processes included: the machine is shared) and each process's
part, by name. A process that ends between two readings loses its last second: the run's total CPU is counted
exactly elsewhere (time_to_verdict's snapshots, which include reaped processes).
"""

from __future__ import annotations

import bisect
import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil


@dataclass
class Reading:
    at: float  # time.time()
    by_process: dict[int, tuple[str, float]]  # pid -> (name, CPU seconds so far)
    machine_busy: float  # share of all the machine's cores busy since the last reading, 0..1
    load_1m: float


@dataclass
class CpuWatch:
    """Start with `with CpuWatch(exclude={engine_pid}) as watch:`; read the figures after."""

    exclude: set[int]
    interval_s: float = 1.0
    readings: list[Reading] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-watch", daemon=True)

    def __enter__(self) -> CpuWatch:
        psutil.cpu_percent()  # the first call starts psutil's machine-wide interval
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            self.readings.append(self._read())
            if self._stop.wait(self.interval_s):
                self.readings.append(self._read())
                return

    def _read(self) -> Reading:
        by_process: dict[int, tuple[str, float]] = {}
        for child in psutil.Process().children(recursive=True):
            if child.pid in self.exclude:
                continue
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                by_process[child.pid] = (process_name(child), times.user + times.system)
        return Reading(time.time(), by_process, psutil.cpu_percent() / 100, os.getloadavg()[0])

    def window(self, start: float, end: float) -> CpuWindow:
        """The figures between two times: the rates between the readings that bracket the window (the last at or
        before `start`, the first at or after `end`), times the window's length. A process that ended in between is
        counted up to its last reading (a run's Ray workers end within a second of its last answer: counting only
        the processes alive at the bracketing reading lost them all); one that started in between counts from zero."""
        times = [reading.at for reading in self.readings]
        first = self.readings[max(0, bisect.bisect_right(times, start) - 1)]
        last = self.readings[min(len(times) - 1, bisect.bisect_left(times, end))]
        inside = [reading for reading in self.readings if first.at <= reading.at <= last.at]
        scale = (end - start) / max(last.at - first.at, 1e-9)
        latest: dict[int, tuple[str, float]] = {}
        for reading in inside:
            latest.update(reading.by_process)
        by_name: dict[str, float] = {}
        for pid, (name, seconds) in latest.items():
            before = first.by_process.get(pid, (name, 0.0))[1]
            by_name[name] = by_name.get(name, 0.0) + scale * (seconds - before)
        busy = [reading.machine_busy for reading in inside[1:]] or [first.machine_busy]
        cpu_s = sum(by_name.values())
        return CpuWindow(start=start, end=end, cpu_s=cpu_s, cores_busy=cpu_s / max(end - start, 1e-9),
                         machine_busy=sum(busy) / len(busy), load_1m_max=max(r.load_1m for r in inside),
                         by_process={name: round(s, 1) for name, s in sorted(by_name.items(), key=lambda i: -i[1])})


@dataclass
class CpuWindow:
    start: float
    end: float
    cpu_s: float  # ray-eval's processes (those live at the window's end)
    cores_busy: float  # their CPU seconds per second
    machine_busy: float  # the whole machine, every user's processes, 0..1 of all its cores
    load_1m_max: float
    by_process: dict[str, float]  # CPU seconds by process name, most first


def process_name(process: psutil.Process) -> str:
    """A name that says which part of the run a process is: Ray's workers title themselves `ray::<actor or task>`,
    a Python program is named by its module or script, anything else by its executable."""
    command = process.cmdline()
    if not command:
        return process.name()
    if command[0].startswith("ray::"):
        return command[0].split(" ")[0]
    if Path(command[0]).name.startswith("python"):
        rest = command[1:]
        if rest[:1] == ["-m"] and len(rest) > 1:
            return f"python -m {rest[1]}"
        return f"python {Path(rest[0]).name}" if rest else "python"
    return Path(command[0]).name
