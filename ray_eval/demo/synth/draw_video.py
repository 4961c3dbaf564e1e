"""The video scenes: frames drawn with Pillow, encoded to H.264 MP4 with PyAV.

Clips are small (320x240, 8 fps, 2.5-3 s) because the point is a real decodable video whose motion answers the
question, not image detail. Each clip holds its start state for a few frames and its end state for a few more, so
a model that samples only a handful of frames (2 fps is common) still sees both ends of the motion.

The encoding is made reproducible: libx264 on one thread with fixed options (see X264_OPTIONS), and FFmpeg's
bitexact flags, which keep FFmpeg's version strings and any timestamps out of the container (x264 still records
its own version and settings, which are fixed). Same frames and same libraries give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image, ImageDraw

from ray_eval.demo.synth.scenes import VIDEO_FPS, VIDEO_SIZE, DoorVideoScene, WalkerVideoScene
from ray_eval.demo.synth.vocab import font

RGB = tuple[int, int, int]
OUTLINE: RGB = (30, 30, 30)
DOORWAY: RGB = (55, 55, 60)
HOLD_FRAMES = 3  # frames the start and end states are held for

# Fixed x264 options, chosen for reproducible bytes over compression:
#   * one thread, so no work is split by timing;
#   * a constant quantiser instead of CRF: CRF turns on the macroblock tree (mbtree), and with it this libx264
#     (core 165) gave different bytes for the same frames in about 1 encode in 10; constant QP gave none in
#     hundreds (tests/unit/test_synth.py re-encodes clips to watch for it);
#   * veryfast, as the clips are tiny and flat anyway.
X264_OPTIONS = {"preset": "veryfast", "qp": "26", "threads": "1", "x264-params": "mbtree=0"}


def encode_mp4(frames: list[Image.Image], path: Path, fps: int = VIDEO_FPS) -> None:
    """Write the frames as an H.264 (yuv420p) MP4 file."""
    width, height = frames[0].size
    with av.open(str(path), mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=fps, options=dict(X264_OPTIONS))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        for number, image in enumerate(frames):
            frame = av.VideoFrame.from_image(image)
            frame.pts = number
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))  # flush the encoder's delayed frames


def _progress(frame: int, frames: int) -> float:
    """0 for the held start frames, rising linearly to 1 for the held end frames."""
    moving = frames - 2 * HOLD_FRAMES
    return min(1.0, max(0.0, (frame - HOLD_FRAMES + 1) / (moving + 1)))


# ---- door opening / closing ---------------------------------------------------------------------------------------

DOOR_BOXES = {"A": (40, 60, 130, 215), "B": (190, 60, 280, 215)}


def door_openness(scene: DoorVideoScene, door: str, frame: int) -> float:
    """How open a door is in a frame: 0 closed, 1 fully open."""
    if door != scene.moving_door:
        return 1.0 if scene.other_door_open else 0.0
    t = _progress(frame, scene.frames)
    return t if scene.opening else 1.0 - t


def draw_door_frame(scene: DoorVideoScene, frame: int) -> Image.Image:
    image = Image.new("RGB", VIDEO_SIZE, (228, 218, 196))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 215, 320, 240), fill=(160, 160, 160))
    for k, (label, (x0, y0, x1, y1)) in enumerate(DOOR_BOXES.items()):
        colour = scene.door_colours[k]
        draw.rectangle((x0 + 20, 12, x1 - 20, 50), fill=(250, 250, 250), outline=OUTLINE, width=2)
        draw.text(((x0 + x1) / 2, 31), label, font=font(30), fill=OUTLINE, anchor="mm")
        draw.rectangle((x0 - 5, y0 - 5, x1 + 5, y1), fill=(90, 70, 55))  # frame
        draw.rectangle((x0, y0, x1, y1), fill=DOORWAY)
        openness = door_openness(scene, label, frame)
        # The panel swings on its left hinge: its free edge moves towards the hinge and, being nearer the
        # camera, grows taller; a simple perspective cue that reads as a door swinging open.
        free_x = x1 - (x1 - x0) * 0.8 * openness
        bulge = 14 * openness
        panel = [(x0, y0), (free_x, y0 - bulge), (free_x, y1 + bulge * 0.3), (x0, y1)]
        draw.polygon(panel, fill=colour.rgb, outline=OUTLINE)
        knob_x = free_x - 12 if openness < 0.9 else free_x - 4
        draw.ellipse((knob_x - 4, 134, knob_x + 4, 142), fill=(220, 190, 60), outline=OUTLINE)
    return image


def door_frames(scene: DoorVideoScene) -> list[Image.Image]:
    return [draw_door_frame(scene, k) for k in range(scene.frames)]


# ---- customer walking past or into the shop ----------------------------------------------------------------------

STREET_Y = 228  # where the walker's feet are on the pavement
DOOR_SILL_Y = 190
ENTER_FRAMES = 4  # frames spent stepping through the door before the walker is gone


def walker_position(scene: WalkerVideoScene, frame: int) -> tuple[float, float, float] | None:
    """(x, feet y, scale) of the walker in a frame, or None once they have gone into the shop."""
    # Start inside the picture (the first frame already shows who walks), end outside it when walking past.
    start_x, end_x = (15.0, 340.0) if scene.left_to_right else (305.0, -20.0)
    if not scene.enters:
        t = frame / (scene.frames - 1)
        return start_x + (end_x - start_x) * t, STREET_Y, 1.0
    # Walk to the door, step in (up onto the sill, shrinking as they go deeper), then the doorway stays empty.
    walk_frames = scene.frames - ENTER_FRAMES - HOLD_FRAMES
    door_x = float(scene.door_centre_x)
    if frame < walk_frames:
        t = frame / (walk_frames - 1)
        return start_x + (door_x - start_x) * t, STREET_Y, 1.0
    step = frame - walk_frames + 1
    if step <= ENTER_FRAMES:
        t = step / ENTER_FRAMES
        return door_x, STREET_Y + (DOOR_SILL_Y - STREET_Y) * t, 1.0 - 0.4 * t
    return None


def draw_walker_frame(scene: WalkerVideoScene, frame: int) -> Image.Image:
    image = Image.new("RGB", VIDEO_SIZE, (232, 226, 214))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, DOOR_SILL_Y, 320, 240), fill=(175, 175, 175))  # pavement
    dx = scene.door_centre_x
    draw.rectangle((dx - 30, 96, dx + 30, DOOR_SILL_Y), fill=(90, 70, 55))
    draw.rectangle((dx - 24, 102, dx + 24, DOOR_SILL_Y), fill=DOORWAY)  # an open doorway
    draw.rectangle((dx - 40, 62, dx + 40, 88), fill=(250, 250, 250), outline=OUTLINE, width=2)
    draw.text((dx, 75), "SHOP", font=font(20), fill=OUTLINE, anchor="mm")
    draw.rectangle((250, 100, 310, 160), fill=(170, 200, 215), outline=OUTLINE, width=2)  # a window
    position = walker_position(scene, frame)
    if position is not None:
        _draw_walker(draw, scene, frame, *position)
    return image


def _draw_walker(
    draw: ImageDraw.ImageDraw, scene: WalkerVideoScene, frame: int, x: float, feet_y: float, scale: float
) -> None:
    def s(v: float) -> float:
        return v * scale

    stride = s(9) if frame % 2 == 0 else -s(9)  # legs alternate, so consecutive frames show steps
    hip_y = feet_y - s(40)
    draw.line((x, hip_y, x + stride, feet_y), fill=scene.trouser_colour.rgb, width=max(2, int(s(9))))
    draw.line((x, hip_y, x - stride, feet_y), fill=scene.trouser_colour.rgb, width=max(2, int(s(9))))
    draw.rectangle((x - s(13), hip_y - s(36), x + s(13), hip_y + s(2)), fill=scene.shirt_colour.rgb, outline=OUTLINE)
    head_y = hip_y - s(48)
    draw.ellipse((x - s(10), head_y, x + s(10), head_y + s(20)), fill=(235, 195, 160), outline=OUTLINE)
    # The face is drawn on the side the walker moves towards: a cue for direction in a single frame too.
    eye_x = x + (s(5) if scene.left_to_right else -s(5))
    draw.ellipse((eye_x - 2, head_y + s(7), eye_x + 2, head_y + s(7) + 4), fill=OUTLINE)


def walker_frames(scene: WalkerVideoScene) -> list[Image.Image]:
    return [draw_walker_frame(scene, k) for k in range(scene.frames)]
