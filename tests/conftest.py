"""Shared fixtures: small datasets written by the tests themselves (no downloads)."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import psutil
import pytest
from PIL import Image

from tests.browser import DevTools


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1 (for servers the tests start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kill_driver_when(args: list[str], ready: Callable[[], Any], cwd: Path) -> None:
    """Run `python -m ray_eval.cli ARGS` in a process of its own; once `ready()` returns, SIGKILL it, and the local Ray
    it started, by process id."""
    driver = subprocess.Popen([sys.executable, "-m", "ray_eval.cli", *args], cwd=cwd, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started: list[psutil.Process] = []
    try:
        ready()
        started = psutil.Process(driver.pid).children(recursive=True)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    for process in started:
        if process.is_running():
            process.kill()


def jpeg_bytes(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def mp4_bytes(frames: int = 16, fps: int = 8, size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(frames):
            pixels = np.full((size[1], size[0], 3), index * 255 // max(frames - 1, 1), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n")
    return path


def mcq_row(sample_id: str, answer: str = "B", image: str = "media/a.jpg", **extra: Any) -> dict[str, Any]:
    return {
        "id": sample_id, "subset": "ShopFront", "format": "mcq", "question": "What is the shop's name?",
        "options": ["Lucky Mart", "Sun Bakery", "Green Grocer", "Blue Cafe"], "answer": answer,
        "media": [{"type": "image", "path": image}],
        "labels": {"l1": "Perception", "l2": "Fine-grained Single-instance", "l3": "OCR", "l4": "Shop Name"},
        **extra,
    }


@pytest.fixture(scope="session")
def local_ray(tmp_path_factory):
    """One local Ray for the whole session (starting Ray costs seconds). Four logical CPUs on two cores: a vLLM
    replica holds one, and Ray Data's stages must still find room beside it."""
    import ray
    import ray.data

    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=300 * 1024 * 1024,
             _temp_dir=str(tmp_path_factory.mktemp("ray")), configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.jpg").write_bytes(jpeg_bytes("red"))
    (tmp_path / "media" / "b.jpg").write_bytes(jpeg_bytes("blue"))
    return tmp_path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def browser(tmp_path: Path):
    """A headless Chromium for this test, ended when it ends."""
    devtools = DevTools(tmp_path / "profile", tmp_path / "chromium.log")
    try:
        yield devtools
    finally:
        devtools.close()




@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep what a person may want to look at afterwards (screenshots of the report): test-artifacts/ at
    the checkout's root, or the folder RAY_EVAL_TEST_ARTIFACTS names (a CI job that uploads it)."""
    path = Path(os.environ.get("RAY_EVAL_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path
