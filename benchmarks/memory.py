"""Peak memory of the driver and of Ray's worker processes, for a small and a large run of the same job.

The dataset of N samples repeats the synthetic set's first 200 samples (their images, multi-image pairs and videos)
under new ids, so the large run differs from the small one only in its number of rows. The engine is the simulated
one of benchmarks.simulated_engine (fast answers, 64 slots), in a process of its own: memory is what is measured,
not speed. A sampler thread reads, every `--interval-s`, the memory of this process (the driver) and the sum over
Ray's task and actor processes (`ray::*`), and keeps the peaks: resident (RSS), and unique (USS: not counting
pages shared with other processes, such as Ray's object store, which every process that reads a block maps).

    .venv/bin/python -m benchmarks.memory --sizes 1000 50000 --json runs/bench/memory.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import dataset_for, machine, write_figures
from benchmarks.simulated_engine import simulated_engine
from ray_eval.config import load_config
from ray_eval.runs.run import run_evaluation

MIB = 2**20
POOL = 200  # distinct synthetic samples the large datasets repeat


class PeakSampler(threading.Thread):
    """Polls the driver's and Ray's worker processes' memory until stopped; keeps each peak (bytes)."""

    def __init__(self, interval_s: float):
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.stopped = threading.Event()
        self.peaks = {"driver_rss": 0, "driver_uss": 0, "workers_rss": 0, "workers_uss": 0, "largest_worker_uss": 0}
        self.workers_at_peak = 0

    def run(self) -> None:
        driver = psutil.Process()
        while not self.stopped.wait(self.interval_s):
            memory = driver.memory_full_info()
            self._keep("driver_rss", memory.rss)
            self._keep("driver_uss", memory.uss)
            rss, uss = [], []
            for process in psutil.process_iter(["name"]):
                if not (process.info["name"] or "").startswith("ray::"):
                    continue
                with contextlib.suppress(psutil.Error):  # a worker may end between listing and reading
                    memory = process.memory_full_info()
                    rss.append(memory.rss)
                    uss.append(memory.uss)
            self._keep("workers_rss", sum(rss))
            if sum(uss) > self.peaks["workers_uss"]:
                self.workers_at_peak = len(uss)
            self._keep("workers_uss", sum(uss))
            self._keep("largest_worker_uss", max(uss, default=0))

    def _keep(self, name: str, value: int) -> None:
        self.peaks[name] = max(self.peaks[name], value)


def repeated_manifest(samples: int, out_dir: Path, pool_size: int = POOL) -> Path:
    """A manifest of `samples` rows: the pool's rows over and over, each with its own id (same media files)."""
    pool = dataset_for(pool_size, out_dir)
    rows = [json.loads(line) for line in pool.read_text().splitlines() if line.strip()]
    path = pool.parent / f"manifest-x{samples}.jsonl"
    if not path.exists():
        with path.open("w") as handle:
            for index in range(samples):
                row = dict(rows[index % len(rows)])
                row["id"] = f"{row['id']}-{index // len(rows)}"
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _serve_engine(urls: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    with simulated_engine(latency_s=0.05, slots=64) as server:
        urls.put(server.base_url)
        stop.wait()


@contextlib.contextmanager
def engine_process() -> Iterator[str]:
    """The simulated engine in a process of its own: its request parsing must not count as the driver's memory
    (its threads' allocations fragment the heap of whatever process hosts it)."""
    context = multiprocessing.get_context("spawn")
    urls, stop = context.Queue(), context.Event()
    process = context.Process(target=_serve_engine, args=(urls, stop), daemon=True)
    process.start()
    try:
        yield urls.get(timeout=120)
    finally:
        stop.set()
        process.join(timeout=30)
        if process.is_alive():
            process.kill()  # our own child, by its handle


def measure(samples: int, out_dir: Path, interval_s: float, pool_size: int = POOL) -> dict[str, Any]:
    manifest = repeated_manifest(samples, out_dir, pool_size)
    sampler = PeakSampler(interval_s)
    with engine_process() as base_url:
        config = load_config(None, [
            f"dataset.path={manifest}", "engine.kind=openai", f"engine.base_url={base_url}",
            "engine.model=simulated-engine", "inference.engine_capacity=64", "ray.num_cpus=8",
            f"run.out_dir={out_dir / 'runs'}", f"run.run_id=memory-{samples}-{time.strftime('%Y%m%dT%H%M%S')}",
        ])
        sampler.start()
        started = time.monotonic()
        try:
            outcome = run_evaluation(config)
        finally:
            sampler.stopped.set()
            sampler.join()
    return {"samples": samples, "exit_code": outcome.exit_code, "wall_s": round(time.monotonic() - started, 1),
            **{f"{name}_mib": round(value / MIB) for name, value in sampler.peaks.items()},
            "worker_processes_at_peak": sampler.workers_at_peak,
            "results_file_bytes": (Path(outcome.run_dir) / "results.parquet").stat().st_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 50000])
    parser.add_argument("--interval-s", type=float, default=0.5)
    parser.add_argument("--pool", type=int, default=POOL, help=f"distinct samples repeated ({POOL})")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    runs = [measure(samples, args.out, args.interval_s, args.pool) for samples in args.sizes]
    result = {"runs": runs, "machine": machine(),
              "ratios": {name: runs[-1][f"{name}_mib"] / runs[0][f"{name}_mib"]
                         for name in ("driver_rss", "driver_uss", "workers_rss", "workers_uss")}}
    print(json.dumps(result, indent=2))
    write_figures(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
