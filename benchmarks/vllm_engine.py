"""ray-eval against a real engine, beside vLLM's own benchmark client and a one-request-at-a-time client.

One engine for all three: vLLM (the CPU build here) serving the tiny random-weight Qwen3-VL under Ray Serve, as
serve_configs/cpu-tiny.yaml deploys it, reached over Serve's OpenAI HTTP route. One set of requests for all three:
the first N samples of the synthetic ShopBench set, preprocessed by ray-eval's own PreprocessStage (same images,
same frames, same prompts), answered greedily with the same max_tokens, so every client asks for the same work.

- **vLLM's benchmark client** (`vllm.benchmarks.serve.benchmark`, what `vllm bench serve` runs) sends those chat
  requests at an unlimited rate with `--max-concurrency` requests in flight: the engine's capacity at saturation.
- **ray-eval** runs the whole job (read, preprocess, inference, scoring, outputs) on the same Ray cluster against
  the same URL. Its busy window is read from its own results: the first request sent (answered_at - latency_s) to
  the last answer in.
- **The sequential client** posts one request at a time.

    .venv/bin/python -m benchmarks.vllm_engine --samples 300 --json runs/bench/vllm_engine.json

On this 2-core machine vLLM and the pipeline share the cores: the CPU seconds each group of processes used during
each measurement are reported beside the rates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import ray
import yaml

from benchmarks.common import (
    chat_bodies,
    cpu_by_group,
    cpu_seconds,
    dataset_for,
    machine,
    sequential_rate,
    write_figures,
)
from ray_eval.config import ServeConfig, load_config
from ray_eval.demo.tiny_model import build_tiny_model
from ray_eval.runs.layout import RunLayout
from ray_eval.runs.run import run_evaluation
from ray_eval.serving.serve_app import serve_apps

log = logging.getLogger("benchmarks.vllm_engine")

REPO = Path(__file__).resolve().parents[1]
MODEL_ID = "tiny-qwen3-vl"
PORT = 8011
WARM_UP = 60  # extra samples, sent once before the measurements
CAPACITY = 16  # cpu-tiny.yaml: max_num_seqs and max_ongoing_requests of its one replica
# The same request settings for every client: what configs/demo.yaml uses against this engine.
RUN_SETTINGS = ["preprocess.max_pixels=200704", "preprocess.video.fps=2", "preprocess.video.max_frames=8",
                "preprocess.video.send_media_io_kwargs=true", "inference.sampling.temperature=0",
                "inference.sampling.seed=0"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vllm_engine", description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--max-tokens", type=int, default=16, help="answer length asked of every client (16)")
    parser.add_argument("--concurrency", type=int, default=64, help="vLLM bench's --max-concurrency (64)")
    parser.add_argument("--sequential-requests", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="ray-eval overrides")
    parser.add_argument("--also-in-flight-per-slot", type=float, nargs="*", default=[],
                        help="run ray-eval again with each of these inference.in_flight_per_slot values")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    result = run_benchmark(args.samples, args.max_tokens, args.concurrency, args.sequential_requests, args.out,
                           args.set, args.also_in_flight_per_slot)
    print(json.dumps({key: value for key, value in result.items() if key != "machine"}, indent=2))
    write_figures(args.json, result)
    return 0


def run_benchmark(samples: int, max_tokens: int, concurrency: int, sequential_requests: int, out_dir: Path,
                  overrides: list[str], also_in_flight_per_slot: list[float] = ()) -> dict[str, Any]:
    manifest = dataset_for(samples + WARM_UP, out_dir)  # the last WARM_UP samples only warm the engine up
    model = out_dir / "models" / MODEL_ID
    if not (model / "config.json").exists():
        build_tiny_model("qwen3_vl", model, seed=0)
    settings = [*RUN_SETTINGS, f"inference.sampling.max_tokens={max_tokens}", *overrides]
    base = load_config(None, [f"dataset.path={manifest}", "engine.kind=openai", "engine.base_url=http://x/v1",
                              f"engine.model={MODEL_ID}", *settings])
    everything = chat_bodies(manifest, samples + WARM_UP, base.preprocess, base.inference.sampling, MODEL_ID)
    bodies, warm_up = everything[:samples], everything[samples:]
    result: dict[str, Any] = {"samples": samples, "max_tokens": max_tokens, "vllm_bench_concurrency": concurrency,
                              "ray_eval_settings": settings, "machine": machine()}
    ray.init(num_cpus=4, include_dashboard=False, configure_logging=False)  # as configs/demo.yaml's local Ray
    try:
        with serve_apps(ServeConfig(config=serve_config(out_dir, model), ready_timeout_s=900)):
            base_url = f"http://127.0.0.1:{PORT}/v1"
            # Warm-up on other samples: the engine's first batches of each size and image shape cost extra.
            vllm_bench(base_url, model, warm_up, max_tokens, concurrency)
            result["vllm_bench"] = measured(lambda: vllm_bench(base_url, model, bodies, max_tokens, concurrency))
            result["vllm_bench_at_capacity"] = measured(lambda: vllm_bench(base_url, model, bodies, max_tokens,
                                                                           CAPACITY))
            result["saturating_client"] = measured(lambda: saturating_client(base_url, bodies, concurrency))
            result["ray_eval"] = measured(lambda: ray_eval(manifest, samples, base_url, settings, out_dir / "runs"))
            for ratio in also_in_flight_per_slot:  # the same run with other inference.in_flight_per_slot values
                variant = [*settings, f"inference.in_flight_per_slot={ratio}"]
                result[f"ray_eval_in_flight_per_slot_{ratio:g}"] = measured(
                    lambda variant=variant: ray_eval(manifest, samples, base_url, variant, out_dir / "runs"))
            result["sequential"] = measured(lambda: sequential_rate(base_url, bodies[:sequential_requests], 120))
    finally:
        ray.shutdown()
    bench_rate = max(result["vllm_bench"]["request_throughput"], result["vllm_bench_at_capacity"]["request_throughput"])
    saturated = result["saturating_client"]["samples_per_s"]
    result["ratios"] = {
        "ray_eval_busy_vs_vllm_bench": result["ray_eval"]["busy_samples_per_s"] / bench_rate,
        "ray_eval_end_to_end_vs_vllm_bench": result["ray_eval"]["end_to_end_samples_per_s"] / bench_rate,
        "ray_eval_busy_vs_saturating_client": result["ray_eval"]["busy_samples_per_s"] / saturated,
        "ray_eval_end_to_end_vs_saturating_client": result["ray_eval"]["end_to_end_samples_per_s"] / saturated,
        "ray_eval_busy_vs_sequential": (result["ray_eval"]["busy_samples_per_s"]
                                        / result["sequential"]["sequential_samples_per_s"]),
        "vllm_bench_vs_sequential": bench_rate / result["sequential"]["sequential_samples_per_s"],
    }
    return result


def serve_config(out_dir: Path, model: Path) -> Path:
    """serve_configs/cpu-tiny.yaml pointed at the model built here and at this benchmark's port."""
    config = yaml.safe_load((REPO / "serve_configs" / "cpu-tiny.yaml").read_text())
    config["http_options"]["port"] = PORT
    llm = config["applications"][0]["args"]["llm_configs"][0]
    llm["model_loading_config"]["model_source"] = str(model.resolve())
    # Every client sends the same prompts in turn: with prefix caching the later ones would skip the prefill
    # (and the vision encoder) the first one paid for, and look several times faster than they are.
    llm["engine_kwargs"]["enable_prefix_caching"] = False
    path = out_dir / "serve-cpu-tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def measured(work) -> dict[str, Any]:
    """The work's own figures plus its wall time and the CPU seconds each group of processes used meanwhile."""
    before, started = cpu_seconds(), time.monotonic()
    figures = work()
    wall_s = time.monotonic() - started
    return {**figures, "measured_wall_s": round(wall_s, 2), "cpu_s_by_group": cpu_by_group(before, cpu_seconds())}


