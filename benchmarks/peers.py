"""The peers on time to verdict: lmms-eval and VLMEvalKit, each run as its user runs it, on the same workload and the
same simulated engine as `time_to_verdict.py`, so ray-eval's ratio to them comes from one machine and one method.

Each peer lives in a virtualenv of its own (its dependencies are not ray-eval's); give its interpreter:

    .venv/bin/python -m benchmarks.peers --lmms-python /work/peers/lmms/bin/python \\
        --vlmeval-python /work/peers/vlmeval/bin/python --cases 500 --json runs/bench/peers.json

For each peer this writes the files the peer needs for the workload (make_workload's seed-format suite: the
question, the four options, the answer letter, the JPEG) into a temporary folder, starts a fresh simulated engine
(32 slots, 0.2 s) and runs the peer's own CLI as a subprocess, start-up and the peer's own scoring included:

- lmms-eval: `python -m lmms_eval --model openai` (its OpenAI-compatible chat backend, `num_concurrent` = slots)
  on a task of its YAML format read from the suite's JSON by the HF `json` builder; images sent as JPEG
  (LMMS_IMAGE_ENCODE_FORMAT; `--lmms-formats JPEG PNG` measures PNG, its default, too);
- VLMEvalKit: `python -m vlmeval.run --config` with its OpenAI wrapper (GPT4V) at the engine's URL,
  `--api-nproc` = slots, the suite as a custom MCQ TSV (base64 images, its documented format), exact-match judge.

Before the timed runs each peer runs once untimed on the same workload, so caches it keeps across runs are warm
(VLMEvalKit decodes the TSV's images into LMUData/images on a first run; lmms-eval keeps the HF datasets' Arrow copy).
Nothing is downloaded: the peers run with the Hugging Face libraries offline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.common import write_figures
from benchmarks.engine_process import EngineProcess, EngineTimeline
from benchmarks.peer_files import LmmsEvalFiles, PeerFiles, VlmEvalKitFiles
from benchmarks.time_to_verdict import make_workload

REPO = Path(__file__).resolve().parents[1]
# What every peer process gets: no hub, no telemetry, no proxy; an API key the engine ignores.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "WANDB_MODE": "disabled", "DO_NOT_TRACK": "1", "OPENAI_API_KEY": "EMPTY", "NO_PROXY": "*"}


class PeerNotInstalled(Exception):
    """The interpreter given for a peer is missing, or the peer's package is not installed in it."""


@dataclass
class PeerRun:
    """One timed run of a peer against a fresh simulated engine."""

    peer: str
    version: str
    variant: str
    cases: int
    exit_code: int
    wall_s: float
    to_first_request_s: float | None
    request_phase_s: float | None  # first request taken to last reply sent
    finish_s: float | None  # last reply to the peer's exit (its scoring and reports)
    peak_in_flight: int
    all_slots_busy_after_s: float | None
    requests: int
    payload: str | None  # the first image as it travelled: format, declared MIME type, size
    accuracy: float | None  # the score the peer wrote, read back from its own results file
    expected_accuracy: float  # the engine always answers "A": the share of cases whose answer is A
    cpu_s: float  # the peer's process and its children
    ideal_s: float
    complete: bool = field(init=False)

    def __post_init__(self) -> None:
        # A peer that sent fewer requests than cases, or scored nothing, did not do the work.
        self.complete = self.exit_code == 0 and self.requests >= self.cases and self.accuracy is not None


def peer_version(python: Path, distribution: str) -> str:
    """The peer's installed version, asked of its own interpreter; PeerNotInstalled when there is none."""
    if not python.exists():
        raise PeerNotInstalled(f"no interpreter at {python}")
    probe = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
                           capture_output=True, text=True, check=False, env=_peer_env({}))
    if probe.returncode != 0:
        raise PeerNotInstalled(f"{distribution} is not installed for {python}")
    return probe.stdout.strip()


def _peer_env(extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in {"PYTHONPATH", "VIRTUAL_ENV"} and not key.lower().endswith("_proxy")}
    return {**env, **OFFLINE_ENV, **extra}


def run_peer(files: PeerFiles, python: Path, version: str, suite: Path, work_dir: Path, slots: int,
             latency_s: float, log: Path) -> PeerRun:
    """One run of the peer's CLI, start to exit, against a fresh simulated engine: its figures."""
    out_dir = Path(tempfile.mkdtemp(prefix="out-", dir=work_dir))  # a fresh output folder: nothing to reuse
    log.parent.mkdir(parents=True, exist_ok=True)
    with EngineProcess(slots, latency_s, work_dir / "engine") as engine, log.open("wb") as output:
        command, env = files.command(python, engine.base_url, out_dir, slots)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.time()
        completed = subprocess.run(command, cwd=work_dir, env=_peer_env(env), stdout=output,
                                   stderr=subprocess.STDOUT, check=False)
        ended = time.time()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # before the engine is reaped: the peer's alone
        timeline = engine.stop()
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return _figures(files, version, suite, completed.returncode, started, ended, timeline,
                    files.accuracy(out_dir), cpu_s, log)


