"""Preprocessing throughput against bare decoding, one process on one core.

For photos of 1 to 4 megapixels and for an H.264 video, it times:
- **bare decoding**: read the file and decode every pixel (PIL's `load()`; for the video, every frame of the stream
  decoded by FFmpeg, not converted). Any pipeline that checks its media does at least this much.
- **preprocessing**: ray-eval's `PreprocessStage.prepare` on a sample holding that file, all of it: read, sha256,
  decode, resize to the pixel budget, JPEG encode, base64 into the chat messages, the report thumbnail, the prompt;
  for images also with `preprocess.send_images_as: original` (decoded as a check, sent as the file's bytes).

The photos are made here (smooth shapes plus sensor-like noise, JPEG quality 92, as a phone writes them), so their
entropy, and so their decoding cost, is a photo's rather than a flat drawing's.

    .venv/bin/python -m benchmarks.preprocess --json runs/bench/preprocess.json
"""

from __future__ import annotations

import argparse
import io
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from benchmarks.common import write_figures
from ray_eval.config import PreprocessConfig
from ray_eval.data.readers.base import build_sample
from ray_eval.demo.synth.draw_video import encode_mp4
from ray_eval.pipeline.preprocess import PreprocessStage
from ray_eval.records import sample_row

MEGAPIXELS = (1, 2, 3, 4)


def photo(megapixels: float, seed: int) -> bytes:
    """A 4:3 JPEG with a photo's entropy: blurred colour blobs, gradients and Gaussian noise."""
    rng = np.random.default_rng(seed)
    height = int(round(np.sqrt(megapixels * 1e6 * 3 / 4)))
    width = height * 4 // 3
    coarse = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    noise = rng.normal(0, 7, size=(height, width, 3)).astype(np.float32)
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def video(path: Path, seconds: int, fps: int, size: tuple[int, int], seed: int) -> None:
    """An H.264 clip of a noisy scene panning sideways (each frame differs, as a camera's do)."""
    rng = np.random.default_rng(seed)
    width, height = size
    wide = np.asarray(Image.fromarray(rng.integers(0, 256, size=(9, 32, 3), dtype=np.uint8)).resize(
        (width * 2, height), Image.Resampling.BICUBIC))
    frames = []
    for index in range(seconds * fps):
        shift = index * width // (seconds * fps)
        noise = rng.normal(0, 5, size=(height, width, 3))
        frames.append(Image.fromarray(np.clip(wide[:, shift:shift + width] + noise, 0, 255).astype(np.uint8)))
    encode_mp4(frames, path, fps=fps)


def best_of(repeats: int, work: Callable[[], Any]) -> float:
    """The fastest of `repeats` timed calls (the least disturbed by anything else on the machine), in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def decode_image(path: Path) -> None:
    Image.open(io.BytesIO(path.read_bytes())).load()


def decode_video(path: Path) -> int:
    with av.open(io.BytesIO(path.read_bytes())) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def sample_for(path: Path, kind: str) -> dict[str, Any]:
    data = {"id": path.stem, "subset": "Video" if kind == "video" else "ShopFront", "format": "mcq",
            "question": "What is the shop's name?", "options": ["Lucky Mart", "Sun Bakery", "Green Grocer"],
            "answer": "B", "media": [{"type": kind, "path": path.name}]}
    return sample_row(build_sample(data, path.parent), "bench", "bench.jsonl", 1)


def measure(out: Path, images_per_size: int, repeats: int, video_seconds: int) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    config = PreprocessConfig()
    stages = {mode: PreprocessStage(config.model_copy(update={"send_images_as": mode}))
              for mode in ("resized", "original")}

    def prepare(path: Path, kind: str, mode: str = "resized") -> None:
        row = stages[mode].prepare(sample_for(path, kind))
        if row["status"] != "ok":
            raise RuntimeError(f"{path}: preprocessing failed: {row['error']}")

    images = []
    for megapixels in MEGAPIXELS:
        paths = []
        for index in range(images_per_size):
            path = out / f"photo-{megapixels}mp-{index}.jpg"
            if not path.exists():
                path.write_bytes(photo(megapixels, seed=100 * megapixels + index))
            paths.append(path)
        decode_s = sum(best_of(repeats, lambda p=p: decode_image(p)) for p in paths) / len(paths)
        prepare_s = sum(best_of(repeats, lambda p=p: prepare(p, "image")) for p in paths) / len(paths)
        original_s = sum(best_of(repeats, lambda p=p: prepare(p, "image", "original")) for p in paths) / len(paths)
        with Image.open(paths[0]) as first:
            size = first.size
        images.append({"megapixels": megapixels, "size": list(size), "files": len(paths),
                       "mean_file_bytes": sum(p.stat().st_size for p in paths) // len(paths),
                       "decode_ms": 1000 * decode_s, "prepare_ms": 1000 * prepare_s,
                       "decode_images_per_s": 1 / decode_s, "prepare_images_per_s": 1 / prepare_s,
                       "ratio": prepare_s / decode_s, "original_ms": 1000 * original_s,
                       "original_images_per_s": 1 / original_s, "original_ratio": original_s / decode_s})
    clip = out / f"clip-{video_seconds}s-720p.mp4"
    if not clip.exists():
        video(clip, video_seconds, 30, (1280, 720), seed=7)
    frames = decode_video(clip)
    decode_s = best_of(repeats, lambda: decode_video(clip))
    prepare_s = best_of(repeats, lambda: prepare(clip, "video"))
    clip_result = {"file": clip.name, "frames": frames, "size": [1280, 720], "fps": 30,
                   "sampled": f"{config.video.fps} fps, at most {config.video.max_frames} frames",
                   "decode_s": decode_s, "prepare_s": prepare_s, "decode_frames_per_s": frames / decode_s,
                   "prepare_frames_per_s": frames / prepare_s, "ratio": prepare_s / decode_s}
    return {"images": images, "video": clip_result,
            "preprocess": {"max_pixels": config.max_pixels, "jpeg_quality": config.jpeg_quality,
                           "thumbnail_px": config.thumbnail_px,
                           "video_max_pixels_per_frame": config.video.max_pixels_per_frame},
            "repeats": repeats, "python": platform.python_version(), "pillow": Image.__version__,
            "pyav": av.__version__}


def print_table(result: dict[str, Any]) -> None:
    print(f"{'input':<24}{'bare decode':>16}{'preprocess':>16}{'ratio':>8}{'originals':>16}{'ratio':>8}")
    for row in result["images"]:
        label = f"{row['megapixels']} MP photo {row['size'][0]}x{row['size'][1]}"
        print(f"{label:<24}{row['decode_images_per_s']:>10.1f} img/s{row['prepare_images_per_s']:>10.1f} img/s"
              f"{row['ratio']:>8.2f}{row['original_images_per_s']:>10.1f} img/s{row['original_ratio']:>8.2f}")
    clip = result["video"]
    label = f"{clip['frames']}-frame 720p video"
    print(f"{label:<24}{clip['decode_frames_per_s']:>8.0f} frames/s{clip['prepare_frames_per_s']:>8.0f} frames/s"
          f"{clip['ratio']:>8.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench/preprocess"), help="Folder of the made media.")
    parser.add_argument("--images-per-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5, help="Timed calls per file; the fastest counts.")
    parser.add_argument("--video-seconds", type=int, default=10)
    parser.add_argument("--json", type=Path, help="Write every figure here.")
    args = parser.parse_args(argv)
    result = measure(args.out, args.images_per_size, args.repeats, args.video_seconds)
    print_table(result)
    write_figures(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
