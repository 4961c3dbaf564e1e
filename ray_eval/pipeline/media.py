"""Media in one place: fetch bytes, decode, resize to a pixel budget, sample video frames, encode, data URLs.

Every function raises MediaError (a per-sample failure that becomes the row's error), never a bare PIL or
FFmpeg exception.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlparse

import av
import httpx
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageOps

from ray_eval.records import Media

EXIF_ORIENTATION = 0x0112
PASS_THROUGH_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class MediaError(ValueError):
    """A media item could not be fetched or decoded; the message names it."""

    kind = "MediaError"


class DecompressionBomb(MediaError):
    """An image declares more pixels than allowed."""

    kind = "DecompressionBomb"


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    mime: str
    width: int
    height: int


def fetch_bytes(media: Media, timeout_s: float = 30.0) -> bytes:
    """The raw bytes of a media item: a local file, inline bytes, a data: URI, http(s) or an object store."""
    try:
        if media.data is not None:
            data = media.data
        elif media.path is not None:
            with open(media.path, "rb") as handle:
                data = handle.read()
        else:
            data = _fetch_uri(media.uri or "", timeout_s)
    except OSError as exc:
        raise MediaError(f"{media.ref}: cannot read ({exc.strerror or exc})") from None
    except httpx.HTTPError as exc:
        raise MediaError(f"{media.ref}: cannot fetch ({exc})") from None
    if not data:
        raise MediaError(f"{media.ref}: is empty (0 bytes)")
    return data


def _fetch_uri(uri: str, timeout_s: float) -> bytes:
    parsed = urlparse(uri)
    if parsed.scheme == "data":
        header, _, payload = uri[5:].partition(",")
        if header.endswith(";base64"):
            try:
                return base64.b64decode(payload, validate=True)
            except ValueError:
                raise MediaError(f"{uri[:40]}...: invalid base64 in data URI") from None
        return unquote_to_bytes(payload)
    if parsed.scheme in ("http", "https"):
        response = httpx.get(uri, timeout=timeout_s, follow_redirects=True)
        response.raise_for_status()
        return response.content
    import pyarrow.fs  # object stores (s3, gs, hdfs ...): pyarrow already knows them

    filesystem, path = pyarrow.fs.FileSystem.from_uri(uri)
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


def _read_header(data: bytes, ref: str, max_image_pixels: int) -> Image.Image:
    """The image opened, its pixels not yet decoded; a decompression bomb refused by what its header declares."""
    try:
        image = Image.open(io.BytesIO(data))
    # The warning too: where an error filter is on, Pillow raises it.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(f"{ref}: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"{ref}: not a readable image ({exc})") from None
    width, height = image.size
    if width * height > max_image_pixels:
        raise DecompressionBomb(f"{ref}: declares {width}x{height} pixels, over the limit of {max_image_pixels}")
    return image


def _decode_at_least(image: Image.Image, size: tuple[int, int]) -> None:
    """Have a JPEG decode at the smallest DCT scale (1/2, 1/4, 1/8) still at least `size`. The decoder reads every
    byte of the file at any scale: a truncated or corrupt file fails as it would at full size."""
    if image.format == "JPEG" and size[0] * size[1] < image.width * image.height:
        image.draft("RGB", size)


def _decoded(image: Image.Image, ref: str) -> Image.Image:
    """The pixels decoded now: a truncated or corrupt file fails here, not at the engine."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise MediaError(f"{ref}: image data is corrupt or truncated ({exc})") from None
    return image


