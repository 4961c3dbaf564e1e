"""Preprocess: fetch and decode media, resize to the pixel budget, sample video frames, build chat messages.

With a blind pass, each sample with media also yields a "blind" row: the same prompt without its media, for the
visual diagnostics (MG, VNR, VIF). The run writes blind rows to their own file, so results.parquet keeps exactly
one row per dataset sample.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ray_eval.config import PreprocessConfig
from ray_eval.data.taxonomy import MediaKind
from ray_eval.pipeline.media import (
    MediaError,
    SampledVideo,
    data_url,
    effective_fps,
    fetch_bytes,
    fit_pixels,
    frame_strip_jpeg,
    prepare_image,
    sample_video,
    strip_positions,
    thumbnail_jpeg,
    video_frames_url,
)
from ray_eval.pipeline.prompts import build_messages, image_part, render_prompt, video_part
from ray_eval.pipeline.stage import CARRIED, Stage, failed
from ray_eval.pipeline.tokens import PromptEstimate
from ray_eval.records import BLIND, PREPARED_SCHEMA, READ_SCHEMA, STANDARD, Media, media_from_row

PROMPT_TOO_LONG = "PromptTooLong"


class PreprocessStage(Stage):
    name = "preprocess"
    input_columns = tuple(READ_SCHEMA.names)
    output_schema = PREPARED_SCHEMA

    def __init__(self, config: PreprocessConfig, blind_pass: bool = False):
        self.config = config
        self.blind_pass = blind_pass

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.table(self.prepare_rows(self.rows(batch)))

    def prepare_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each row prepared, followed by its blind row when there is one."""
        prepared_rows = []
        for row in rows:
            prepared = self.prepare(row)
            prepared_rows.append(prepared)
            if self.blind_pass and prepared["status"] == "ok" and prepared["media_digests"]:
                prepared_rows.append(self.blind(prepared))
        return prepared_rows

    def blind(self, prepared: dict[str, Any]) -> dict[str, Any]:
        """The same question without its media (the prompt text is unchanged)."""
        messages = build_messages(self.config.prompts.system, [], prepared["prompt"])
        return {**prepared, "variant": BLIND, "thumbnails": None, "thumbnail_captions": None, "request_json": None,
                "messages_json": json.dumps(messages, ensure_ascii=False)}

    def prepare(self, row: dict[str, Any]) -> dict[str, Any]:
        carried = {name: row[name] for name in CARRIED} | {"variant": STANDARD}
        if row["status"] != "ok":
            return carried
        try:
            media = self._media_parts(row)
            prompt = render_prompt(self.config.prompts, row["format"], row["question"], row["options"],
                                   row["answer_schema"])
        except MediaError as exc:
            return failed(carried, self.name, getattr(exc, "kind", "MediaError"), str(exc))
        except Exception as exc:  # noqa: BLE001 - one odd sample must not stop the run; its row says what happened
            return failed(carried, self.name, type(exc).__name__, f"{type(exc).__name__}: {exc}")
        described = {**carried, "prompt": prompt, "thumbnails": media.thumbnails or None,
                     "thumbnail_captions": media.captions or None, "media_digests": media.digests}
        too_long = self._too_long(media.estimate, prompt)
        if too_long is not None:  # refused here: the engine would refuse it, after a round trip and retries
            return failed(described, self.name, PROMPT_TOO_LONG, too_long)
        messages = build_messages(self.config.prompts.system, media.parts, prompt)
        return {**described, "messages_json": json.dumps(messages, ensure_ascii=False),
                "request_json": json.dumps(media.request_extra) if media.request_extra else None}

    def _too_long(self, estimate: PromptEstimate, prompt: str) -> str | None:
        """Why the prompt is too long for preprocess.max_prompt_tokens, or None when it fits (or nothing is set)."""
        limit = self.config.max_prompt_tokens
        if limit is None:
            return None
        estimate.add_messages([text for text in (self.config.prompts.system, prompt) if text])
        if estimate.total <= limit:
            return None
        return f"estimated {estimate.describe()} exceed preprocess.max_prompt_tokens {limit:,}"

    def _media_parts(self, row: dict[str, Any]) -> PreparedMedia:
        prepared = PreparedMedia()
        items = media_from_row(row)
        images = sum(item.kind is MediaKind.IMAGE for item in items)
        for index, media in enumerate(items):
            try:
                self._add_media(media, prepared, index, images)
            except MediaError as exc:  # name the field as the read stage does: media.<index>: <file>: <why>
                renamed = type(exc)(f"media.{index}: {exc}")
                raise renamed from None
        return prepared

    def _add_media(self, media: Media, prepared: PreparedMedia, index: int, images: int) -> None:
        """Fetch, decode and encode one media item into `prepared`, with its thumbnail made from the pictures just
        decoded (each item's own, at once: a sample's decoded pictures are never all held together)."""
        config = self.config
        data = fetch_bytes(media)
        prepared.digests.append(hashlib.sha256(data).hexdigest())
        if media.kind is MediaKind.IMAGE:
            encoded, picture = prepare_image(
                data, media.ref, max_pixels=config.max_pixels, quality=config.jpeg_quality,
                max_image_pixels=config.max_image_pixels, resize=config.send_images_as == "resized",
                thumbnail_px=config.thumbnail_px,
            )
            prepared.parts.append(image_part(data_url(encoded.data, encoded.mime)))
            prepared.estimate.add_image(*fit_pixels(encoded.width, encoded.height, config.max_pixels))  # as sent
            if config.thumbnail_px:
                prepared.add_thumbnail(thumbnail_jpeg(picture, config.thumbnail_px),
                                       "image" if images == 1 else f"image {index + 1} of {images}")
            return
        video = sample_video(
            data, media.ref, fps=config.video.fps, max_frames=config.video.max_frames,
            max_pixels=config.video.max_pixels_per_frame, quality=config.jpeg_quality,
            min_frames=config.video.min_frames,
        )
        if config.thumbnail_px:
            shown = strip_positions(len(video.frames))
            prepared.add_thumbnail(frame_strip_jpeg([video.pictures[i] for i in shown], config.thumbnail_px),
                                   video_caption(video, shown))
        parts, estimate = prepared.parts, prepared.estimate
        if config.video.send_as == "video_frames":
            parts.append(video_part(video_frames_url(video.frames)))
            estimate.add_video(len(video.frames), video.frames[0].width, video.frames[0].height)
        if config.video.send_as == "video_frames" and config.video.send_media_io_kwargs:
            # vLLM assumes 1 fps and keeps 32 frames of a JPEG-frame video unless told otherwise.
            prepared.request_extra["media_io_kwargs"] = {"video": {
                "fps": effective_fps(video.timestamps, config.video.fps), "num_frames": len(video.frames)}}
        if config.video.send_as == "images":
            parts.extend(image_part(data_url(frame.data, frame.mime)) for frame in video.frames)
            for frame in video.frames:
                estimate.add_image(frame.width, frame.height)


