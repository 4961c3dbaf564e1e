"""Time to verdict: the whole ray-eval command, start-up to exit, against a simulated engine whose ideal is known.

Issue 16's workload: 500 one-image multiple-choice cases (640x480 JPEGs) in the seed article's JSON format, and one
simulated OpenAI-compatible engine with 32 slots answering each request after 0.2 s (ideal: ceil(500/32) x 0.2 s
= 3.2 s). ray-eval runs as a user runs it, as a separate process:

- `local`: `ray-eval run -c CONFIG` with a local Ray it starts itself (the default);
- `address`: `ray-eval run --address ...` to a Ray cluster started beforehand (`ray start --head`, not timed);
- `submit`: `ray-eval ci submit` to that cluster's job API.

For each: the wall time, time to the first request, the request phase (first request to last answer), the finish
(last answer to exit), the most requests in flight and when all slots were first busy, and the CPU seconds of
ray-eval's own processes (the command, its children, and the Ray cluster's processes during the run: Ray's daemons
and workers), apart from the engine's, which runs in a process of its own (engine_process.py).

    .venv/bin/python -m benchmarks.time_to_verdict --modes local address submit --json runs/bench/time_to_verdict.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from PIL import Image, ImageDraw

from benchmarks.common import machine, stop_cluster, write_figures
from benchmarks.cpu_account import CpuAccount
from benchmarks.engine_process import MODEL, EngineProcess, EngineTimeline

REPO = Path(__file__).resolve().parents[1]
MODES = ("local", "address", "submit")


def make_workload(folder: Path, cases: int = 500, seed: int = 0) -> Path:
    """`cases` one-image multiple-choice cases in the seed article's JSON, made once per size and seed and reused."""
    folder = folder.resolve()  # the cases name their images by absolute path: a relative --out doubled it
    suite = folder / f"suite-{cases}-seed{seed}.json"
    if suite.exists():
        return suite
    rng = random.Random(seed)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    test_cases = []
    for index in range(cases):
        path = images / f"case-{index:04d}.jpg"
        _shelf_picture(rng).save(path, "JPEG", quality=90)
        answer = "ABCD"[rng.randrange(4)]
        test_cases.append({
            "id": f"case-{index:04d}", "category": rng.choice(["Shelf", "Kitchen", "Checkout", "Storage"]),
            "image_path": str(path), "test_type": "mcq", "expected_answer": answer,
            "question": "Which shelf row holds the most red boxes?",
            "options": ["A. top row", "B. second row", "C. third row", "D. bottom row"],
        })
    document = {"test_suite": {"name": "time-to-verdict", "version": "1"}, "test_cases": test_cases}
    tmp = suite.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    tmp.rename(suite)  # present means complete
    return suite


def _shelf_picture(rng: random.Random) -> Image.Image:
    """A 640x480 picture of coloured boxes on shelves: real JPEG content, a few tens of KB like a photo's thumbnail."""
    picture = Image.new("RGB", (640, 480), (rng.randrange(160, 230),) * 3)
    draw = ImageDraw.Draw(picture)
    for row in range(4):
        top = 20 + row * 115
        draw.rectangle((10, top + 95, 630, top + 105), fill=(90, 70, 50))
        x = 15
        while x < 600:
            width = rng.randrange(25, 70)
            colour = tuple(rng.randrange(256) for _ in range(3))
            draw.rectangle((x, top + rng.randrange(10, 50), x + width, top + 94), fill=colour, outline=(0, 0, 0))
            x += width + rng.randrange(2, 12)
    for _ in range(2000):  # sensor noise, so the JPEG is not trivially small
        draw.point((rng.randrange(640), rng.randrange(480)), fill=tuple(rng.randrange(256) for _ in range(3)))
    return picture


