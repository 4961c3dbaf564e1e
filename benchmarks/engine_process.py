"""A simulated engine in a process of its own: the scripted OpenAI-compatible server with `slots` batch slots and a
fixed latency (or one drawn per request from a lognormal distribution), which records when each request took a slot
and for how long, and writes that timeline when it is stopped.

In its own process its CPU is not ray-eval's, and it cannot slow ray-eval's driver down through a shared GIL:
the benchmarks measure ray-eval's processes apart from the engine's.

    python -m benchmarks.engine_process --slots 32 --latency-s 0.2 --ready-file F --timeline-file T
    python -m benchmarks.engine_process --slots 512 --latency-dist lognormal --latency-median-s 1.2 \
        --latency-sigma 0.5 --ready-file F --timeline-file T

It writes its base URL to the ready file once it listens, and the timeline (JSON) on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import heapq
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ray_eval.testing import ChatRequestInfo, Reply, ScriptedOpenAIServer

MODEL = "simulated-engine"
ANSWER = "A"  # every request gets the same short answer: the benchmarks measure time, not scores


@dataclass(frozen=True)
class Latency:
    """How long a request holds its slot: `median_s` each time (sigma 0), or drawn from a lognormal distribution of
    that median and `sigma` (of the log), seeded: the n-th request to take a slot gets the n-th draw, so a run's
    latencies depend on the order requests arrive in, not on timing.

    A lognormal is the usual shape of an LLM server's request latencies (a floor of prefill and a few decode steps,
    a long tail of long answers). LOGNORMAL_8B_H100 below is an assumption, not a measurement."""

    median_s: float
    sigma: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.median_s <= 0 or self.sigma < 0:
            raise ValueError(f"latency: median must be above 0 and sigma at least 0; got {self.median_s}, {self.sigma}")

    @property
    def mean_s(self) -> float:
        return self.median_s * math.exp(self.sigma ** 2 / 2)

    def generator(self) -> random.Random:
        """A fresh generator of this latency's draws (pass it to draw())."""
        return random.Random(self.seed)

    def draw(self, rng: random.Random) -> float:
        return self.median_s if self.sigma == 0 else rng.lognormvariate(math.log(self.median_s), self.sigma)

    def describe(self) -> str:
        if self.sigma == 0:
            return f"{self.median_s:g} s each"
        return (f"lognormal, median {self.median_s:g} s, sigma {self.sigma:g} (mean {self.mean_s:.2f} s), "
                f"seed {self.seed}")

    def args(self) -> list[str]:
        """This latency as engine_process's command-line options."""
        if self.sigma == 0:
            return ["--latency-s", str(self.median_s)]
        return ["--latency-dist", "lognormal", "--latency-median-s", str(self.median_s),
                "--latency-sigma", str(self.sigma), "--latency-seed", str(self.seed)]


# One H100 replica of an 8B vision-language model (Qwen2.5-VL-7B class, bf16, vLLM) with 64 sequences in flight,
# answering ShopBench's short answers (a letter, a small JSON object, a phrase: about 5-60 tokens) after ~300-1,500
# visual tokens of prefill. Assumed, not measured: a decode step of a 64-sequence batch at ~15-25 ms, times ~40
# tokens, plus the request's share of prefill, puts the median near 1.2 s; sigma 0.5 puts the 90th percentile at
# 2.3 s and the 99th at 3.8 s (long answers, video prefill). Mean 1.36 s: 64 slots answer ~47 samples/s per replica.
LOGNORMAL_8B_H100 = Latency(median_s=1.2, sigma=0.5)


def serve(slots: int, latency: Latency, ready_file: Path, timeline_file: Path) -> None:
    taken: list[tuple[float, float]] = []  # (when a request took its slot, the latency it was given), in that order
    rng, lock = latency.generator(), threading.Lock()
    first_image: list[ImagePayload] = []  # the first request's image, as sent: what a client chose to encode

    def answer(info: ChatRequestInfo) -> Reply:
        with lock:  # the draw and its place in the timeline together: the n-th request gets the n-th draw
            delay_s = latency.draw(rng)
            taken.append((time.time(), delay_s))
            if not first_image:
                first_image.extend(ImagePayload.first_in(info.body))
        return Reply.text(ANSWER, delay_s=delay_s)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with ScriptedOpenAIServer(default=answer, model=MODEL, record_requests=False, slots=slots) as server:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(server.base_url, encoding="utf-8")
        tmp.rename(ready_file)
        stop.wait()
        timeline = {"slots": slots, "latency_s": latency.median_s, "taken_at": [at for at, _ in taken],
                    "latencies_s": [delay for _, delay in taken], "max_concurrent": server.max_concurrent,
                    "last_reply_at": server.last_reply_at, "cpu_s": sum(os.times()[:2]),
                    "first_image": asdict(first_image[0]) if first_image else None}
    timeline_file.write_text(json.dumps(timeline), encoding="utf-8")


# The first bytes of each image format a client may send, to tell what it sent from what its data URL declares.
IMAGE_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG": "PNG", b"RIFF": "WEBP", b"GIF8": "GIF"}


