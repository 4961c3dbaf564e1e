"""ray-eval against a simulated engine whose ideal time is known exactly, beside a one-request-at-a-time client.

The engine is a ScriptedOpenAIServer with `slots` batch slots that answers every request after `latency_s`: it can
finish at most `slots` requests per `latency_s`, so N samples need at least ceil(N / slots) * latency_s of engine
time. How close ray-eval gets to that, measured on the server (first request taken up to last reply sent), says
whether it keeps the engine saturated. The sequential client is the seed article's approach: a plain loop posting
one chat request at a time with httpx.Client, to a server of the same slots and latency.

    .venv/bin/python -m benchmarks.simulated_engine --samples 2000 --latency-s 0.5 --slots 32 \
        --json runs/bench/simulated_engine.json

Everything (Ray, the pipeline, the server) shares this machine's cores: the figures are for the machine they ran on.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from benchmarks.common import chat_bodies, dataset_for, machine, sequential_rate, write_figures
from ray_eval.config import InferenceConfig, PreprocessConfig, load_config
from ray_eval.pipeline.sizing import size_inference
from ray_eval.runs.layout import RunLayout
from ray_eval.runs.run import run_evaluation
from ray_eval.testing import ChatRequestInfo, Reply, ScriptedOpenAIServer

log = logging.getLogger("benchmarks.simulated_engine")

MODEL = "simulated-engine"
ANSWER = "A"  # every request gets the same short answer: the benchmark measures throughput, not scores
SEQUENTIAL_REQUESTS = 40  # the sequential client is slow by design: a subset is enough for its rate
SEQUENTIAL_BUDGET_S = 60.0  # ... and it stops early rather than take minutes
# Logical CPUs of the local Ray the benchmark starts. Inference actors mostly wait on the network but each holds
# 0.25 CPU, and each read and preprocessing task a whole one: with only the 2 real cores counted, the actors leave
# room for one preprocessing task at a time and the engine starves (0.44 x ideal measured) while the cores idle.
RAY_NUM_CPUS = 8


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a markdown table, optionally write the figures as JSON."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown the progress lines
    result = run_benchmark(args.samples, args.latency_s, args.slots, args.out, actors=args.actors,
                           in_flight_per_actor=args.in_flight_per_actor, batch_size=args.batch_size,
                           ray_num_cpus=args.ray_num_cpus, overrides=args.set,
                           sequential_requests=args.sequential_requests)
    print(markdown_table(result))
    write_figures(args.json, result)
    if args.json is not None:
        print(f"\nwrote {args.json}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulated_engine", description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2000, help="samples to evaluate (default 2000)")
    parser.add_argument("--latency-s", type=float, default=0.5, help="seconds the engine takes per request (0.5)")
    parser.add_argument("--slots", type=int, default=32, help="requests the engine answers at once (32)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"), help="folder for data and runs (runs/bench)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--actors", type=int, default=None, help="inference.actors (default: see run_benchmark)")
    parser.add_argument("--in-flight-per-actor", type=int, default=None, help="inference.max_in_flight_per_actor")
    parser.add_argument("--batch-size", type=int, default=None, help="inference.batch_size")
    parser.add_argument("--ray-num-cpus", type=int, default=RAY_NUM_CPUS,
                        help=f"logical CPUs of the local Ray the run starts (default {RAY_NUM_CPUS})")
    parser.add_argument("--sequential-requests", type=int, default=SEQUENTIAL_REQUESTS,
                        help="requests the sequential client sends "
                             f"(at most the samples; default {SEQUENTIAL_REQUESTS})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any other ray-eval config override, e.g. --set ray.num_cpus=4 (repeatable)")
    return parser


def run_benchmark(samples: int, latency_s: float, slots: int, out_dir: Path, *, actors: int | None = None,
                  in_flight_per_actor: int | None = None, batch_size: int | None = None,
                  ray_num_cpus: int = RAY_NUM_CPUS, overrides: list[str] = (),
                  sequential_requests: int = SEQUENTIAL_REQUESTS) -> dict[str, Any]:
    """Both measurements and their ratios, as one flat dict (what the JSON file holds).

    Inference settings left None are derived from `slots` (see inference_settings). `ray_num_cpus` applies only
    when the run starts its own local Ray (a caller that already called ray.init keeps its own); `overrides`
    (`key=value`, as `ray-eval run --set`) come last and win.
    """
    if samples < 1 or slots < 1 or latency_s <= 0:
        raise ValueError("samples and slots must be at least 1 and latency_s above 0")
    given = {"actors": actors, "max_in_flight_per_actor": in_flight_per_actor, "batch_size": batch_size}
    knobs = [f"inference.{name}={value}" for name, value in given.items() if value is not None]
    settings = inference_settings(slots, [*knobs, *overrides])
    out_dir = Path(out_dir)
    synth_started = time.monotonic()
    manifest = dataset_for(samples, out_dir)
    synth_s = time.monotonic() - synth_started
    ideal_s = math.ceil(samples / slots) * latency_s
    result: dict[str, Any] = {
        "samples": samples, "latency_s": latency_s, "slots": slots, **settings, "ray_num_cpus": ray_num_cpus,
        "overrides": list(overrides), "machine": machine(), "synth_s": round(synth_s, 2),
        "ideal_s": ideal_s, "ideal_samples_per_s": samples / ideal_s,
    }
    ray_eval_overrides = [f"ray.num_cpus={ray_num_cpus}", *overrides]
    result |= measure_ray_eval(manifest, latency_s, slots, [*knobs, *ray_eval_overrides], out_dir / "runs")
    result |= measure_sequential(manifest, latency_s, slots, min(samples, sequential_requests))
    result["ratio_to_ideal"] = ideal_s / result["busy_s"]
    result["end_to_end_ratio_to_ideal"] = ideal_s / result["wall_s"]
    result["speedup_busy_vs_sequential"] = result["busy_samples_per_s"] / result["sequential_samples_per_s"]
    result["speedup_end_to_end_vs_sequential"] = result["end_to_end_samples_per_s"] / result["sequential_samples_per_s"]
    return result


def inference_settings(slots: int, knobs: list[str]) -> dict[str, int]:
    """The inference sizes the run uses: ray-eval's own, from `inference.engine_capacity` = slots
    (ray_eval.pipeline.sizing), with `knobs` (config overrides) applied as the run applies them."""
    config = load_config(None, ["dataset.path=unused.jsonl", "engine.kind=openai", "engine.base_url=http://x/v1",
                                f"engine.model={MODEL}", *knobs])
    sizing = size_inference(config.inference, slots, "inference.engine_capacity")
    return {"actors": sizing.actors, "in_flight_per_actor": sizing.max_in_flight_per_actor,
            "batch_size": sizing.batch_size}


def simulated_engine(latency_s: float, slots: int) -> ScriptedOpenAIServer:
    """An engine stand-in: `slots` requests answered at once, each after `latency_s`; no request log kept."""
    def answer(info: ChatRequestInfo) -> Reply:
        return Reply.text(ANSWER, delay_s=latency_s)

    return ScriptedOpenAIServer(default=answer, model=MODEL, record_requests=False, slots=slots)


def measure_ray_eval(manifest: Path, latency_s: float, slots: int, overrides: list[str],
                     runs_dir: Path) -> dict[str, Any]:
    """One ray-eval run against the simulated engine: the server's busy window and the run's wall time."""
    with simulated_engine(latency_s, slots) as server:
        config = load_config(None, [
            f"dataset.path={manifest}",
            "engine.kind=openai", f"engine.base_url={server.base_url}", f"engine.model={MODEL}",
            f"inference.engine_capacity={slots}",
            f"run.out_dir={runs_dir}", f"run.run_id=simulated-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}",
            *overrides,
        ])
        started = time.monotonic()
        outcome = run_evaluation(config)
        wall_s = time.monotonic() - started
        first, last, max_concurrent = server.first_request_at, server.last_reply_at, server.max_concurrent
    if first is None or last is None:
        raise RuntimeError(f"ray-eval sent no request to the simulated engine (run {outcome.run_dir})")
    results = pq.read_table(RunLayout(outcome.run_dir).results.merged, columns=["status", "attempts"]).to_pylist()
    done = len(results)
    busy_s = last - first
    return {
        "run_dir": str(outcome.run_dir), "exit_code": outcome.exit_code,
        "result_rows": done, "ok_rows": sum(row["status"] == "ok" for row in results),
        "engine_requests": sum(row["attempts"] or 0 for row in results),
        "max_concurrent": max_concurrent,
        "busy_s": busy_s, "wall_s": wall_s, "startup_s": first - started, "shutdown_s": started + wall_s - last,
        "busy_samples_per_s": done / busy_s, "end_to_end_samples_per_s": done / wall_s,
    }


def measure_sequential(manifest: Path, latency_s: float, slots: int, requests: int) -> dict[str, Any]:
    """The seed article's client against a simulated engine of the same slots and latency (common.sequential_rate).

    Its request bodies are built beforehand by ray-eval's own preprocessing (images resized and inlined), and that
    time is not counted: the figure is the best such a loop can do, so ray-eval's lead over it is not overstated.
    """
    bodies = chat_bodies(manifest, requests, PreprocessConfig(), InferenceConfig().sampling, MODEL)
    with simulated_engine(latency_s, slots) as server:
        return sequential_rate(server.base_url, bodies, SEQUENTIAL_BUDGET_S)


ROWS = [
    ("samples (N) / engine slots (S) / latency per request", lambda r: f"{r['samples']} / {r['slots']} / "
                                                                         f"{r['latency_s']:g} s"),
    ("ray-eval settings", lambda r: f"inference.actors={r['actors']}, max_in_flight_per_actor="
                                    f"{r['in_flight_per_actor']}, batch_size={r['batch_size']}; ray.num_cpus="
                                    f"{r['ray_num_cpus']}" + "".join(f", {o}" for o in r["overrides"])),
    ("ideal: ceil(N/S) x latency", lambda r: f"{r['ideal_s']:.1f} s = {r['ideal_samples_per_s']:.1f} samples/s"),
    ("ray-eval, engine busy window", lambda r: f"{r['busy_s']:.1f} s = {r['busy_samples_per_s']:.1f} samples/s"),
    ("ray-eval, end to end (Ray start to reports written)",
     lambda r: f"{r['wall_s']:.1f} s = {r['end_to_end_samples_per_s']:.1f} samples/s"),
    ("ratio to ideal (busy window / end to end)",
     lambda r: f"{r['ratio_to_ideal']:.2f} / {r['end_to_end_ratio_to_ideal']:.2f}"),
    ("most requests in the engine at once", lambda r: f"{r['max_concurrent']} of {r['slots']} slots"),
    ("result rows / ok / engine requests", lambda r: f"{r['result_rows']} / {r['ok_rows']} / {r['engine_requests']}"),
    ("sequential client (one request at a time)",
     lambda r: f"{r['sequential_requests']} requests in {r['sequential_s']:.1f} s = "
               f"{r['sequential_samples_per_s']:.2f} samples/s"),
    ("ray-eval / sequential (busy window / end to end)",
     lambda r: f"{r['speedup_busy_vs_sequential']:.1f} x / {r['speedup_end_to_end_vs_sequential']:.1f} x"),
]


def markdown_table(result: dict[str, Any]) -> str:
    """The figures as a two-column markdown table (what BENCHMARKS.md shows)."""
    lines = ["| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value(result)} |" for name, value in ROWS]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
