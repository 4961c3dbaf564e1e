"""Pillow drawings of the still scenes: shop front, shop interior, kitchen and the before/after shelf pair.

Drawn flat and high-contrast on purpose: the set tests whether a model reads what is there (text, colours, who
wears what), not whether it copes with clutter. Text is large (24-56 px on 640x480) so a capable VLM can read it
after the usual resizing. Nothing here draws from an RNG: the scene object fixes every detail, so the same scene
always gives the same pixels.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from ray_eval.demo.synth.scenes import (
    SHELF_SLOTS,
    STILL_SIZE,
    Box,
    KitchenScene,
    ShelfChangeScene,
    ShopFrontScene,
    ShopInteriorScene,
    StaffMember,
    shelf_slot_box,
)
from ray_eval.demo.synth.vocab import Colour, clock_text, fitted_font, ink_on, price_text

RGB = tuple[int, int, int]
OUTLINE: RGB = (30, 30, 30)
WHITE: RGB = (250, 250, 250)
SKIN: RGB = (235, 195, 160)
GLOVE_BLUE: RGB = (30, 120, 240)
OPEN_GREEN: RGB = (20, 130, 45)
CLOSED_RED: RGB = (200, 20, 20)


def _canvas(background: RGB) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", STILL_SIZE, background)
    return image, ImageDraw.Draw(image)


def _centred_text(draw: ImageDraw.ImageDraw, box: Box, text: str, size: int, fill: RGB) -> None:
    """Text centred in a box, shrunk to fit its width with a small margin."""
    face = fitted_font(text, box[2] - box[0] - 12, size)
    draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text, font=face, fill=fill, anchor="mm")


# ---- ShopFront -----------------------------------------------------------------------------------------------------


def draw_shop_front(scene: ShopFrontScene) -> Image.Image:
    image, draw = _canvas((232, 222, 200))  # a plain facade
    draw.rectangle((0, 440, 640, 480), fill=(170, 170, 170))  # pavement

    board: Box = (20, 18, 620, 152)
    ink = ink_on(scene.board_colour.rgb)
    draw.rectangle(board, fill=scene.board_colour.rgb, outline=OUTLINE, width=4)
    _centred_text(draw, (board[0], 24, board[2], 100), scene.shop_name, 56, ink)
    _centred_text(draw, (board[0], 100, board[2], 146), f"TEL {scene.phone}", 32, ink)

    _draw_awning(draw, scene.awning_colour)

    door_x = 60 if scene.door_on_left else 410
    window_x = 300 if scene.door_on_left else 40
    # Door with a glass pane and the hanging OPEN / CLOSED sign.
    draw.rectangle((door_x, 228, door_x + 170, 440), fill=(90, 70, 55), outline=OUTLINE, width=3)
    draw.rectangle((door_x + 16, 244, door_x + 154, 420), fill=(170, 200, 215))
    sign: Box = (door_x + 14, 270, door_x + 156, 326)
    draw.line((door_x + 40, 246, sign[0] + 30, sign[1]), fill=OUTLINE, width=2)
    draw.line((door_x + 130, 246, sign[2] - 30, sign[1]), fill=OUTLINE, width=2)
    draw.rectangle(sign, fill=WHITE, outline=OUTLINE, width=3)
    _centred_text(
        draw, sign, "OPEN" if scene.is_open else "CLOSED", 36, OPEN_GREEN if scene.is_open else CLOSED_RED
    )
    # Shop window with the opening-hours plate ("HOURS", not "OPEN", so it never competes with the door sign).
    draw.rectangle((window_x, 228, window_x + 300, 410), fill=(170, 200, 215), outline=OUTLINE, width=4)
    plate: Box = (window_x + 40, 250, window_x + 260, 340)
    draw.rectangle(plate, fill=WHITE, outline=OUTLINE, width=2)
    _centred_text(draw, (plate[0], plate[1] + 4, plate[2], plate[1] + 40), "HOURS", 28, OUTLINE)
    hours = f"{clock_text(scene.open_hour)} - {clock_text(scene.close_hour)}"
    _centred_text(draw, (plate[0], plate[1] + 40, plate[2], plate[3] - 4), hours, 32, OUTLINE)
    return image


def _draw_awning(draw: ImageDraw.ImageDraw, colour: Colour) -> None:
    stripe = 40
    for k, x in enumerate(range(20, 620, stripe)):
        fill = colour.rgb if k % 2 == 0 else WHITE
        draw.rectangle((x, 160, min(x + stripe, 620), 200), fill=fill)
        draw.pieslice((x, 186, min(x + stripe, 620), 214), 0, 180, fill=fill)
    draw.rectangle((20, 160, 620, 200), outline=OUTLINE, width=2)


# ---- ShopInterior and the MultiImg shelf photos ------------------------------------------------------------------

WALL: RGB = (205, 210, 216)
BOARD: RGB = (70, 80, 95)
BOARD_Y = (195, 420)


def _draw_shelf_boards(draw: ImageDraw.ImageDraw) -> None:
    for y in BOARD_Y:
        draw.rectangle((10, y, 630, y + 14), fill=BOARD)


def _draw_product(draw: ImageDraw.ImageDraw, box: Box, colour: Colour) -> None:
    # A dark outline keeps white and grey boxes visible on the grey wall.
    draw.rounded_rectangle(box, radius=8, fill=colour.rgb, outline=OUTLINE, width=3)


def draw_shop_interior(scene: ShopInteriorScene) -> Image.Image:
    image, draw = _canvas(WALL)
    _draw_shelf_boards(draw)
    for product in scene.products:
        _draw_product(draw, product.box, product.colour)
        tag = product.tag_box
        draw.rectangle(tag, fill=WHITE, outline=OUTLINE, width=2)
        _centred_text(draw, tag, price_text(product.price_cents), 30, OUTLINE)
    return image


def draw_shelf_photo(products: tuple[Colour | None, ...]) -> Image.Image:
    """One photo of the before/after pair: products by slot, None for an empty slot."""
    image, draw = _canvas(WALL)
    _draw_shelf_boards(draw)
    for slot in range(SHELF_SLOTS):
        colour = products[slot]
        if colour is not None:
            _draw_product(draw, shelf_slot_box(slot), colour)
    return image


def draw_shelf_change(scene: ShelfChangeScene) -> tuple[Image.Image, Image.Image]:
    return draw_shelf_photo(scene.before), draw_shelf_photo(scene.after)


# ---- Kitchen --------------------------------------------------------------------------------------------------------


def draw_kitchen(scene: KitchenScene) -> Image.Image:
    image, draw = _canvas((175, 215, 210))  # tiled wall: teal, so white hats stand out
    for x in range(0, 640, 40):
        draw.line((x, 0, x, 300), fill=(150, 190, 185), width=2)
    for y in range(0, 300, 40):
        draw.line((0, y, 640, y), fill=(150, 190, 185), width=2)
    draw.rectangle((0, 300, 640, 480), fill=(150, 150, 150))  # floor
    draw.rectangle((0, 240, 640, 300), fill=(190, 190, 198), outline=OUTLINE, width=2)  # steel counter behind
    _draw_bin(draw, scene)
    for member in scene.staff:
        _draw_staff(draw, member)
    return image


def _draw_bin(draw: ImageDraw.ImageDraw, scene: KitchenScene) -> None:
    x0, y0, x1, y1 = scene.bin_box
    draw.rectangle((x0, y0, x1, y1), fill=(60, 120, 70), outline=OUTLINE, width=3)
    _centred_text(draw, (x0, y0 + 40, x1, y0 + 80), "WASTE", 22, WHITE)
    if scene.bin_lid_open:
        # A dark opening with rubbish in it and the lid standing up from its hinge at the back.
        draw.ellipse((x0 + 2, y0 - 10, x1 - 2, y0 + 14), fill=(25, 25, 25), outline=OUTLINE, width=2)
        draw.ellipse((x0 + 18, y0 - 18, x0 + 44, y0 + 2), fill=(200, 170, 60))
        draw.ellipse((x0 + 46, y0 - 14, x0 + 70, y0 + 4), fill=(180, 60, 50))
        draw.polygon(
            [(x0 - 4, y0 - 6), (x0 + 10, y0 - 6), (x1 - 6, y0 - 110), (x1 - 22, y0 - 114)],
            fill=(40, 90, 50),
            outline=OUTLINE,
        )
    else:
        draw.rectangle((x0 - 8, y0 - 16, x1 + 8, y0 + 2), fill=(40, 90, 50), outline=OUTLINE, width=3)
        draw.rectangle(((x0 + x1) // 2 - 14, y0 - 26, (x0 + x1) // 2 + 14, y0 - 16), fill=OUTLINE)


def _draw_staff(draw: ImageDraw.ImageDraw, member: StaffMember) -> None:
    cx = member.centre_x
    uniform: RGB = (45, 55, 90)
    # Legs and shoes.
    draw.rectangle((cx - 32, 330, cx - 6, 430), fill=(60, 60, 60))
    draw.rectangle((cx + 6, 330, cx + 32, 430), fill=(60, 60, 60))
    draw.rectangle((cx - 36, 428, cx - 2, 442), fill=OUTLINE)
    draw.rectangle((cx + 2, 428, cx + 36, 442), fill=OUTLINE)
    # Body, arms and the numbered badge the questions refer to.
    draw.rounded_rectangle((cx - 40, 195, cx + 40, 335), radius=10, fill=uniform)
    draw.rectangle((cx - 56, 200, cx - 40, 300), fill=uniform)
    draw.rectangle((cx + 40, 200, cx + 56, 300), fill=uniform)
    badge: Box = (cx - 24, 214, cx + 24, 264)
    draw.rectangle(badge, fill=WHITE, outline=OUTLINE, width=2)
    _centred_text(draw, badge, str(member.number), 40, OUTLINE)
    # Hands: bright blue gloves or bare skin, large enough to tell apart.
    hand = GLOVE_BLUE if member.has_gloves else SKIN
    for hx in (cx - 48, cx + 48):
        draw.ellipse((hx - 14, 292, hx + 14, 330), fill=hand, outline=OUTLINE, width=2)
    # Head, then either a white chef's hat or bare dark hair.
    draw.rectangle((cx - 9, 180, cx + 9, 198), fill=SKIN)
    draw.ellipse((cx - 28, 132, cx + 28, 188), fill=SKIN, outline=OUTLINE, width=2)
    draw.ellipse((cx - 12, 154, cx - 6, 160), fill=OUTLINE)
    draw.ellipse((cx + 6, 154, cx + 12, 160), fill=OUTLINE)
    if member.has_hat:
        draw.ellipse((cx - 40, 62, cx + 40, 124), fill=WHITE, outline=(90, 90, 90), width=2)
        draw.rectangle((cx - 30, 108, cx + 30, 142), fill=WHITE, outline=(90, 90, 90), width=2)
    else:
        draw.chord((cx - 29, 128, cx + 29, 170), 180, 360, fill=(50, 35, 25))
