"""Each pipeline stage on its own (no Ray): declared columns, per-row failures as data, the next stage's schema."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from PIL import Image

from ray_eval.config import OpenAIEngineConfig, PreprocessConfig, SamplingConfig, ScoringConfig
from ray_eval.data.readers.base import build_sample
from ray_eval.engines import EngineSpec, OpenAIChatEngine, RetryPolicy
from ray_eval.errors import StageInputError
from ray_eval.pipeline import InferenceStage, PreprocessStage, ScoringStage
from ray_eval.records import INFERRED_SCHEMA, PREPARED_SCHEMA, READ_SCHEMA, RESULT_SCHEMA, invalid_row, sample_row
from tests.conftest import jpeg_bytes, mcq_row, mp4_bytes


def read_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=READ_SCHEMA)


def row_for(root: Path, data: dict, number: int = 1) -> dict:
    return sample_row(build_sample(data, root), "m", "m.jsonl", number)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "big.jpg").write_bytes(jpeg_bytes("red", (1000, 800)))
    (tmp_path / "bad.jpg").write_bytes(jpeg_bytes("red", (100, 100))[:150])
    (tmp_path / "door.mp4").write_bytes(mp4_bytes(frames=16, fps=8))
    return tmp_path


def test_preprocess_builds_messages_within_the_pixel_budget(files: Path) -> None:
    rows = [
        row_for(files, mcq_row("img", image="big.jpg")),
        row_for(files, mcq_row("bad", image="bad.jpg"), 2),
        row_for(files, {**mcq_row("vid"), "subset": "Video", "media": [{"type": "video", "path": "door.mp4"}]}, 3),
        invalid_row("m", "m.jsonl", 4, "broken", "id: duplicate id"),
    ]
    config = PreprocessConfig.model_validate({"max_pixels": 100_000, "thumbnail_px": 32,
                                              "video": {"send_media_io_kwargs": True}})
    out = PreprocessStage(config)(read_table(rows))
    assert out.schema == PREPARED_SCHEMA and out.num_rows == 4
    img, bad, vid, broken = out.to_pylist()
    messages = json.loads(img["messages_json"])
    parts = messages[0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"] and parts[1]["text"] == img["prompt"]
    assert "A. Lucky Mart\nB. Sun Bakery" in img["prompt"]
    sent = Image.open(io.BytesIO(base64.b64decode(parts[0]["image_url"]["url"].split(",", 1)[1])))
    assert sent.width * sent.height <= 100_000 and max(Image.open(io.BytesIO(img["thumbnails"][0])).size) == 32
    assert bad["status"] == "error" and bad["error_stage"] == "preprocess" and "bad.jpg" in bad["error"]
    video_parts = json.loads(vid["messages_json"])[0]["content"]
    assert video_parts[0]["type"] == "video_url"
    assert video_parts[0]["video_url"]["url"].startswith("data:video/jpeg;base64,")
    assert len(video_parts[0]["video_url"]["url"].split(",")) == 1 + 4  # 2 s at 2 fps
    assert json.loads(vid["request_json"]) == {"media_io_kwargs": {"video": {"fps": 2.0, "num_frames": 4}}}
    assert img["request_json"] is None
    assert broken["status"] == "error" and broken["error_stage"] == "read" and broken["messages_json"] is None


def test_blind_pass_adds_a_media_free_twin_only_for_prepared_samples_with_media(files: Path) -> None:
    import hashlib

    rows = [
        row_for(files, mcq_row("img", image="big.jpg")),
        row_for(files, mcq_row("bad", image="bad.jpg"), 2),
        invalid_row("m", "m.jsonl", 3, "broken", "id: duplicate id"),
    ]
    out = PreprocessStage(PreprocessConfig(), blind_pass=True)(read_table(rows)).to_pylist()
    assert [(row["sample_id"], row["variant"]) for row in out] == [
        ("img", "standard"), ("img", "blind"), ("bad", "standard"), ("broken", "standard")]
    standard, blind = out[0], out[1]
    assert standard["media_digests"] == [hashlib.sha256((files / "big.jpg").read_bytes()).hexdigest()]
    assert blind["media_digests"] == standard["media_digests"] and blind["prompt"] == standard["prompt"]
    text_only = [{"role": "user", "content": [{"type": "text", "text": blind["prompt"]}]}]
    assert json.loads(blind["messages_json"]) == text_only
    assert blind["thumbnails"] is None and blind["thumbnail_captions"] is None and len(standard["thumbnails"]) == 1


def test_video_frames_as_images_and_a_system_prompt(files: Path) -> None:
    config = PreprocessConfig.model_validate({"video": {"send_as": "images", "fps": 1},
                                              "prompts": {"system": "You audit shops."}})
    row = row_for(files, {**mcq_row("vid"), "subset": "Video", "media": [{"type": "video", "path": "door.mp4"}]})
    messages = json.loads(PreprocessStage(config)(read_table([row])).to_pylist()[0]["messages_json"])
    assert messages[0] == {"role": "system", "content": "You audit shops."}
    assert [p["type"] for p in messages[1]["content"]] == ["image_url", "image_url", "text"]


def test_stage_wired_wrongly_names_itself_and_the_columns_it_got() -> None:
    batch = pa.Table.from_pylist([inferred(format="open", answer="x", response="x")], schema=INFERRED_SCHEMA)
    with pytest.raises(StageInputError, match=r"stage 'scoring' needs column\(s\) \['response'\]; the batch has \["):
        ScoringStage(ScoringConfig())(batch.drop_columns(["response"]))


def inferred(**values) -> dict:
    row = dict.fromkeys(INFERRED_SCHEMA.names)
    row.update(sample_id="s", status="ok", options=[], media_refs=[], weight=1.0, critical=False)
    row.update(values)
    return row


def test_scoring_passes_by_format_threshold_and_keeps_failed_rows() -> None:
    rows = [
        inferred(sample_id="m", format="mcq", options=["x", "y", "z"], answer="C", response="Answer: (C)"),
        inferred(sample_id="u", format="mcq", options=["x", "y"], answer="A", response="I cannot tell."),
        inferred(sample_id="f", format="format", answer='{"open": true, "price": 12.5}',
                 response='```json\n{"open": true, "price": "¥13"}\n```'),
        inferred(sample_id="o", format="open", answer="红色的苹果", response="是红色的苹果"),
        inferred(sample_id="e", format="open", answer="x", status="error", error_stage="inference", error="HTTP 500"),
    ]
    table = ScoringStage(ScoringConfig(format_pass_threshold=0.5, open_pass_threshold=0.6))(
        pa.Table.from_pylist(rows, schema=INFERRED_SCHEMA))
    assert table.schema == RESULT_SCHEMA
    m, u, f, o, e = table.to_pylist()
    assert (m["extracted"], m["score"], m["passed"], m["scorer"]) == ("C", 1.0, True, "choice")
    assert u["unparsed"] and not u["passed"] and u["score"] == 0.0
    assert f["score"] == 0.5 and f["passed"] and f["scorer"] == "structured"
    assert 0.6 <= o["score"] < 1.0 and o["passed"] and o["scorer"] == "token_f1"
    assert e["status"] == "error" and e["score"] == 0.0 and not e["passed"] and e["error"] == "HTTP 500"


def test_inference_stage_turns_failed_requests_into_rows() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        sample = request.headers["x-ray-eval-sample"]
        if sample == "down":
            return httpx.Response(503, json={"error": {"message": "overloaded"}})
        choice = {"message": {"content": f"echo {sample}"}, "finish_reason": "stop"}
        return httpx.Response(200, json={"model": "m", "choices": [choice],
                                         "usage": {"prompt_tokens": 9, "completion_tokens": 3}})

    spec = EngineSpec(OpenAIEngineConfig(base_url="http://engine.test/v1", model="m", max_retries=1,
                                         backoff_initial_s=0), None, 4)
    stage = InferenceStage(spec, SamplingConfig(max_tokens=16))
    stage.engine = OpenAIChatEngine("http://engine.test/v1", "m", retry=RetryPolicy(max_retries=1, backoff_initial_s=0),
                                    transport=httpx.MockTransport(answer))  # swap the network, not globals
    prepared = dict.fromkeys(PREPARED_SCHEMA.names)
    prepared.update(status="ok", options=[], media_refs=[], weight=1.0, critical=False,
                    messages_json=json.dumps([{"role": "user", "content": "q"}]))
    rows = [{**prepared, "sample_id": "up"}, {**prepared, "sample_id": "down"},
            {**prepared, "sample_id": "skipped", "status": "error", "error_stage": "preprocess"}]
    out = asyncio.run(stage(pa.Table.from_pylist(rows, schema=PREPARED_SCHEMA)))
    assert out.schema == INFERRED_SCHEMA and "messages_json" not in out.column_names
    up, down, skipped = out.to_pylist()
    assert up["response"] == "echo up" and up["prompt_tokens"] == 9 and up["attempts"] == 1
    assert down["status"] == "error" and down["error_type"] == "HTTP 503" and down["attempts"] == 2
    assert down["engine_fault"] is True and up["engine_fault"] is None  # a 503 is the engine's, never the model's
    assert skipped["error_stage"] == "preprocess" and skipped["response"] is None
