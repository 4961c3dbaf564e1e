"""What the benchmarks share: the synthetic dataset, chat requests built by ray-eval's own preprocessing, the
one-request-at-a-time client of the seed article, and a description of the machine."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from ray_eval.config import PreprocessConfig, SamplingConfig
from ray_eval.data.dataset import iter_raw_rows, scan_dataset
from ray_eval.demo.synth import synthesize
from ray_eval.pipeline.preprocess import PreprocessStage
from ray_eval.records import sample_row


def dataset_for(samples: int, out_dir: Path) -> Path:
    """The manifest of `samples` synthesized samples (seed 0), made once per size and reused: it is deterministic,
    and drawing thousands of images and videos takes longer than the benchmark."""
    folder = out_dir / f"data-n{samples}"
    manifest = folder / "manifest.jsonl"
    if not manifest.exists():  # synthesize() renames the manifest into place last: present means complete
        synthesize(folder, samples, seed=0, overwrite=True)
    return manifest


def chat_bodies(manifest: Path, count: int, preprocess: PreprocessConfig, sampling: SamplingConfig,
                model: str) -> list[dict[str, Any]]:
    """The first `count` samples' chat requests, as ray-eval's preprocessing and engine client build them."""
    scan = scan_dataset(manifest)
    stage = PreprocessStage(preprocess)
    bodies: list[dict[str, Any]] = []
    for raw in iter_raw_rows(scan.reader, scan.chunks):
        prepared = stage.prepare(sample_row(scan.reader.to_sample(raw), scan.suite, scan.path.name, raw.row_number))
        if prepared["status"] != "ok":
            raise RuntimeError(f"sample {prepared['sample_id']} could not be prepared: {prepared['error']}")
        bodies.append({
            "model": model, "messages": json.loads(prepared["messages_json"]), "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature, "top_p": sampling.top_p, "seed": sampling.seed,
            **json.loads(prepared["request_json"] or "{}"),
        })
        if len(bodies) >= count:
            break
    return bodies


def sequential_rate(base_url: str, bodies: list[dict[str, Any]], budget_s: float) -> dict[str, Any]:
    """The seed article's client: a plain loop posting one chat request at a time, the next sent when the last
    answer is in; it stops after `budget_s` (its rate is clear by then)."""
    with httpx.Client(base_url=base_url, timeout=120.0) as client:
        sent = 0
        started = time.monotonic()
        for body in bodies:
            response = client.post("/chat/completions", json=body)
            response.raise_for_status()
            sent += 1
            if time.monotonic() - started > budget_s:
                break
        took = time.monotonic() - started
    return {"sequential_requests": sent, "sequential_s": took, "sequential_samples_per_s": sent / took}


def write_figures(path: Path | None, result: dict[str, Any]) -> None:
    """Every figure of a benchmark run as JSON at `path` (the commands' --json); nothing when None."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def machine() -> dict[str, Any]:
    """Where the figures come from: they only compare within one machine."""
    import ray

    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
            "ray": ray.__version__}


# Where the CPU goes, by process: name fragments (Ray names its workers `ray::<task or actor>`), first match wins.
CPU_GROUPS = (
    ("engine (vLLM)", ("VLLM", "LLMServer")),
    ("Serve proxy and ingress", ("ProxyActor", "ServeReplica", "ServeController")),
    ("ray-eval pipeline (Ray Data tasks and actors)", ("MapWorker", "MapBatches", "ReadShopBench", "ray::IDLE",
                                                       "Preprocess", "Inference", "Scoring")),
    ("Ray itself (GCS, raylet, agents)", ("gcs_server", "raylet", "ray::", "dashboard", "monitor.py",
                                          "log_monitor", "runtime_env")),
)


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """Each process's group and the CPU seconds (user + system) it has used so far."""
    import psutil

    snapshot: dict[int, tuple[str, float]] = {}
    for process in psutil.process_iter(["pid", "name", "cmdline", "cpu_times"]):
        info = process.info
        if info["cpu_times"] is None:
            continue
        label = " ".join([info["name"] or "", *(info["cmdline"] or [])[:3]])
        group = ("driver (benchmark client and ray-eval driver)" if info["pid"] == os.getpid() else
                 next((name for name, parts in CPU_GROUPS if any(part in label for part in parts)), "other"))
        snapshot[info["pid"]] = (group, info["cpu_times"].user + info["cpu_times"].system)
    return snapshot


def cpu_by_group(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per group between two snapshots (processes that ended in between are not counted)."""
    used: dict[str, float] = {}
    for pid, (group, seconds) in after.items():
        used[group] = used.get(group, 0.0) + seconds - before.get(pid, (group, 0.0))[1]
    return {group: round(seconds, 1) for group, seconds in sorted(used.items(), key=lambda item: -item[1])}


def stop_cluster(temp_dir: Path, gcs_port: int, grace_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL, to the processes that name `temp_dir` or the GCS's port (`--address=HOST:PORT`) in
    their command line, and their children; then remove the dir. The head's Ray Client server names only the GCS's
    address, with the host's own IP whatever --node-ip-address said (Ray 2.60)."""
    me = psutil.Process()
    spare = {me.pid, *(parent.pid for parent in me.parents())}  # a caller whose command line names the dir
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if process.pid not in spare and any(_names_cluster(part, temp_dir, gcs_port)
                                                for part in process.info["cmdline"] or ()):
                found[process.pid] = process
                found.update({child.pid: child for child in process.children(recursive=True)})
    for process in found.values():
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(list(found.values()), timeout=grace_s)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    shutil.rmtree(temp_dir, ignore_errors=True)


def _names_cluster(argument: str, temp_dir: Path, gcs_port: int) -> bool:
    return str(temp_dir) in argument or (argument.startswith("--address=") and argument.endswith(f":{gcs_port}"))
