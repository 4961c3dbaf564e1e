"""Every media item of a sample gets its thumbnail, in order (a video: one strip of the frames sent), and the report
shows them all with a caption saying which item each is; results written before (one `thumbnail`) still render."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from ray_eval.config import GateConfig, PreprocessConfig, ReportConfig
from ray_eval.data.readers.base import build_sample
from ray_eval.outputs.report import write_report
from ray_eval.pipeline import PreprocessStage
from ray_eval.pipeline.media import STRIP_FRAMES
from ray_eval.records import READ_SCHEMA, RESULT_SCHEMA, sample_row
from ray_eval.runs.results import read_results_table
from tests.conftest import jpeg_bytes, mcq_row, mp4_bytes
from tests.unit.test_report import Page, jpeg, make_summary, result_row

COLOURS = {"red": (255, 0, 0), "green": (0, 128, 0), "blue": (0, 0, 255)}
FRAME = (64, 48)  # the test video's frame size: within every pixel budget here, so the frames keep it


@pytest.fixture
def media(tmp_path: Path) -> Path:
    for name in COLOURS:
        (tmp_path / f"{name}.jpg").write_bytes(jpeg_bytes(name, (320, 240)))
    (tmp_path / "door.mp4").write_bytes(mp4_bytes(frames=16, fps=8, size=FRAME))  # 2 s, brighter frame by frame
    return tmp_path


def prepare(root: Path, media_items: list[dict], subset: str, **config) -> dict:
    row = sample_row(build_sample({**mcq_row("s"), "subset": subset, "media": media_items}, root), "m", "m.jsonl", 1)
    stage = PreprocessStage(PreprocessConfig.model_validate({"thumbnail_px": 160, **config}))
    return stage(pa.Table.from_pylist([row], schema=READ_SCHEMA)).to_pylist()[0]


def picture(blob: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(blob))
    assert image.format == "JPEG"
    return image


def colour_of(blob: bytes) -> str:
    mean = np.asarray(picture(blob).convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)
    return min(COLOURS, key=lambda name: float(np.abs(mean - COLOURS[name]).sum()))


def test_one_image_has_one_thumbnail(media: Path) -> None:
    row = prepare(media, [{"type": "image", "path": "red.jpg"}], "ShopFront")
    assert row["status"] == "ok" and len(row["thumbnails"]) == 1
    assert picture(row["thumbnails"][0]).size == (160, 120) and colour_of(row["thumbnails"][0]) == "red"
    assert row["thumbnail_captions"] == ["image"]


def test_three_images_have_three_thumbnails_in_order(media: Path) -> None:
    row = prepare(media, [{"type": "image", "path": f"{name}.jpg"} for name in ("blue", "red", "green")], "MultiImg")
    assert [colour_of(blob) for blob in row["thumbnails"]] == ["blue", "red", "green"]
    assert row["thumbnail_captions"] == ["image 1 of 3", "image 2 of 3", "image 3 of 3"]


def brightness_of_tiles(strip: Image.Image, tiles: int) -> list[float]:
    grey = np.asarray(strip.convert("L"), dtype=float)
    width = strip.width // tiles
    return [float(grey[:, i * width:(i + 1) * width].mean()) for i in range(tiles)]


def test_a_video_has_one_strip_of_the_frames_sent(media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray_eval.pipeline.media as media_module

    decodes = []
    real_decode = media_module._decode_at
    monkeypatch.setattr(media_module, "_decode_at", lambda *args: decodes.append(1) or real_decode(*args))
    row = prepare(media, [{"type": "video", "path": "door.mp4"}], "Video", video={"send_as": "images"})
    sent = sum(part["type"] == "image_url" for part in json.loads(row["messages_json"])[0]["content"])  # a frame each
    assert sent == 4 and len(decodes) == 1  # 2 s at 2 fps; the strip needed no second decode
    (strip_blob,) = row["thumbnails"]
    strip = picture(strip_blob)
    assert strip.size == (sent * FRAME[0], FRAME[1])  # frames side by side, never enlarged
    brightness = brightness_of_tiles(strip, sent)
    assert brightness == sorted(brightness) and brightness[-1] - brightness[0] > 100  # in the order sent
    assert row["thumbnail_captions"] == ["video: 4 frames at 0.0, 0.5, 1.0, 1.5 s"]


def test_a_long_video_strip_shows_a_capped_even_pick_and_stays_small(media: Path) -> None:
    row = prepare(media, [{"type": "video", "path": "door.mp4"}], "Video", thumbnail_px=32, video={"fps": 8})
    strip = picture(row["thumbnails"][0])
    # 16 frames sent, 8 shown; 4 x 32 px wide at most, so each 4:3 tile is 16 x 12.
    assert strip.size == (STRIP_FRAMES * 16, 12)
    caption = row["thumbnail_captions"][0]
    assert caption.startswith(f"video: {STRIP_FRAMES} of 16 frames at 0.0, ") and caption.endswith(", 1.9 s")


def test_no_thumbnails_when_turned_off(media: Path) -> None:
    row = prepare(media, [{"type": "image", "path": "red.jpg"}], "ShopFront", thumbnail_px=0)
    assert row["thumbnails"] is None and row["thumbnail_captions"] is None


# ---- the report ------------------------------------------------------------------------------------------------------


def render_rows(run_dir: Path, table: pa.Table) -> Page:
    run_dir.mkdir(parents=True)
    pq.write_table(table, run_dir / "results.parquet")
    summary = make_summary(run_dir, GateConfig())
    write_report(run_dir / "report.html", summary, run_dir, ReportConfig())
    return Page((run_dir / "report.html").read_text(encoding="utf-8"))


def test_the_report_shows_every_thumbnail_with_its_caption(tmp_path: Path) -> None:
    images = [jpeg(colour=name) for name in COLOURS]
    video_caption = "video: 8 of 16 frames at 0.0, 0.3, 0.5, 0.8, 1.1, 1.3, 1.6, 1.9 s"
    rows = [
        result_row("multi", 1, "wrong", input_type="multi", thumbnails=images,
                   thumbnail_captions=["image 1 of 3", "image 2 of 3", "image 3 of 3"]),
        result_row("video", 2, "wrong", input_type="video", thumbnails=[jpeg(128, 12)],
                   thumbnail_captions=[video_caption]),
        result_row("single", 3, "wrong", thumbnails=[jpeg()], thumbnail_captions=["image"]),
        result_row("failed", 4, "error", thumbnails=None, thumbnail_captions=None),
    ]
    page = render_rows(tmp_path / "run", pa.Table.from_pylist(rows, schema=RESULT_SCHEMA))
    samples = {sample["id"]: sample for sample in page.samples}
    multi = samples["multi"]
    assert [colour_of(_decoded(src)) for src in multi["images"]] == list(COLOURS)
    assert multi["alts"] == multi["captions"] == ["image 1 of 3", "image 2 of 3", "image 3 of 3"]
    assert "strip" not in multi["thumb_classes"]
    video = samples["video"]
    assert video["alts"] == ["video frames"] and video["captions"] == [video_caption]
    assert "strip" in video["thumb_classes"] and picture(_decoded(video["images"][0])).size == (128, 12)
    assert samples["single"]["alts"] == ["image"] and len(samples["single"]["images"]) == 1
    assert samples["failed"]["images"] == [] and "no thumbnail" in page.all_text


def _decoded(src: str) -> bytes:
    prefix = "data:image/jpeg;base64,"
    assert src.startswith(prefix)
    return base64.b64decode(src[len(prefix):])


def old_format(rows: list[dict]) -> pa.Table:
    """Results as written before thumbnails per media item: one `thumbnail` binary column."""
    schema = pa.schema([field for field in RESULT_SCHEMA if not field.name.startswith("thumbnail")]
                       + [pa.field("thumbnail", pa.binary())])
    return pa.Table.from_pylist(rows, schema=schema)


def test_an_older_results_file_still_renders_its_thumbnail(tmp_path: Path) -> None:
    rows = [result_row("old", 1, "wrong", input_type="video", thumbnail=jpeg(colour="blue")),
            result_row("old-error", 2, "error", thumbnail=None)]
    page = render_rows(tmp_path / "run", old_format(rows))
    old = next(sample for sample in page.samples if sample["id"] == "old")
    assert len(old["images"]) == 1 and colour_of(_decoded(old["images"][0])) == "blue"
    assert old["alts"] == old["captions"] == ["first image or frame"] and "strip" not in old["thumb_classes"]


def test_an_older_results_file_keeps_its_thumbnail_when_read_again(tmp_path: Path) -> None:
    """Resuming or rescoring a run of an older version reads its results through read_results_table."""
    blob = jpeg(colour="green")
    pq.write_table(old_format([result_row("a", 1, "passed", thumbnail=blob), result_row("b", 2, "error")]),
                   tmp_path / "results.parquet")
    table = read_results_table(tmp_path / "results.parquet")
    assert table.schema == RESULT_SCHEMA
    assert table["thumbnails"].to_pylist() == [[blob], None]
    assert table["thumbnail_captions"].to_pylist() == [["first image or frame"], None]
