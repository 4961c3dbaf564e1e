"""Preprocess: fetch and decode media, resize to the pixel budget, sample video frames, build chat messages.

With a blind pass, each sample with media also yields a "blind" row: the same prompt without its media, for the
visual diagnostics (MG, VNR, VIF). The run writes blind rows to their own file, so results.parquet keeps exactly
one row per dataset sample.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa

from ray_eval.config import PreprocessConfig
from ray_eval.media import (
    MediaError,
    data_url,
    effective_fps,
    fetch_bytes,
    fit_pixels,
    prepare_image,
    sample_video,
    thumbnail_jpeg,
    video_frames_url,
)
from ray_eval.pipeline.stage import CARRIED, Stage, failed
from ray_eval.records import BLIND, PREPARED_SCHEMA, READ_SCHEMA, STANDARD, Media, media_from_row
from ray_eval.shopbench.prompts import build_messages, image_part, render_prompt, video_part
from ray_eval.shopbench.taxonomy import MediaKind
from ray_eval.shopbench.tokens import PromptEstimate

PROMPT_TOO_LONG = "PromptTooLong"


class PreprocessStage(Stage):
    name = "preprocess"
    input_columns = tuple(READ_SCHEMA.names)
    output_schema = PREPARED_SCHEMA

    def __init__(self, config: PreprocessConfig, blind_pass: bool = False):
        self.config = config
        self.blind_pass = blind_pass

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = []
        for row in self.rows(batch):
            prepared = self.prepare(row)
            rows.append(prepared)
            if self.blind_pass and prepared["status"] == "ok" and prepared["media_digests"]:
                rows.append(self.blind(prepared))
        return self.table(rows)

    def blind(self, prepared: dict[str, Any]) -> dict[str, Any]:
        """The same question without its media (the prompt text is unchanged)."""
        messages = build_messages(self.config.prompts.system, [], prepared["prompt"])
        return {**prepared, "variant": BLIND, "thumbnail": None, "request_json": None,
                "messages_json": json.dumps(messages, ensure_ascii=False)}

    def prepare(self, row: dict[str, Any]) -> dict[str, Any]:
        carried = {name: row[name] for name in CARRIED} | {"variant": STANDARD}
        if row["status"] != "ok":
            return carried
        try:
            parts, first_picture, request_extra, digests, estimate = self._media_parts(row)
            prompt = render_prompt(self.config.prompts, row["format"], row["question"], row["options"], row["answer_schema"])
        except MediaError as exc:
            return failed(carried, self.name, getattr(exc, "kind", "MediaError"), str(exc))
        except Exception as exc:  # noqa: BLE001 - one odd sample must not stop the run; its row says what happened
            return failed(carried, self.name, type(exc).__name__, f"{type(exc).__name__}: {exc}")
        thumbnail = thumbnail_jpeg(first_picture, self.config.thumbnail_px) if self.config.thumbnail_px else None
        described = {**carried, "prompt": prompt, "thumbnail": thumbnail, "media_digests": digests}
        too_long = self._too_long(estimate, prompt)
        if too_long is not None:  # refused here: the engine would refuse it, after a round trip and retries
            return failed(described, self.name, PROMPT_TOO_LONG, too_long)
        messages = build_messages(self.config.prompts.system, parts, prompt)
        return {**described, "messages_json": json.dumps(messages, ensure_ascii=False),
                "request_json": json.dumps(request_extra) if request_extra else None}

    def _too_long(self, estimate: PromptEstimate, prompt: str) -> str | None:
        """Why the prompt is too long for preprocess.max_prompt_tokens, or None when it fits (or nothing is set)."""
        limit = self.config.max_prompt_tokens
        if limit is None:
            return None
        estimate.add_messages([text for text in (self.config.prompts.system, prompt) if text])
        if estimate.total <= limit:
            return None
        return f"estimated {estimate.describe()} exceed preprocess.max_prompt_tokens {limit:,}"

    def _media_parts(self, row: dict[str, Any]) -> tuple[list[dict[str, Any]], Any, dict[str, Any], list[str],
                                                         PromptEstimate]:
        parts: list[dict[str, Any]] = []
        first_picture = None
        request_extra: dict[str, Any] = {}
        digests: list[str] = []
        estimate = PromptEstimate()  # the media's part; the text's is added once the prompt is rendered
        for index, media in enumerate(media_from_row(row)):
            try:
                picture = self._add_media(media, parts, request_extra, digests, estimate)
            except MediaError as exc:  # name the field as the read stage does: media.<index>: <file>: <why>
                renamed = type(exc)(f"media.{index}: {exc}")
                raise renamed from None
            first_picture = first_picture if first_picture is not None else picture
        return parts, first_picture, request_extra, digests, estimate

    def _add_media(self, media: Media, parts: list[dict[str, Any]], request_extra: dict[str, Any], digests: list[str],
                   estimate: PromptEstimate) -> Any:
        """Fetch, decode and encode one media item into `parts`; its decoded picture (for the thumbnail)."""
        config = self.config
        data = fetch_bytes(media)
        digests.append(hashlib.sha256(data).hexdigest())
        if media.kind is MediaKind.IMAGE:
            encoded, picture = prepare_image(
                data, media.ref, max_pixels=config.max_pixels, quality=config.jpeg_quality,
                max_image_pixels=config.max_image_pixels, resize=config.send_images_as == "resized",
            )
            parts.append(image_part(data_url(encoded.data, encoded.mime)))
            estimate.add_image(*fit_pixels(encoded.width, encoded.height, config.max_pixels))  # as the engine sees it
            return picture
        video = sample_video(
            data, media.ref, fps=config.video.fps, max_frames=config.video.max_frames,
            max_pixels=config.video.max_pixels_per_frame, quality=config.jpeg_quality,
            min_frames=config.video.min_frames,
        )
        if config.video.send_as == "video_frames":
            parts.append(video_part(video_frames_url(video.frames)))
            estimate.add_video(len(video.frames), video.frames[0].width, video.frames[0].height)
        if config.video.send_as == "video_frames" and config.video.send_media_io_kwargs:
            # vLLM assumes 1 fps and keeps 32 frames of a JPEG-frame video unless told otherwise.
            request_extra["media_io_kwargs"] = {"video": {
                "fps": effective_fps(video.timestamps, config.video.fps), "num_frames": len(video.frames)}}
        if config.video.send_as == "images":
            parts.extend(image_part(data_url(frame.data, frame.mime)) for frame in video.frames)
            for frame in video.frames:
                estimate.add_image(frame.width, frame.height)
        return video.first_frame