@dataclass
class PreparedMedia:
    """A sample's media as the request and the report need them, item by item in the sample's order."""

    parts: list[dict[str, Any]] = field(default_factory=list)  # chat content parts
    request_extra: dict[str, Any] = field(default_factory=dict)  # extra request fields (vLLM's media_io_kwargs)
    digests: list[str] = field(default_factory=list)  # sha256 of each item's bytes
    estimate: PromptEstimate = field(default_factory=PromptEstimate)  # the media's prompt tokens
    thumbnails: list[bytes] = field(default_factory=list)  # one JPEG per item (a video's: a strip of its frames)
    captions: list[str] = field(default_factory=list)  # what each thumbnail shows

    def add_thumbnail(self, jpeg: bytes, caption: str) -> None:
        self.thumbnails.append(jpeg)
        self.captions.append(caption)


def video_caption(video: SampledVideo, shown: list[int]) -> str:
    """What a video's strip shows: `video: 4 frames at 0.0, 0.5, 1.0, 1.5 s`, or `video: 8 of 32 frames at ... s`
    when it shows fewer than were sent."""
    count = f"{len(shown)} frames" if len(shown) == len(video.frames) else f"{len(shown)} of {len(video.frames)} frames"
    return f"video: {count} at {', '.join(f'{video.timestamps[i]:.1f}' for i in shown)} s"