@dataclass
class ImagePayload:
    """One image of a request as it travelled: the MIME type its data URL declares, the format its bytes are in,
    and their size."""

    declared: str
    actual: str
    size_bytes: int

    @classmethod
    def first_in(cls, body: dict[str, Any]) -> list[ImagePayload]:
        """The body's first inline (data URL) image, or nothing when it has none."""
        for message in body.get("messages", []):
            content = message.get("content") if isinstance(message, dict) else None
            for part in content if isinstance(content, list) else []:
                url = (part.get("image_url") or {}).get("url", "") if isinstance(part, dict) else ""
                if url.startswith("data:") and "," in url:
                    header, data = url[5:].split(",", 1)
                    try:
                        raw = base64.b64decode(data)
                    except binascii.Error:
                        raw = b""
                    actual = next((name for magic, name in IMAGE_MAGIC.items() if raw.startswith(magic)), "unknown")
                    return [cls(declared=header.split(";")[0], actual=actual, size_bytes=len(raw))]
        return []


@dataclass
class EngineTimeline:
    """What the engine saw: when each request took a slot and for how long, the most at once, its last reply and its
    own CPU. `latency_s` is the fixed latency, or the distribution's median."""

    slots: int
    latency_s: float
    taken_at: list[float]
    latencies_s: list[float]
    max_concurrent: int
    last_reply_at: float | None
    cpu_s: float
    first_image: ImagePayload | None = None  # the first request's inline image, when it carried one

    @property
    def ideal_s(self) -> float:
        """The least time the engine needed for the requests it answered: its slots' total work spread over all slots,
        and never less than the longest request (a lower bound; with a fixed latency ceil(N/slots) x latency is
        tighter, since slots work in whole rounds)."""
        if not self.latencies_s:
            return 0.0
        return max(sum(self.latencies_s) / self.slots, max(self.latencies_s))

    @property
    def first_request_at(self) -> float | None:
        return self.taken_at[0] if self.taken_at else None

    @property
    def last_reply_wall_at(self) -> float | None:
        """The last reply on the wall clock (as taken_at): the server keeps it on the monotonic clock, which on Linux
        is one clock for every process, so it converts here."""
        return None if self.last_reply_at is None else self.last_reply_at + time.time() - time.monotonic()

    def all_slots_busy_at(self) -> float | None:
        """When `slots` requests were first inside the engine at once (each holds its slot for its latency)."""
        ends: list[float] = []  # when the requests in the engine now give their slots back
        for at, delay in sorted(zip(self.taken_at, self.latencies_s, strict=True)):
            while ends and ends[0] <= at:
                heapq.heappop(ends)
            heapq.heappush(ends, at + delay)
            if len(ends) >= self.slots:
                return at
        return None


class EngineProcess:
    """Start the simulated engine in a subprocess; `stop()` returns its timeline."""

    def __init__(self, slots: int, latency: float | Latency, work_dir: Path):
        """`latency`: a Latency, or a number of seconds every request takes."""
        self.slots = slots
        self.latency = latency if isinstance(latency, Latency) else Latency(latency)
        self.latency_s = self.latency.median_s
        work_dir.mkdir(parents=True, exist_ok=True)
        self.ready_file, self.timeline_file = work_dir / "engine.url", work_dir / "engine-timeline.json"
        for path in (self.ready_file, self.timeline_file):
            path.unlink(missing_ok=True)
        self.process: subprocess.Popen | None = None
        self.base_url = ""

    def start(self, timeout_s: float = 60.0) -> EngineProcess:
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.engine_process", "--slots", str(self.slots),
                                         *self.latency.args(), "--ready-file", str(self.ready_file),
                                         "--timeline-file", str(self.timeline_file)])
        deadline = time.monotonic() + timeout_s
        while not self.ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulated engine did not start (exit {self.process.poll()})")
            time.sleep(0.05)  # polling a file another process writes: nothing to wait on instead
        self.base_url = self.ready_file.read_text(encoding="utf-8")
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> EngineTimeline:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        data: dict[str, Any] = json.loads(self.timeline_file.read_text(encoding="utf-8"))
        image = data.pop("first_image", None)
        return EngineTimeline(**data, first_image=ImagePayload(**image) if image else None)

    def __enter__(self) -> EngineProcess:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, required=True)
    parser.add_argument("--latency-s", type=float, help="Seconds every request takes (with --latency-dist fixed).")
    parser.add_argument("--latency-dist", choices=("fixed", "lognormal"), default="fixed")
    parser.add_argument("--latency-median-s", type=float, help="The lognormal distribution's median.")
    parser.add_argument("--latency-sigma", type=float, help="The lognormal distribution's sigma (of the log).")
    parser.add_argument("--latency-seed", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--timeline-file", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.latency_dist == "fixed":
        if args.latency_s is None:
            parser.error("--latency-s is required with --latency-dist fixed")
        latency = Latency(args.latency_s)
    else:
        if args.latency_median_s is None or args.latency_sigma is None:
            parser.error("--latency-median-s and --latency-sigma are required with --latency-dist lognormal")
        latency = Latency(args.latency_median_s, args.latency_sigma, args.latency_seed)
    serve(args.slots, latency, args.ready_file, args.timeline_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
