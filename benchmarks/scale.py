"""Scale: a ShopBench-size run against a simulated engine the size of eight H100 replicas, what limits it, and the
cores ray-eval needs per GPU replica.

One `ray-eval run` (a subprocess, its own local Ray, the default config but `inference.engine_capacity` = the
engine's slots) over the synthetic ShopBench set (images, multi-image, video in ShopBench's mix) against the
simulated engine in a process of its own (engine_process.py), whose latency is drawn per request from a lognormal
distribution (engine_process.LOGNORMAL_8B_H100: an assumption, stated there). Figures: wall time, request phase,
answers per second against the engine's ideal, peak in flight, the CPU of ray-eval's processes (all of them, as
time_to_verdict.py counts it) and per sample, cores busy and CPU by process during the request phase (cpu_watch.py).

CPU per sample by media kind: each kind's preprocessing profiled in this process (thread CPU time of
PreprocessStage.prepare on samples of that kind), plus the run's other CPU per sample (its request-phase CPU per
sample less the mix's preprocessing: the client, Ray Data, scoring, the driver), which does not depend on the kind.
From those, the cores a run needs to keep a GPU replica busy at a given rate (cores = samples/s x CPU s/sample).

    .venv/bin/python -m benchmarks.scale --samples 5818 --slots 512 --json runs/bench/scale.json
    .venv/bin/python -m benchmarks.scale --two-node-check
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.common import dataset_for, machine, write_figures
from benchmarks.cpu_account import CpuAccount
from benchmarks.cpu_watch import CpuWatch
from benchmarks.engine_process import LOGNORMAL_8B_H100, EngineProcess, Latency
from benchmarks.time_to_verdict import REPO, write_config
from benchmarks.two_node import two_node_check
from ray_eval.config import PreprocessConfig
from ray_eval.data.dataset import iter_raw_rows, scan_dataset
from ray_eval.pipeline.preprocess import PreprocessStage
from ray_eval.records import sample_row

REPLICA_SLOTS = 64  # sequences one H100 replica of an 8B VLM keeps in flight (the engine's slots per replica)
REPLICA_RATES = (20, 50, 100)  # samples/s one GPU replica might answer, for the cores table
REPLICAS = 8
KINDS = ("single", "multi", "video")  # InputType values, in the table's order
KIND_LABELS = {"single": "one image", "multi": "multi-image", "video": "video"}
MIX_PHOTO_MP = 2  # the photo size of the cores table's "ShopBench at photo sizes" row (a phone photo, downsized)


@dataclass
class KindCost:
    kind: str
    share: float  # of the run's samples
    profiled: int  # samples of this kind whose preprocessing was timed
    preprocess_ms: float  # CPU per sample, in this process
    total_ms: float  # preprocess_ms + the run's other CPU per sample


@dataclass
class ScaleFigures:
    samples: int
    slots: int
    latency: str
    sizing: str  # the run's own log line: actors, requests in flight, batches
    exit_code: int
    rows: int
    ok_rows: int
    wall_s: float
    to_first_request_s: float
    request_phase_s: float  # first request taken to last answer back
    finish_s: float  # last answer to the command's exit
    ideal_s: float  # the engine's least time for the latencies it drew (EngineTimeline.ideal_s)
    ideal_rate: float  # samples/s at that ideal
    busy_rate: float  # answers/s over the request phase
    ratio_to_ideal: float  # busy_rate / ideal_rate
    peak_in_flight: int
    all_slots_busy_after_s: float | None
    cpu_s: float  # every process of ray-eval's, start to exit, reaped ones included
    cpu_ms_per_sample: float
    request_phase_cpu_s: float  # live processes during the request phase (cpu_watch)
    request_phase_cpu_ms_per_sample: float
    fixed_cpu_s: float  # cpu_s less the request phase's: start-up and finish, paid once per run
    cores: int
    cores_busy: float  # ray-eval's processes, CPU seconds per second of the request phase
    machine_busy: float  # all the machine's processes (other users' too), 0..1
    load_1m_max: float
    cpu_by_process: dict[str, float]  # request phase, by process name
    engine_cpu_s: float
    cpu_counted_by: str  # cpu_account.py: "cgroup", or a lower bound where no cgroup could be made
    other_ms_per_sample: float  # request-phase CPU per sample besides preprocessing
    kinds: list[KindCost]
    limit: str


def run_scale(samples: int, slots: int, latency: Latency, out_dir: Path, account: CpuAccount,
              profile_per_kind: int = 40, overrides: dict[str, object] | None = None) -> ScaleFigures:
    """One ray-eval run of `samples` synthetic samples against an engine of `slots` slots: its figures. `account`
    counts the CPU of what this process starts (cpu_account.py)."""
    manifest = dataset_for(samples, out_dir)
    run_id = f"scale-{uuid.uuid4().hex[:8]}"
    runs_dir = out_dir / "runs"
    with EngineProcess(slots, latency, out_dir / "engine") as engine:
        config = write_config(out_dir, manifest, engine.base_url, runs_dir,
                              {"inference.engine_capacity": slots, "run.model_label": "scale", **(overrides or {})})
        account.leave_out(engine.pid)
        before = account.seconds()
        started = time.time()
        with CpuWatch(exclude={engine.pid}) as watch:
            completed = subprocess.run([sys.executable, "-m", "ray_eval.cli", "run", "-c", str(config), "--set",
                                        f"run.run_id={run_id}"], cwd=REPO, capture_output=True, text=True, check=False)
            ended = time.time()
        account.settle()
        cpu_s = account.seconds() - before
        timeline = engine.stop()
    (out_dir / f"{run_id}.log").write_text(completed.stdout + completed.stderr, encoding="utf-8")
    if completed.returncode not in (0, 1):  # 1: the gate failed, as it does for an engine that always answers "A"
        raise RuntimeError(f"ray-eval exited {completed.returncode}\n{completed.stderr[-3000:]}")
    results = pq.read_table(runs_dir / run_id / "results.parquet",
                            columns=["status", "answered_at", "input_type"]).to_pylist()
    first = timeline.first_request_at
    last = max(row["answered_at"] for row in results if row["answered_at"] is not None)
    if first is None:
        raise RuntimeError(f"ray-eval sent no request to the simulated engine (run {runs_dir / run_id})")
    phase = watch.window(first, last)
    rows = len(results)
    request_phase_s = last - first
    busy = timeline.all_slots_busy_at()
    ideal_rate = len(timeline.latencies_s) / timeline.ideal_s
    busy_rate = rows / request_phase_s
    phase_ms = 1000 * phase.cpu_s / rows
    kinds = kind_costs(manifest, [row["input_type"] for row in results], phase_ms, profile_per_kind)
    figures = ScaleFigures(
        samples=samples, slots=slots, latency=latency.describe(), sizing=_sizing_line(completed.stderr),
        exit_code=completed.returncode, rows=rows, ok_rows=sum(row["status"] == "ok" for row in results),
        wall_s=ended - started, to_first_request_s=first - started, request_phase_s=request_phase_s,
        finish_s=ended - last, ideal_s=timeline.ideal_s, ideal_rate=ideal_rate, busy_rate=busy_rate,
        ratio_to_ideal=busy_rate / ideal_rate, peak_in_flight=timeline.max_concurrent,
        all_slots_busy_after_s=busy - first if busy else None, cpu_s=cpu_s, cpu_ms_per_sample=1000 * cpu_s / rows,
        request_phase_cpu_s=phase.cpu_s, request_phase_cpu_ms_per_sample=phase_ms, fixed_cpu_s=cpu_s - phase.cpu_s,
        cores=os.cpu_count() or 1, cores_busy=phase.cores_busy, machine_busy=phase.machine_busy,
        load_1m_max=phase.load_1m_max, cpu_by_process=phase.by_process, engine_cpu_s=timeline.cpu_s,
        cpu_counted_by=account.method,
        other_ms_per_sample=phase_ms - sum(k.share * k.preprocess_ms for k in kinds), kinds=kinds, limit="")
    figures.limit = what_limits(figures)
    return figures


def _sizing_line(log: str) -> str:
    match = re.search(r"\d+ inference actor\(s\)[^\n]*", log)
    return match.group(0) if match else "(not in the run's log)"


def kind_costs(manifest: Path, input_types: list[str], phase_ms: float, per_kind: int) -> list[KindCost]:
    """Each media kind's share of the run and its CPU per sample: its preprocessing, timed here on the first
    `per_kind` samples of that kind (thread CPU time, so other processes' load does not count), plus the run's
    request-phase CPU per sample that is not preprocessing."""
    stage = PreprocessStage(PreprocessConfig())
    timed: dict[str, list[float]] = {kind: [] for kind in KINDS}
    scan = scan_dataset(manifest)
    for raw in iter_raw_rows(scan.reader, scan.chunks):
        row = sample_row(scan.reader.to_sample(raw), scan.suite, scan.path.name, raw.row_number)
        spent = timed[row["input_type"]]
        if len(spent) >= per_kind:
            if all(len(times) >= per_kind for times in timed.values()):
                break
            continue
        started = time.thread_time()
        prepared = stage.prepare(row)
        spent.append(time.thread_time() - started)
        if prepared["status"] != "ok":
            raise RuntimeError(f"sample {row['sample_id']} could not be prepared: {prepared['error']}")
    shares = {kind: input_types.count(kind) / len(input_types) for kind in KINDS}
    preprocess = {kind: 1000 * sum(times) / len(times) if times else 0.0 for kind, times in timed.items()}
    other = phase_ms - sum(shares[kind] * preprocess[kind] for kind in KINDS)
    return [KindCost(kind, shares[kind], len(timed[kind]), preprocess[kind], preprocess[kind] + other)
            for kind in KINDS]


def what_limits(f: ScaleFigures) -> str:
    """The run's bottleneck, from its figures, with the evidence."""
    evidence = (f"the engine answered at {f.ratio_to_ideal:.2f} of its ideal rate ({f.busy_rate:.1f} of "
                f"{f.ideal_rate:.1f} samples/s), peak {f.peak_in_flight} of {f.slots} slots in flight; ray-eval's "
                f"processes kept {f.cores_busy:.2f} of {f.cores} cores busy, the machine was "
                f"{100 * f.machine_busy:.0f}% busy (load up to {f.load_1m_max:.1f}, other users included)")
    if f.ratio_to_ideal >= 0.9:
        return f"the engine: {evidence}"
    if f.cores_busy >= 0.8 * f.cores:
        return f"CPU, ray-eval's own: {evidence}"
    if f.machine_busy >= 0.85:
        return f"CPU, shared: the machine's cores were all busy, not all with ray-eval's work: {evidence}"
    return f"neither engine nor CPU (requests in flight, or waits): {evidence}"


def cost_rows(figures: ScaleFigures, media: dict | None = None) -> list[tuple[str, float]]:
    """(label, CPU ms per sample) for the cores table: each kind of the synthetic set, its mix, and with `media`
    (benchmarks/preprocess.py's figures, for photo-size images and a 720p video) the same at those sizes: their
    preprocessing plus the run's other CPU per sample."""
    kinds = figures.kinds
    rows = [(f"{KIND_LABELS[k.kind]} ({100 * k.share:.0f}% of the set)", k.total_ms) for k in kinds]
    rows.append(("synthetic ShopBench mix (640x480 JPEGs, 20-frame 320x240 clips)",
                 sum(k.share * k.total_ms for k in kinds)))
    if media is None:
        return rows
    other = figures.other_ms_per_sample
    for image in media["images"]:
        rows.append((f"one {image['megapixels']} MP photo (preprocess.py)", image["prepare_ms"] + other))
    clip = media["video"]
    rows.append((f"one {clip['frames']}-frame 720p video (preprocess.py)", 1000 * clip["prepare_s"] + other))
    photo = next(image for image in media["images"] if image["megapixels"] == MIX_PHOTO_MP)["prepare_ms"]
    share = {k.kind: k.share for k in kinds}
    rows.append((f"ShopBench mix at {MIX_PHOTO_MP} MP photos (2 per multi-image sample), 720p videos",
                 other + share["single"] * photo + share["multi"] * 2 * photo
                 + share["video"] * 1000 * clip["prepare_s"]))
    return rows


def cores_table(rows: list[tuple[str, float]], rates: tuple[int, ...] = REPLICA_RATES,
                replicas: int = REPLICAS) -> str:
    """Markdown: the cores ray-eval needs to keep GPU replicas busy at each rate (cores = samples/s x CPU s per
    sample), for one replica and for `replicas`."""
    head = " | ".join(f"{rate}/s: 1 replica, {replicas}" for rate in rates)
    lines = [f"| samples | CPU ms per sample | {head} |", "|---|---|" + "---|" * len(rates)]
    for label, ms in rows:
        cells = " | ".join(f"{rate * ms / 1000:.1f}, {replicas * rate * ms / 1000:.1f}" for rate in rates)
        lines.append(f"| {label} | {ms:.1f} | {cells} |")
    return "\n".join(lines)


def report(f: ScaleFigures, media: dict | None = None) -> str:
    lines = [
        f"samples {f.samples} against {f.slots} slots ({f.slots / REPLICA_SLOTS:g} replicas x {REPLICA_SLOTS}), "
        f"latency {f.latency}",
        f"ray-eval: {f.sizing}; exit {f.exit_code}; rows {f.rows}, ok {f.ok_rows}",
        f"wall {f.wall_s:.1f} s = first request after {f.to_first_request_s:.1f} s + request phase "
        f"{f.request_phase_s:.1f} s + finish {f.finish_s:.1f} s",
        f"engine ideal {f.ideal_s:.1f} s ({f.ideal_rate:.1f} samples/s); answers over the request phase "
        f"{f.busy_rate:.1f} samples/s = {f.ratio_to_ideal:.2f} of ideal; peak in flight {f.peak_in_flight}; all "
        f"slots busy after {'never' if f.all_slots_busy_after_s is None else f'{f.all_slots_busy_after_s:.1f} s'}",
        f"CPU of ray-eval's processes {f.cpu_s:.1f} s = {f.cpu_ms_per_sample:.1f} ms per sample overall; request "
        f"phase {f.request_phase_cpu_s:.1f} s = {f.request_phase_cpu_ms_per_sample:.1f} ms per sample; start-up and "
        f"finish {f.fixed_cpu_s:.1f} s; the engine's own {f.engine_cpu_s:.1f} s",
        "request phase CPU by process: " + ", ".join(f"{name} {s:.1f} s" for name, s in f.cpu_by_process.items()
                                                   if s >= 0.5),
        "per kind: " + "; ".join(f"{KIND_LABELS[k.kind]} {100 * k.share:.1f}%: preprocessing {k.preprocess_ms:.1f} ms "
                                 f"({k.profiled} timed) + other {f.other_ms_per_sample:.1f} ms = {k.total_ms:.1f} ms"
                                 for k in f.kinds),
        f"limit: {f.limit}",
        "",
        cores_table(cost_rows(f, media)),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5818, help="synthetic ShopBench samples (ShopBench's 5,818)")
    parser.add_argument("--slots", type=int, default=REPLICAS * REPLICA_SLOTS, help="engine slots (8 x 64)")
    parser.add_argument("--latency-median-s", type=float, default=LOGNORMAL_8B_H100.median_s)
    parser.add_argument("--latency-sigma", type=float, default=LOGNORMAL_8B_H100.sigma)
    parser.add_argument("--latency-seed", type=int, default=0)
    parser.add_argument("--profile-per-kind", type=int, default=40, help="samples of each kind whose preprocessing "
                        "is timed in this process")
    parser.add_argument("--media-costs", type=Path, help="benchmarks.preprocess's --json: adds rows for photo-size "
                        "images and a 720p video to the cores table")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "scale")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--two-node-check", action="store_true",
                        help="instead: run ray-eval on a local two-node Ray cluster and check where its actors ran")
    args = parser.parse_args(argv)
    if args.two_node_check:
        check = two_node_check(args.out / "two-node")
        print(check.describe())
        write_figures(args.json, {"machine": machine(), "two_node_check": asdict(check)})
        return 0 if check.spread else 1
    latency = Latency(args.latency_median_s, args.latency_sigma, args.latency_seed)
    media = json.loads(args.media_costs.read_text(encoding="utf-8")) if args.media_costs else None
    with CpuAccount() as account:
        figures = run_scale(args.samples, args.slots, latency, args.out, account, args.profile_per_kind)
    print(report(figures, media))
    write_figures(args.json, {"machine": machine(), **asdict(figures),
                              "cores_table": cores_table(cost_rows(figures, media))})
    return 0


if __name__ == "__main__":
    sys.exit(main())

