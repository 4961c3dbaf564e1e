"""A simulated engine in a process of its own: the scripted OpenAI-compatible server with `slots` batch slots and a
fixed latency, which records when each request took a slot and writes that timeline when it is stopped.

In its own process its CPU is not ray-eval's, and it cannot slow ray-eval's driver down through a shared GIL:
the benchmarks measure ray-eval's processes apart from the engine's.

    python -m benchmarks.engine_process --slots 32 --latency-s 0.2 --ready-file F --timeline-file T

It writes its base URL to the ready file once it listens, and the timeline (JSON) on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
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


def serve(slots: int, latency_s: float, ready_file: Path, timeline_file: Path) -> None:
    taken: list[float] = []  # when each request took a slot (appending to a list is atomic under the GIL)
    first_image: list[ImagePayload] = []  # the first request's image, as sent: what a client chose to encode

    def answer(info: ChatRequestInfo) -> Reply:
        taken.append(time.time())
        if not first_image:
            first_image.extend(ImagePayload.first_in(info.body))
        return Reply.text(ANSWER, delay_s=latency_s)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with ScriptedOpenAIServer(default=answer, model=MODEL, record_requests=False, slots=slots) as server:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(server.base_url, encoding="utf-8")
        tmp.rename(ready_file)
        stop.wait()
        timeline = {"slots": slots, "latency_s": latency_s, "taken_at": sorted(taken),
                    "max_concurrent": server.max_concurrent, "last_reply_at": server.last_reply_at,
                    "cpu_s": sum(os.times()[:2]),
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
    """What the engine saw: when each request took a slot, the most at once, its last reply and its own CPU."""

    slots: int
    latency_s: float
    taken_at: list[float]
    max_concurrent: int
    last_reply_at: float | None
    cpu_s: float
    first_image: ImagePayload | None = None  # the first request's inline image, when it carried one

    @property
    def first_request_at(self) -> float | None:
        return self.taken_at[0] if self.taken_at else None

    @property
    def last_reply_wall_at(self) -> float | None:
        """The last reply on the wall clock (as taken_at): the server keeps it on the monotonic clock, which on Linux
        is one clock for every process, so it converts here."""
        return None if self.last_reply_at is None else self.last_reply_at + time.time() - time.monotonic()

    def all_slots_busy_at(self) -> float | None:
        """When `slots` requests were first inside the engine at once (each holds its slot for latency_s)."""
        for index in range(self.slots - 1, len(self.taken_at)):
            if self.taken_at[index] - self.taken_at[index - self.slots + 1] < self.latency_s:
                return self.taken_at[index]
        return None


class EngineProcess:
    """Start the simulated engine in a subprocess; `stop()` returns its timeline."""

    def __init__(self, slots: int, latency_s: float, work_dir: Path):
        self.slots, self.latency_s = slots, latency_s
        work_dir.mkdir(parents=True, exist_ok=True)
        self.ready_file, self.timeline_file = work_dir / "engine.url", work_dir / "engine-timeline.json"
        for path in (self.ready_file, self.timeline_file):
            path.unlink(missing_ok=True)
        self.process: subprocess.Popen | None = None
        self.base_url = ""

    def start(self, timeout_s: float = 60.0) -> EngineProcess:
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.engine_process", "--slots", str(self.slots),
                                         "--latency-s", str(self.latency_s), "--ready-file", str(self.ready_file),
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
    parser.add_argument("--latency-s", type=float, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--timeline-file", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.slots, args.latency_s, args.ready_file, args.timeline_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