def write_config(folder: Path, suite: Path, base_url: str, runs_dir: Path, overrides: dict[str, Any]) -> Path:
    """The run's config: the seed suite and the engine at `base_url`; everything else is the default, as a user
    gets it (the engine's capacity too: a plain OpenAI-compatible URL does not say it)."""
    config = {
        "dataset": {"path": str(suite), "root": str(suite.parent)},
        "engine": {"kind": "openai", "base_url": base_url, "model": MODEL},
        "run": {"out_dir": str(runs_dir), "model_label": "time-to-verdict"},
    }
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        config.setdefault(section, {})[name] = value
    path = folder / "config.json"  # JSON is YAML: the config loader reads it
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


@contextlib.contextmanager
def ray_cluster() -> Iterator[RunningCluster]:
    """A running local Ray cluster with its dashboard (the job API), as a user's would be: `ray start --head`, with
    a token of its own (a head started here asks clients for one: ~/.ray holds a token file)."""
    temp_dir = Path("/tmp") / f"ray-ttv-{uuid.uuid4().hex[:6]}"  # Ray's socket paths must stay short
    ray = str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    dashboard = _free_port()
    env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
           # as with the virtualenv active: a job's entrypoint `python` is this interpreter
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
                    f"--ray-client-server-port={_free_port()}", "--disable-usage-stats", f"--temp-dir={temp_dir}",
                    "--include-dashboard=true"], check=True, capture_output=True, env={**os.environ, **env})
    try:
        yield RunningCluster(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard}", env)
    finally:
        stop_cluster(temp_dir, port)  # its own processes: other Ray clusters on the machine live on


@dataclass(frozen=True)
class RunningCluster:
    gcs_address: str
    dashboard_url: str
    env: dict[str, str]  # what a client of the cluster needs in its environment


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(mode: str, suite: Path, work_dir: Path, slots: int, latency_s: float, overrides: dict[str, Any],
            cluster: RunningCluster | None, account: CpuAccount, ray_eval_path: Path | None = None) -> dict[str, Any]:
    """One run of ray-eval in `mode` against a fresh simulated engine: its figures. `account` counts the CPU of
    what this process starts (the cluster's processes included), the engine's left out."""
    run_id = f"ttv-{mode}-{uuid.uuid4().hex[:8]}"
    runs_dir = work_dir / "runs"
    repo = ray_eval_path or REPO
    with EngineProcess(slots, latency_s, work_dir / "engine") as engine:
        account.leave_out(engine.pid)
        config = write_config(work_dir, suite, engine.base_url, runs_dir, overrides)
        env = {**os.environ, **(cluster.env if cluster and mode != "local" else {}), "PYTHONPATH": str(repo)}
        with _command(mode, config, run_id, cluster, work_dir, repo) as command:
            before = account.seconds()
            started = time.time()
            completed = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False, env=env)
            ended = time.time()
        account.settle()
        cpu_s = account.seconds() - before
        timeline = engine.stop()
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"{mode}: exit {completed.returncode}\n{completed.stdout[-3000:]}\n"
                           f"{completed.stderr[-3000:]}")
    run_dir = _run_dir(mode, runs_dir, work_dir, run_id)
    results = pq.read_table(run_dir / "results.parquet", columns=["status", "answered_at"]).to_pylist()
    return {**figures(mode, started, ended, timeline, results, cpu_s, slots, latency_s),
            "cpu_counted_by": account.method}


@contextlib.contextmanager
def _command(mode: str, config: Path, run_id: str, cluster: RunningCluster | None, work_dir: Path,
             repo: Path) -> Iterator[list[str]]:
    cli = [sys.executable, "-m", "ray_eval.cli"]
    if mode == "local":
        yield [*cli, "run", "-c", str(config), "--set", f"run.run_id={run_id}"]
        return
    assert cluster is not None
    if mode == "address":
        yield [*cli, "run", "-c", str(config), "--set", f"run.run_id={run_id}", "--address", cluster.gcs_address]
        return
    # ci submit sends the checkout as the job's working directory: the config must be a file inside it, in a folder
    # Ray uploads (runs/ is git-ignored, and so not uploaded); removed once the command has ended.
    inside = repo / "configs" / f".{run_id}.json"
    inside.write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    try:
        yield [*cli, "ci", "submit", "-c", str(inside.relative_to(repo)), "--address", cluster.dashboard_url,
               "--submission-id", run_id, "--out", str(work_dir / "ci-out")]
    finally:
        inside.unlink(missing_ok=True)


