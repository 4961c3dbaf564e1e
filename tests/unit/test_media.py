"""Media: decode, pixel budgets, pass-through, bombs and broken files, video frame sampling."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

import ray_eval.pipeline.media as media
from ray_eval.pipeline.media import (
    DecompressionBomb,
    MediaError,
    data_url,
    fetch_bytes,
    fit_pixels,
    prepare_image,
    sample_video,
    sampling_times,
    thumbnail_jpeg,
    video_frames_url,
)
from ray_eval.records import Media
from tests.conftest import jpeg_bytes, mp4_bytes


def png_bytes(size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, (0, 255, 0, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def noisy_jpeg() -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(("size", "budget", "expected"), [
    ((100, 100), 20_000, (100, 100)),
    ((4000, 3000), 602_112, (896, 672)),
    ((10, 10_000), 1024, (1, 1011)),
])
def test_fit_pixels_keeps_aspect_and_budget(size, budget, expected) -> None:
    width, height = fit_pixels(*size, budget)
    assert (width, height) == expected
    assert width * height <= budget or (width, height) == size


def test_small_jpeg_and_png_pass_through_unchanged() -> None:
    data = jpeg_bytes(size=(64, 48))
    encoded, picture = prepare_image(data, "a.jpg", max_pixels=10_000, quality=90, max_image_pixels=10**8)
    assert encoded.data == data and encoded.mime == "image/jpeg" and picture.size == (64, 48)
    png = png_bytes()
    encoded, _ = prepare_image(png, "a.png", max_pixels=10_000, quality=90, max_image_pixels=10**8)
    assert encoded.data == png and encoded.mime == "image/png"


def test_large_image_is_resized_into_the_budget() -> None:
    data = jpeg_bytes(size=(1600, 1200))
    encoded, _ = prepare_image(data, "big.jpg", max_pixels=120_000, quality=80, max_image_pixels=10**8)
    assert encoded.mime == "image/jpeg" and encoded.width * encoded.height <= 120_000
    assert Image.open(io.BytesIO(encoded.data)).size == (encoded.width, encoded.height) == (400, 300)


def test_exif_rotated_photo_is_turned_upright() -> None:
    image = Image.new("RGB", (60, 20), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    encoded, _ = prepare_image(buffer.getvalue(), "phone.jpg", max_pixels=10_000, quality=90, max_image_pixels=10**8)
    assert (encoded.width, encoded.height) == (20, 60)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not a readable image"),
    (b"this is not an image", "not a readable image"),
    (jpeg_bytes(size=(200, 200))[:400], "not a readable image"),  # cut inside the header
    (noisy_jpeg()[: len(noisy_jpeg()) // 2], "corrupt or truncated"),  # cut inside the pixels
])
def test_broken_images_are_media_errors(data: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        prepare_image(data, "bad.jpg", max_pixels=10_000, quality=90, max_image_pixels=10**8)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(DecompressionBomb, match="over the limit"):
        prepare_image(png_bytes((3000, 3000)), "bomb.png", max_pixels=10_000, quality=90, max_image_pixels=1_000_000)


def test_fetch_reads_paths_bytes_and_data_uris(tmp_path) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg_bytes())
    assert fetch_bytes(Media(kind="image", path=str(path))) == jpeg_bytes()
    assert fetch_bytes(Media(kind="image", data=b"abc")) == b"abc"
    assert fetch_bytes(Media(kind="image", uri=data_url(b"xyz", "image/png"))) == b"xyz"
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        fetch_bytes(Media(kind="image", path=str(empty)))
    with pytest.raises(MediaError, match="cannot read"):
        fetch_bytes(Media(kind="image", path=str(tmp_path / "gone.jpg")))


def test_sampling_times_follow_fps_then_spread_under_the_cap() -> None:
    assert sampling_times(0.0, 2.0, 2.0, 32) == [0.0, 0.5, 1.0, 1.5]
    spread = sampling_times(0.0, 100.0, 2.0, 4)
    assert spread == [12.5, 37.5, 62.5, 87.5]


def test_video_frames_are_sampled_resized_and_encoded() -> None:
    video = sample_video(mp4_bytes(frames=16, fps=8), "door.mp4", fps=2.0, max_frames=32, max_pixels=1024, quality=80)
    assert video.duration_s == pytest.approx(2.0) and video.source_fps == pytest.approx(8.0)
    assert video.timestamps == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert all(frame.width * frame.height <= 1024 for frame in video.frames)
    brightness = [np.asarray(Image.open(io.BytesIO(f.data)).convert("L")).mean() for f in video.frames]
    # Later frames are the brighter ones.
    assert brightness == sorted(brightness) and brightness[-1] - brightness[0] > 100
    capped = sample_video(mp4_bytes(frames=16, fps=8), "door.mp4", fps=8.0, max_frames=3, max_pixels=1024, quality=80)
    assert len(capped.frames) == 3
    url = video_frames_url(video.frames)
    assert url.startswith("data:video/jpeg;base64,") and len(url.split(",")) == 1 + len(video.frames)
    assert base64.b64decode(url.split(",")[1]) == video.frames[0].data


def test_a_clip_too_short_for_min_frames_repeats_its_last_frame() -> None:
    one_frame = sample_video(mp4_bytes(frames=1, fps=8), "blink.mp4", fps=2.0, max_frames=8, max_pixels=1024,
                             quality=80, min_frames=2)
    assert len(one_frame.frames) == 2 and one_frame.frames[0].data == one_frame.frames[1].data


@pytest.mark.parametrize("data", [b"", b"not a video at all", mp4_bytes()[:200]])
def test_unreadable_videos_are_media_errors(data: bytes) -> None:
    with pytest.raises(MediaError):
        sample_video(data, "bad.mp4", fps=2.0, max_frames=8, max_pixels=1024, quality=80)


def test_a_large_jpeg_is_decoded_at_reduced_scale_with_the_same_result() -> None:
    """A 12 MP photo meant for 0.6 MP decodes at a reduced DCT scale: same output size, nearly the same pixels as
    resizing the fully decoded image (the reduced decode averages 4x4 blocks, which the resize would do too)."""
    rng = np.random.default_rng(1)
    width, height = 4000, 3000
    gradient = np.linspace(0, 255, width)[None, :, None] + np.linspace(0, 120, height)[:, None, None]
    pixels = (gradient + rng.normal(0, 10, (height, width, 3))).clip(0, 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()

    opened = media._read_header(data, "photo.jpg", 10**9)  # prepare_image's own steps, its decode looked at
    media._decode_at_least(opened, fit_pixels(width, height, 602_112))
    assert media._decoded(opened, "photo.jpg").size == (1000, 750)  # 1/4: the smallest DCT scale above 896x672
    encoded, picture = prepare_image(data, "photo.jpg", max_pixels=602_112, quality=90, max_image_pixels=10**9)
    assert (encoded.width, encoded.height) == fit_pixels(width, height, 602_112) == picture.size
    reference = Image.open(io.BytesIO(data)).convert("RGB").resize(picture.size, Image.Resampling.BICUBIC)
    difference = np.abs(np.asarray(picture, dtype=float) - np.asarray(reference, dtype=float)).mean()
    assert difference < 3.0  # out of 255: invisible at this budget


def test_video_sampling_converts_only_the_chosen_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Timestamps come from the packets; of a 48-frame clip sampled at 2 fps, only the 6 chosen frames become RGB."""
    import av

    converted = []
    to_image = av.VideoFrame.to_image

    def counting(frame, *args, **kwargs):
        converted.append(frame.time)
        return to_image(frame, *args, **kwargs)

    monkeypatch.setattr(av.VideoFrame, "to_image", counting)  # called on the chosen frames, once resized
    video = sample_video(mp4_bytes(frames=48, fps=16), "long.mp4", fps=2.0, max_frames=32, max_pixels=1024, quality=80)
    assert video.timestamps == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    assert sorted(converted) == pytest.approx(video.timestamps)