def fit_pixels(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size with the same aspect ratio and at most max_pixels pixels (never upscaled)."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def prepare_image(data: bytes, ref: str, *, max_pixels: int, quality: int, max_image_pixels: int,
                  resize: bool = True, thumbnail_px: int = 0) -> tuple[EncodedImage, Image.Image]:
    """The image as the engine should get it, and the decoded picture: large enough for a thumbnail whose longest
    side is `thumbnail_px` (0: the picture as sent).

    Images already within the budget and in a format every engine reads are sent as they are: no second
    lossy encode, no CPU spent. With `resize=False` so is every upright image in such a format, whatever its size.
    Such an image is still decoded, to check it, but a JPEG only at the scale its thumbnail needs: for a 640x480
    photo and a 160 px thumbnail, the decode and the thumbnail cost 0.8 ms instead of 2.0 (measured, BENCHMARKS.md).
    """
    image = _read_header(data, ref, max_image_pixels)
    upright = image.getexif().get(EXIF_ORIENTATION, 1) == 1
    size = fit_pixels(image.width, image.height, max_pixels) if resize else image.size
    if upright and size == image.size and image.format in PASS_THROUGH_FORMATS:
        sent = EncodedImage(data, PASS_THROUGH_FORMATS[image.format], *image.size)
        if thumbnail_px:
            _decode_at_least(image, thumbnail_size(image.size, thumbnail_px))
        return sent, _decoded(image, ref)
    _decode_at_least(image, size)  # a large JPEG meant for the budget: decoded at a scale no smaller than it
    image = _decoded(image, ref)
    oriented = image if upright else ImageOps.exif_transpose(image)  # phone photos: the pixels the person saw
    size = fit_pixels(oriented.width, oriented.height, max_pixels) if resize else oriented.size
    resized = rgb(oriented).resize(size, Image.Resampling.BICUBIC) if size != oriented.size else rgb(oriented)
    return EncodedImage(encode_jpeg(resized, quality), "image/jpeg", *size), resized