def _figures(files: PeerFiles, version: str, suite: Path, exit_code: int, started: float, ended: float,
             engine: EngineTimeline, accuracy: float | None, cpu_s: float, log: Path) -> PeerRun:
    cases = json.loads(suite.read_text(encoding="utf-8"))["test_cases"]
    first, last, busy = engine.first_request_at, engine.last_reply_wall_at, engine.all_slots_busy_at()
    image = engine.first_image
    run = PeerRun(
        peer=files.peer, version=version, variant=files.variant, cases=len(cases), exit_code=exit_code,
        wall_s=round(ended - started, 2), to_first_request_s=round(first - started, 2) if first else None,
        request_phase_s=round(last - first, 2) if first and last else None,
        finish_s=round(ended - last, 2) if last else None, peak_in_flight=engine.max_concurrent,
        all_slots_busy_after_s=round(busy - first, 2) if busy and first else None,
        requests=len(engine.taken_at),
        payload=f"{image.actual} ({image.declared}, {image.size_bytes / 1000:.0f} kB)" if image else None,
        accuracy=accuracy, expected_accuracy=round(sum(c["expected_answer"] == "A" for c in cases) / len(cases), 4),
        cpu_s=round(cpu_s, 1), ideal_s=round(-(-len(cases) // engine.slots) * engine.latency_s, 2),
    )
    if not run.complete:
        print(f"peers: {files.peer} ({files.variant}) did not complete: exit {exit_code}, {run.requests} of "
              f"{run.cases} requests, score {accuracy}; its output: {log}", file=sys.stderr)
    return run


def measure_peer(files: PeerFiles, python: Path, suite: Path, work_dir: Path, slots: int, latency_s: float,
                 repeat: int, logs: Path) -> list[PeerRun]:
    """The peer's files written, one untimed warm-up run (its caches), then `repeat` timed runs; each run's output
    is kept in `logs` (run 0 is the warm-up)."""
    version = peer_version(python, files.distribution)
    files.write(work_dir, suite)
    runs = [run_peer(files, python, version, suite, work_dir, slots, latency_s, logs / f"{files.slug}-{index}.log")
            for index in range(repeat + 1)]
    return runs[1:]  # the warm-up is not reported


SUMMARY = ("peer", "version", "variant", "wall_s", "to_first_request_s", "request_phase_s", "finish_s",
           "peak_in_flight", "requests", "payload", "accuracy", "expected_accuracy", "cpu_s", "complete")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.splitlines()[0])
    parser.add_argument("--lmms-python", type=Path, help="the interpreter of a virtualenv with lmms-eval")
    parser.add_argument("--vlmeval-python", type=Path, help="the interpreter of a virtualenv with ms-vlmeval")
    parser.add_argument("--lmms-formats", nargs="+", choices=["JPEG", "PNG"], default=["JPEG"],
                        help="image encodings lmms-eval sends, one measurement each (default JPEG)")
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each peer (after one untimed)")
    parser.add_argument("--slots", type=int, default=32)
    parser.add_argument("--latency-s", type=float, default=0.2)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench" / "peers")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    load = os.getloadavg()  # the machine is shared: the load the runs started under goes with the figures
    out = args.out.resolve()  # the suite's image paths are absolute: the peers run in folders of their own
    peers: list[tuple[PeerFiles, Path]] = [(LmmsEvalFiles(fmt), args.lmms_python) for fmt in args.lmms_formats
                                           if args.lmms_python is not None]
    if args.vlmeval_python is not None:
        peers.append((VlmEvalKitFiles(), args.vlmeval_python))
    if not peers:
        print("peers: give --lmms-python or --vlmeval-python (a peer's interpreter)", file=sys.stderr)
        return 2
    suite = make_workload(out / "workload", args.cases)
    runs: list[PeerRun] = []
    missing: dict[str, str] = {}
    for files, python in peers:
        try:
            with tempfile.TemporaryDirectory(prefix=f"{files.peer}-", dir=out) as work_dir:
                for run in measure_peer(files, python, suite, Path(work_dir), args.slots, args.latency_s,
                                        args.repeat, out / "logs"):
                    runs.append(run)
                    print(json.dumps({key: asdict(run)[key] for key in SUMMARY}), flush=True)
        except PeerNotInstalled as error:
            missing[files.peer] = str(error)
            print(f"peers: {files.peer} not installed: {error}", file=sys.stderr)
    write_figures(args.json, {"cases": args.cases, "slots": args.slots, "latency_s": args.latency_s,
                              "load_at_start": load, "runs": [asdict(run) for run in runs],
                              "not_installed": missing})
    if not runs:
        return 2
    return 0 if all(run.complete for run in runs) else 3


if __name__ == "__main__":
    sys.exit(main())
