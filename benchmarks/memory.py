"""Peak memory of the driver and of Ray's worker processes, for a small and a large run of the same job.

The dataset of N samples repeats the synthetic set's first 200 samples (their images, multi-image pairs and videos)
under new ids, so the large run differs from the small one only in its number of rows. The engine is the simulated
one of benchmarks.simulated_engine (fast answers, 64 slots): memory is what is measured, not speed. A sampler
thread reads, every `--interval-s`, the resident memory (RSS) of this process (the driver: it also hosts the
simulated engine's threads) and the sum over Ray's task and actor processes (`ray::*`), and keeps the peaks.

    .venv/bin/python -m benchmarks.memory --sizes 1000 50000 --json runs/bench/memory.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import dataset_for, machine
from benchmarks.simulated_engine import simulated_engine
from ray_eval.config import load_config
from ray_eval.run import run_evaluation

MIB = 2**20
POOL = 200  # distinct synthetic samples the large datasets repeat


class PeakSampler(threading.Thread):
    """Polls the driver's and Ray's worker processes' RSS until stopped; keeps each peak."""

    def __init__(self, interval_s: float):
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.stopped = threading.Event()
        self.driver_peak = 0
        self.workers_peak = 0
        self.workers_at_peak = 0
        self.largest_worker = 0

    def run(self) -> None:
        driver = psutil.Process()
        while not self.stopped.wait(self.interval_s):
            self.driver_peak = max(self.driver_peak, driver.memory_info().rss)
            sizes = []
            for process in psutil.process_iter(["name", "memory_info"]):
                if (process.info["name"] or "").startswith("ray::") and process.info["memory_info"] is not None:
                    sizes.append(process.info["memory_info"].rss)
            if sum(sizes) > self.workers_peak:
                self.workers_peak, self.workers_at_peak = sum(sizes), len(sizes)
            self.largest_worker = max([self.largest_worker, *sizes])


def repeated_manifest(samples: int, out_dir: Path) -> Path:
    """A manifest of `samples` rows: the pool's rows over and over, each with its own id (same media files)."""
    pool = dataset_for(POOL, out_dir)
    rows = [json.loads(line) for line in pool.read_text().splitlines() if line.strip()]
    path = pool.parent / f"manifest-x{samples}.jsonl"
    if not path.exists():
        with path.open("w") as handle:
            for index in range(samples):
                row = dict(rows[index % len(rows)])
                row["id"] = f"{row['id']}-{index // len(rows)}"
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def measure(samples: int, out_dir: Path, interval_s: float) -> dict[str, Any]:
    manifest = repeated_manifest(samples, out_dir)
    sampler = PeakSampler(interval_s)
    with simulated_engine(latency_s=0.05, slots=64) as server:
        config = load_config(None, [
            f"dataset.path={manifest}", "engine.kind=openai", f"engine.base_url={server.base_url}",
            "engine.model=simulated-engine", "engine.capacity=64", "ray.num_cpus=8",
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
            "driver_peak_mib": round(sampler.driver_peak / MIB), "workers_peak_mib": round(sampler.workers_peak / MIB),
            "worker_processes_at_peak": sampler.workers_at_peak,
            "largest_worker_mib": round(sampler.largest_worker / MIB),
            "results_file_mib": round((Path(outcome.run_dir) / "results.parquet").stat().st_size / MIB, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 50000])
    parser.add_argument("--interval-s", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    runs = [measure(samples, args.out, args.interval_s) for samples in args.sizes]
    result = {"runs": runs, "machine": machine(),
              "driver_ratio": runs[-1]["driver_peak_mib"] / runs[0]["driver_peak_mib"],
              "workers_ratio": runs[-1]["workers_peak_mib"] / runs[0]["workers_peak_mib"]}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