def _run_dir(mode: str, runs_dir: Path, work_dir: Path, run_id: str) -> Path:
    """The run's directory (the cluster is this machine: it wrote there); for `submit`, only once ci submit has
    fetched the verdict and reports, which is what it is timed for."""
    if mode == "submit" and not (work_dir / "ci-out" / run_id / "verdict.json").is_file():
        raise RuntimeError(f"ci submit fetched no verdict for {run_id}")
    return runs_dir / run_id


def figures(mode: str, started: float, ended: float, engine: EngineTimeline, results: list[dict[str, Any]],
            cpu_s: float, slots: int, latency_s: float) -> dict[str, Any]:
    """The run's figures: phases from the engine's timeline, answers per second from the results' answered_at."""
    samples = len(results)
    ideal_s = math.ceil(samples / slots) * latency_s
    first = engine.first_request_at
    answered = sorted(row["answered_at"] for row in results if row["answered_at"] is not None)
    last = answered[-1] if answered else None
    busy = engine.all_slots_busy_at()
    wall = ended - started
    per_second = [0] * (math.ceil(wall) + 1)
    for at in answered:
        per_second[max(0, min(len(per_second) - 1, int(at - started)))] += 1
    return {
        "mode": mode, "samples": samples, "ok": sum(row["status"] == "ok" for row in results),
        "ideal_s": ideal_s, "wall_s": round(wall, 2), "wall_ratio_to_ideal": round(wall / ideal_s, 2),
        "to_first_request_s": round(first - started, 2) if first else None,
        "request_phase_s": round(last - first, 2) if first and last else None,
        "request_phase_ratio_to_ideal": round((last - first) / ideal_s, 2) if first and last else None,
        "finish_s": round(ended - last, 2) if last else None,
        "peak_in_flight": engine.max_concurrent,
        "all_slots_busy_after_s": round(busy - first, 2) if busy and first else None,
        "cpu_s": round(cpu_s, 1), "cpu_ms_per_sample": round(1000 * cpu_s / max(1, samples), 1),
        "engine_cpu_s": round(engine.cpu_s, 1),
        "answers_per_second": per_second,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--repeat", type=int, default=1, help="Runs of each mode.")
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--slots", type=int, default=32)
    parser.add_argument("--latency-s", type=float, default=0.2)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=JSON",
                        help="A config value for ray-eval's run (JSON value), e.g. ray.num_cpus=8.")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "time-to-verdict")
    parser.add_argument("--ray-eval-path", type=Path,
                        help="Run the ray-eval of this checkout instead (e.g. a worktree of an older commit): the "
                             "figures before and after a change, from the same benchmark.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    overrides = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    suite = make_workload(args.out / "workload", args.cases)
    runs = []

    def run(modes: list[str], cluster: RunningCluster | None) -> None:
        for _ in range(args.repeat):
            for mode in modes:
                result = measure(mode, suite, args.out, args.slots, args.latency_s, overrides, cluster, account,
                                 args.ray_eval_path)
                runs.append(result)
                print(json.dumps({k: v for k, v in result.items() if k != "answers_per_second"}), flush=True)

    with CpuAccount() as account:
        # Local runs while no other Ray runs: a running cluster holds the port a local Ray's dashboard agent
        # defaults to (52365), which that agent then retries six times: the local start was 4 s slower (measured).
        run([mode for mode in args.modes if mode == "local"], None)
        if on_cluster := [mode for mode in args.modes if mode != "local"]:
            with ray_cluster() as cluster:
                run(on_cluster, cluster)
    write_figures(args.json, {"machine": machine(), "overrides": overrides, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