@pytest.mark.parametrize("declared", [[], [0.0, 0.5, 1.0, 9.0]], ids=["no-packet-timestamps", "phantom-packet"])
def test_without_usable_packet_times_the_frames_that_decode_are_sampled(monkeypatch: pytest.MonkeyPatch,
                                                                      declared: list[float]) -> None:
    """Packets without timestamps, or a packet that decodes to no frame (a damaged stream): the sampling falls
    back to the decoded frames' own times, and gives what an intact stream gives."""
    data = mp4_bytes(frames=16, fps=8)
    intact = sample_video(data, "door.mp4", fps=2.0, max_frames=32, max_pixels=1024, quality=80)
    monkeypatch.setattr(media, "_packet_times", lambda data, ref: (declared, 8.0))
    fallback = sample_video(data, "door.mp4", fps=2.0, max_frames=32, max_pixels=1024, quality=80)
    assert fallback.timestamps == intact.timestamps == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert [frame.data for frame in fallback.frames] == [frame.data for frame in intact.frames]


def test_original_images_are_checked_and_sent_as_their_own_bytes() -> None:
    """send_images_as: original — a large JPEG is fully decoded (a cut one still fails) and sent unchanged; a
    rotated one is still turned upright."""
    data = noisy_jpeg()
    encoded, picture = prepare_image(data, "big.jpg", max_pixels=10_000, quality=90, max_image_pixels=10**8,
                                     resize=False)
    assert encoded.data == data and (encoded.width, encoded.height) == Image.open(io.BytesIO(data)).size
    assert picture.size == (encoded.width, encoded.height)  # decoded in full, not at a reduced DCT scale
    with pytest.raises(MediaError, match="cut.jpg"):
        prepare_image(data[: len(data) // 2], "cut.jpg", max_pixels=10_000, quality=90, max_image_pixels=10**8,
                      resize=False)
    rotated = Image.open(io.BytesIO(data))
    exif = rotated.getexif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90 degrees
    buffer = io.BytesIO()
    rotated.save(buffer, format="JPEG", exif=exif)
    upright, _ = prepare_image(buffer.getvalue(), "phone.jpg", max_pixels=10_000, quality=90,
                               max_image_pixels=10**8, resize=False)
    assert (upright.width, upright.height) == (rotated.height, rotated.width) and upright.data != buffer.getvalue()


def test_an_image_sent_as_it_is_decodes_only_at_its_thumbnails_scale() -> None:
    """A 640x480 JPEG within the budget is sent as its own bytes; the picture returned for its 160 px thumbnail is
    decoded at 1/4 scale, and the thumbnail looks like one made from the full decode. A cut file still fails."""
    width, height = 640, 480
    gradient = np.linspace(0, 255, width)[None, :, None] + np.linspace(0, 120, height)[:, None, None]
    pixels = (gradient + np.random.default_rng(2).normal(0, 10, (height, width, 3))).clip(0, 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()

    encoded, picture = prepare_image(data, "shelf.jpg", max_pixels=602_112, quality=90, max_image_pixels=10**8,
                                     thumbnail_px=160)
    assert encoded.data == data and (encoded.width, encoded.height) == (640, 480)
    assert picture.size == (160, 120)
    full = Image.open(io.BytesIO(thumbnail_jpeg(Image.open(io.BytesIO(data)), 160)))
    reduced = Image.open(io.BytesIO(thumbnail_jpeg(picture, 160)))
    assert reduced.size == full.size == (160, 120)
    assert np.abs(np.asarray(reduced, dtype=float) - np.asarray(full, dtype=float)).mean() < 3.0
    for cut in (len(data) // 2, len(data) - 40):
        with pytest.raises(MediaError, match="cut.jpg: image data is corrupt or truncated"):
            prepare_image(data[:cut], "cut.jpg", max_pixels=602_112, quality=90, max_image_pixels=10**8,
                          thumbnail_px=160)
    png = png_bytes((640, 480))
    encoded, picture = prepare_image(png, "shelf.png", max_pixels=602_112, quality=90, max_image_pixels=10**8,
                                     thumbnail_px=160)
    assert encoded.data == png and picture.size == (640, 480)  # only a JPEG decodes at a reduced scale