def rgb(image: Image.Image) -> Image.Image:
    """The image in RGB; the same object when it already is (Pillow's convert would copy every pixel)."""
    return image if image.mode == "RGB" else image.convert("RGB")


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    rgb(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


THUMBNAIL_QUALITY = 70
STRIP_FRAMES = 8  # a video's strip shows at most this many of the frames sent, evenly picked
STRIP_WIDTH = 4  # a strip is at most this many times the thumbnail size wide (and at most that size high)


def thumbnail_size(size: tuple[int, int], longest_side: int) -> tuple[int, int]:
    """The size of a thumbnail whose longest side is at most `longest_side` (never enlarged)."""
    width, height = size
    scale = min(1.0, longest_side / max(size))
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumbnail_jpeg(image: Image.Image, longest_side: int) -> bytes:
    return encode_jpeg(_shrunk(image, thumbnail_size(image.size, longest_side)), THUMBNAIL_QUALITY)


def _shrunk(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    # reducing_gap: an integer box reduction first, then the filter over few pixels (what thumbnail() does, without
    # copying the picture first: a copy of a 4 MP picture costs more than the whole thumbnail).
    return rgb(image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


def strip_positions(count: int, cap: int = STRIP_FRAMES) -> list[int]:
    """Which of `count` frames a strip shows: all of them, or `cap` spread evenly from the first to the last."""
    if count <= cap:
        return list(range(count))
    return [round(index * (count - 1) / (cap - 1)) for index in range(cap)]


def frame_strip_jpeg(frames: list[Image.Image], thumbnail_px: int) -> bytes:
    """The frames side by side at one height, as one small JPEG: at most thumbnail_px high and STRIP_WIDTH times
    that wide, never enlarged. Made from the frames already decoded for the request (no second decode)."""
    aspects = [frame.width / frame.height for frame in frames]
    height = min(thumbnail_px, min(frame.height for frame in frames),
                 math.floor(STRIP_WIDTH * thumbnail_px / sum(aspects)))
    height = max(1, height)
    widths = [max(1, round(aspect * height)) for aspect in aspects]
    strip = Image.new("RGB", (sum(widths), height))
    left = 0
    for frame, width in zip(frames, widths, strict=True):
        strip.paste(_shrunk(frame, (width, height)), (left, 0))
        left += width
    return encode_jpeg(strip, THUMBNAIL_QUALITY)


@dataclass(frozen=True)
class SampledVideo:
    frames: list[EncodedImage]
    timestamps: list[float]  # seconds, of each sampled frame
    duration_s: float
    source_fps: float
    pictures: list[Image.Image]  # each sampled frame decoded (a repeated frame is the same picture), for the strip


def sample_video(data: bytes, ref: str, *, fps: float, max_frames: int, max_pixels: int, quality: int,
                 min_frames: int = 1) -> SampledVideo:
    """Frames at `fps` (evenly spread over the video when that would exceed `max_frames`), resized and
    JPEG-encoded; a clip too short for `min_frames` repeats its last frame (Qwen-VL models merge frames in pairs
    and refuse a one-frame video).

    The frames' timestamps are read first from the container's packets, without decoding; the decode that follows
    converts to RGB only the frames chosen. Memory stays a few frames, not the whole video, and the colour
    conversion is paid for a few frames, not all of them."""
    try:
        times, source_fps = _packet_times(data, ref)
        chosen, duration = _choose(times, source_fps, fps, max_frames)
        pictures, decoded = _decode_at(data, set(chosen), max_pixels)
        if not chosen or any(moment not in pictures for moment in chosen):
            # Packets without timestamps, or a damaged stream whose packets decode to no frame: choose among the
            # frames that did decode.
            chosen, duration = _choose(decoded, source_fps, fps, max_frames)
            pictures, _ = _decode_at(data, set(chosen), max_pixels)
    except av.FFmpegError as exc:
        raise MediaError(f"{ref}: not a readable video ({exc})") from None
    if not chosen:
        raise MediaError(f"{ref}: video has no frames (its stream holds no decodable frame)")
    chosen += [chosen[-1]] * (min_frames - len(chosen))
    frames = [EncodedImage(encode_jpeg(pictures[moment], quality), "image/jpeg", *pictures[moment].size)
              for moment in chosen]
    return SampledVideo(frames, chosen, duration, source_fps, [pictures[moment] for moment in chosen])


def _packet_times(data: bytes, ref: str) -> tuple[list[float], float]:
    """Presentation times (s, sorted) of the first video stream's frames as its packets declare them (no decoding;
    empty when any packet has no timestamp), and the stream's average frame rate."""
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.video:
            raise MediaError(f"{ref}: has no video stream (audio only, or no frames at all)")
        stream = container.streams.video[0]
        packets = [packet for packet in container.demux(stream) if packet.size]
        # FFmpeg gives every demuxed stream a time base; without one the packets' times are unknown, as without pts.
        time_base = stream.time_base
        times = [float(packet.pts * time_base) for packet in packets if packet.pts is not None] if time_base else []
        return sorted(times) if len(times) == len(packets) else [], float(stream.average_rate or 0.0)


def _choose(times: list[float], source_fps: float, fps: float, max_frames: int) -> tuple[list[float], float]:
    """The timestamps of the frames to keep (nearest to each sampling time) and the video's duration."""
    if not times:
        return [], 0.0
    step = 1.0 / source_fps if source_fps > 0 else 0.0
    duration = times[-1] - times[0] + step
    wanted = sampling_times(times[0], duration, fps, max_frames)
    return [min(times, key=lambda t: abs(t - moment)) for moment in wanted], duration


def _decode_at(data: bytes, moments: set[float], max_pixels: int) -> tuple[dict[float, Image.Image], list[float]]:
    """The frames shown at `moments` (s) as RGB pictures within max_pixels, and every decoded frame's time (sorted).
    The other frames are decoded, never converted."""
    pictures: dict[float, Image.Image] = {}
    decoded = []
    # FFmpeg's scaler resizes (with a filter widened for the reduction) and converts from YUV in one pass: several
    # times faster than converting the full frame and resizing it with Pillow. One scaler for the whole video: its
    # set-up (the filter's coefficients) costs more than a frame's scaling.
    scaler = VideoReformatter()
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(container.streams.video[0]):
            moment = float(frame.time or 0.0)
            decoded.append(moment)
            if moment in moments and moment not in pictures:
                width, height = fit_pixels(frame.width, frame.height, max_pixels)
                pictures[moment] = scaler.reformat(frame, width=width, height=height, format="rgb24",
                                                   interpolation="BICUBIC").to_image()
    return pictures, sorted(decoded)


def effective_fps(timestamps: list[float], fallback: float) -> float:
    """Frames per second of the sampled frames, as the model should be told (fallback for a single instant)."""
    if len(timestamps) > 1 and timestamps[1] > timestamps[0]:
        return round(1.0 / (timestamps[1] - timestamps[0]), 6)
    return fallback


def sampling_times(start: float, duration: float, fps: float, max_frames: int) -> list[float]:
    """Timestamps at `fps` from start; when more than max_frames, max_frames evenly spread instead."""
    count = max(1, math.floor(duration * fps + 1e-9))
    if count <= max_frames:
        return [start + i / fps for i in range(count)]
    return [start + duration * (i + 0.5) / max_frames for i in range(max_frames)]


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def video_frames_url(frames: list[EncodedImage]) -> str:
    """vLLM's form for pre-sampled frames: one data URL of type video/jpeg, frames' base64 joined by commas."""
    return "data:video/jpeg;base64," + ",".join(base64.b64encode(f.data).decode("ascii") for f in frames)