def vllm_bench(base_url: str, model: Path, bodies: list[dict[str, Any]], max_tokens: int,
               concurrency: int, model_id: str = MODEL_ID) -> dict[str, Any]:
    """vLLM's own benchmark client on the same chat requests: unlimited rate, `concurrency` in flight; `model` is the
    folder its tokenizer is read from, `model_id` the name the engine serves it under."""
    from transformers import AutoTokenizer
    from vllm.benchmarks.datasets import SampleRequest
    from vllm.benchmarks.serve import TaskType, benchmark

    requests = [SampleRequest(prompt="", prompt_len=0, expected_output_len=max_tokens, chat_messages=body["messages"],
                              request_overrides={key: body[key] for key in ("media_io_kwargs",) if key in body})
                for body in bodies]
    sampling = {key: bodies[0][key] for key in ("temperature", "top_p", "seed")}
    figures = asyncio.run(benchmark(
        task_type=TaskType.GENERATION, endpoint_type="openai-chat", api_url=f"{base_url}/chat/completions",
        base_url=base_url.removesuffix("/v1"), model_id=model_id, model_name=model_id,
        tokenizer=AutoTokenizer.from_pretrained(model),
        input_requests=requests, logprobs=None, request_rate=float("inf"), burstiness=1.0, disable_tqdm=True,
        num_warmups=0, profile=False, selected_percentile_metrics=["e2el"], selected_percentiles=[50.0, 99.0],
        ignore_eos=False, goodput_config_dict={}, max_concurrency=concurrency, lora_modules=None,
        extra_headers=None, extra_body=sampling, ready_check_timeout_sec=0,
    ))
    return {key: figures[key] for key in ("duration", "completed", "failed", "request_throughput",
                                          "total_output_tokens", "max_concurrent_requests") if key in figures}


