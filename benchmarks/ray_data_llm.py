"""Ray's own `ray.data.llm` HTTP processor on the time-to-verdict workload, against the same simulated engine.

Issue 16 asks whether ray-eval should adopt Ray's processors instead of its own inference stage. This runs
`ray.data.llm.HttpRequestProcessorConfig` + `build_processor` (Ray 2.60) on the same 500 cases: each row's chat
request is built by ray-eval's own PreprocessStage in the processor's `preprocess` function (so the payloads are
byte for byte what ray-eval sends), posted to the engine, and the answer letter kept by `postprocess`. The whole
command is timed as a subprocess, Ray's start-up included, like time_to_verdict's modes.

    .venv/bin/python -m benchmarks.ray_data_llm --actors 1 --batch-size 16 --json runs/bench/ray_data_llm.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine, write_figures
from benchmarks.engine_process import MODEL, EngineProcess
from benchmarks.time_to_verdict import REPO, make_workload


def run_processor(suite: Path, base_url: str, actors: int, batch_size: int) -> int:
    """The processor over the suite (in this process: it is the timed subprocess); the rows answered."""
    import ray
    import ray.data
    from ray.data.llm import HttpRequestProcessorConfig, build_processor

    from ray_eval.config import PreprocessConfig
    from ray_eval.data.dataset import iter_raw_rows, scan_dataset
    from ray_eval.pipeline.preprocess import PreprocessStage
    from ray_eval.records import sample_row

    scan = scan_dataset(suite, "auto", suite.parent)
    rows = [sample_row(scan.reader.to_sample(raw), scan.suite, scan.path.name, raw.row_number)
            for raw in iter_raw_rows(scan.reader, scan.chunks)]
    ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    stage = PreprocessStage(PreprocessConfig())

    def preprocess(row: dict[str, Any]) -> dict[str, Any]:
        prepared = stage.prepare(row)
        messages = json.loads(prepared["messages_json"])
        return {"sample_id": row["sample_id"], "answer": row["answer"],
                "payload": {"model": MODEL, "messages": messages, "max_tokens": 16, "temperature": 0.0}}

    def postprocess(row: dict[str, Any]) -> dict[str, Any]:
        text = row["http_response"]["choices"][0]["message"]["content"]
        return {"sample_id": row["sample_id"], "passed": text.strip()[:1] == row["answer"]}

    processor = build_processor(HttpRequestProcessorConfig(url=f"{base_url}/chat/completions", batch_size=batch_size,
                                                           concurrency=actors),
                                preprocess=preprocess, postprocess=postprocess)
    answered = processor(ray.data.from_items(rows)).materialize().count()
    ray.shutdown()
    return answered


def measure(suite: Path, work_dir: Path, actors: int, batch_size: int, slots: int, latency_s: float) -> dict[str, Any]:
    with EngineProcess(slots, latency_s, work_dir / "engine") as engine:
        started = time.time()
        done = subprocess.run([sys.executable, "-m", "benchmarks.ray_data_llm", "--worker", str(suite), engine.base_url,
                               "--actors", str(actors), "--batch-size", str(batch_size)],
                              cwd=REPO, capture_output=True, text=True, check=False)
        ended = time.time()
        timeline = engine.stop()
    if done.returncode != 0:
        raise RuntimeError(f"ray.data.llm run failed:\n{done.stderr[-3000:]}")
    first = timeline.first_request_at
    return {"client": f"ray.data.llm HttpRequestProcessor ({actors} actor(s), batches of {batch_size})",
            "answered": int(done.stdout.strip().splitlines()[-1]), "engine_requests": len(timeline.taken_at),
            "wall_s": round(ended - started, 2), "to_first_request_s": round(first - started, 2) if first else None,
            # each request is answered latency_s after it took its slot
            "request_phase_s": round(timeline.taken_at[-1] + timeline.latency_s - first, 2) if first else None,
            "peak_in_flight": timeline.max_concurrent}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("SUITE", "BASE_URL"), help=argparse.SUPPRESS)
    parser.add_argument("--actors", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "time-to-verdict")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.worker:
        print(run_processor(Path(args.worker[0]), args.worker[1], args.actors, args.batch_size))
        return 0
    suite = make_workload(args.out / "workload", args.cases)
    result = measure(suite, args.out, args.actors, args.batch_size, slots=32, latency_s=0.2)
    print(json.dumps(result))
    write_figures(args.json, {"machine": machine(), **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