def saturating_client(base_url: str, bodies: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """The engine's rate for these requests sent as ray-eval sends them (whole answers, not streamed), by a bare
    asyncio loop keeping `concurrency` in flight: the ceiling for any client of this engine on this machine."""
    async def run() -> float:
        limit = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(base_url=base_url, timeout=300.0,
                                     limits=httpx.Limits(max_connections=concurrency)) as client:
            async def post(body: dict[str, Any]) -> None:
                async with limit:
                    (await client.post("/chat/completions", json=body)).raise_for_status()

            started = time.monotonic()
            await asyncio.gather(*(post(body) for body in bodies))
            return time.monotonic() - started

    took = asyncio.run(run())
    return {"requests": len(bodies), "seconds": took, "samples_per_s": len(bodies) / took}


def ray_eval(manifest: Path, samples: int, base_url: str, settings: list[str], runs_dir: Path) -> dict[str, Any]:
    """The whole ray-eval job on the same cluster and URL; its busy window from its own results."""
    config = load_config(None, [
        f"dataset.path={manifest}", f"dataset.limit={samples}", "engine.kind=openai", f"engine.base_url={base_url}",
        f"engine.model={MODEL_ID}", f"inference.engine_capacity={CAPACITY}", "run.smoke_model=true",
        "gate.allow_partial=true",
        f"run.out_dir={runs_dir}",
        f"run.run_id=vllm-{time.strftime('%Y%m%dT%H%M%S')}", *settings])
    started = time.monotonic()
    outcome = run_evaluation(config)
    wall_s = time.monotonic() - started
    rows = pq.read_table(RunLayout(outcome.run_dir).results.merged,
                         columns=["status", "latency_s", "answered_at", "completion_tokens"]).to_pylist()
    answered = [row for row in rows if row["answered_at"] is not None and row["latency_s"] is not None]
    first_taken = min(row["answered_at"] - row["latency_s"] for row in answered)
    busy_s = max(row["answered_at"] for row in answered) - first_taken
    return {"run_dir": str(outcome.run_dir), "exit_code": outcome.exit_code, "result_rows": len(rows),
            "ok_rows": sum(row["status"] == "ok" for row in rows),
            "completion_tokens": sum(row["completion_tokens"] or 0 for row in rows),
            "busy_s": busy_s, "wall_s": wall_s, "busy_samples_per_s": len(rows) / busy_s,
            "end_to_end_samples_per_s": len(rows) / wall_s}


if __name__ == "__main__":
    sys.exit(main())
