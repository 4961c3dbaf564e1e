"""Scene descriptions: the facts a synthetic image or video shows, decided before anything is drawn.

A scene is built from its own RNG, derived from (seed, scene index) only, so any scene can be made without the
ones before it. The drawing code renders exactly these facts and the question code asks only about them, which is
what makes every reference answer follow from the picture. Layout boxes live here too (not in the drawing code), so
tests can look at the pixels where a fact was drawn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ray_eval.data.taxonomy import Subset
from ray_eval.demo.synth import plan
from ray_eval.demo.synth.vocab import (
    AREA_CODES,
    PALETTE,
    SHOP_ADJECTIVES,
    SHOP_NOUNS,
    Colour,
    phone_number,
    random_prices,
    random_subscriber,
)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1/y1 exclusive

STILL_SIZE = (640, 480)
VIDEO_SIZE = (320, 240)
VIDEO_FPS = 8


def scene_rng(seed: int, scene_index: int) -> random.Random:
    # String seeding hashes the text with SHA-512: stable across runs and platforms, unlike hash().
    return random.Random(f"shopbench-synth/scene/{seed}/{scene_index}")


@dataclass(frozen=True)
class ShopFrontScene:
    index: int
    name_adjective: str
    name_noun: str
    phone_area: str
    phone_subscriber: str  # 8 digits
    is_open: bool  # the door sign reads OPEN, else CLOSED
    open_hour: int
    close_hour: int
    board_colour: Colour  # the signboard's background
    awning_colour: Colour  # decoration only, never asked
    door_on_left: bool

    @property
    def shop_name(self) -> str:
        return f"{self.name_adjective} {self.name_noun}"

    @property
    def phone(self) -> str:
        return phone_number(self.phone_area, self.phone_subscriber)


@dataclass(frozen=True)
class Product:
    colour: Colour
    price_cents: int
    shelf: int  # 0 = top shelf, 1 = bottom shelf
    position: int  # 0 = leftmost on its shelf
    box: Box
    tag_box: Box


@dataclass(frozen=True)
class ShopInteriorScene:
    index: int
    products: tuple[Product, ...]  # shelf by shelf, left to right

    def on_shelf(self, shelf: int) -> list[Product]:
        return [p for p in self.products if p.shelf == shelf]

    def right_neighbour(self, product: Product) -> Product | None:
        return next((p for p in self.on_shelf(product.shelf) if p.position == product.position + 1), None)


@dataclass(frozen=True)
class StaffMember:
    number: int  # printed on the badge, 1 = leftmost
    has_hat: bool
    has_gloves: bool
    centre_x: int


@dataclass(frozen=True)
class KitchenScene:
    index: int
    staff: tuple[StaffMember, ...]
    bin_on_left: bool
    bin_lid_open: bool
    bin_box: Box


SHELF_SLOTS = 8  # 2 rows of 4 in the before/after shelf photos
CHANGE_KINDS = ("removed", "added", "moved")


@dataclass(frozen=True)
class ShelfChangeScene:
    """Two photos of the same shelf; exactly one product was removed, added or moved in between."""

    index: int
    before: tuple[Colour | None, ...]  # one entry per slot, None = empty
    after: tuple[Colour | None, ...]
    change: str  # one of CHANGE_KINDS
    changed: Colour

    @property
    def count_before(self) -> int:
        return sum(c is not None for c in self.before)

    @property
    def count_after(self) -> int:
        return sum(c is not None for c in self.after)


@dataclass(frozen=True)
class DoorVideoScene:
    """Two doors labelled A and B; one of them opens or closes during the clip, the other stays as it is."""

    index: int
    moving_door: str  # "A" or "B"
    opening: bool
    other_door_open: bool
    door_colours: tuple[Colour, Colour]  # A, B
    frames: int

    @property
    def moving_colour(self) -> Colour:
        return self.door_colours[0 if self.moving_door == "A" else 1]


@dataclass(frozen=True)
class WalkerVideoScene:
    """A customer walks along a shop front and either walks past or goes in through its door."""

    index: int
    left_to_right: bool
    enters: bool
    shirt_colour: Colour
    trouser_colour: Colour  # decoration only
    door_centre_x: int
    frames: int


Scene = ShopFrontScene | ShopInteriorScene | KitchenScene | ShelfChangeScene | DoorVideoScene | WalkerVideoScene

SCENE_SUBSET: dict[type, Subset] = {
    ShopFrontScene: Subset.SHOP_FRONT,
    ShopInteriorScene: Subset.SHOP_INTERIOR,
    KitchenScene: Subset.KITCHEN,
    ShelfChangeScene: Subset.MULTI_IMG,
    DoorVideoScene: Subset.VIDEO,
    WalkerVideoScene: Subset.VIDEO,
}


def make_scene(seed: int, scene_index: int) -> Scene:
    """The scene at this index of the set generated with this seed."""
    rng = scene_rng(seed, scene_index)
    subset = plan.subset_of_scene(scene_index)
    if subset is Subset.SHOP_FRONT:
        return _shop_front(scene_index, rng)
    if subset is Subset.SHOP_INTERIOR:
        return _shop_interior(scene_index, rng)
    if subset is Subset.KITCHEN:
        return _kitchen(scene_index, rng)
    if subset is Subset.MULTI_IMG:
        return _shelf_change(scene_index, rng)
    return _door_video(scene_index, rng) if rng.random() < 0.5 else _walker_video(scene_index, rng)


def _shop_front(index: int, rng: random.Random) -> ShopFrontScene:
    board, awning = rng.sample(PALETTE, 2)
    return ShopFrontScene(
        index=index,
        name_adjective=rng.choice(SHOP_ADJECTIVES),
        name_noun=rng.choice(SHOP_NOUNS),
        phone_area=rng.choice(AREA_CODES),
        phone_subscriber=random_subscriber(rng),
        is_open=rng.random() < 0.5,
        open_hour=rng.randint(6, 10),
        close_hour=rng.randint(18, 23),
        board_colour=board,
        awning_colour=awning,
        door_on_left=rng.random() < 0.5,
    )


# Shop interior layout: two shelves; products stand on a board, their price tag hangs on the board's edge.
_SHELF_TOPS = (30, 255)  # top of the space above each board
_SHELF_BOARD_Y = (195, 420)  # y of each board's top surface
_SHELF_X = (20, 620)


def _shop_interior(index: int, rng: random.Random) -> ShopInteriorScene:
    per_shelf = [rng.randint(2, 4), rng.randint(2, 4)]  # 4..8 products, each shelf with a neighbour pair
    total = sum(per_shelf)
    colours = rng.sample(PALETTE, total)
    prices = random_prices(rng, total)
    products: list[Product] = []
    for shelf, count in enumerate(per_shelf):
        slot_w = (_SHELF_X[1] - _SHELF_X[0]) // count
        for position in range(count):
            k = len(products)
            centre = _SHELF_X[0] + slot_w * position + slot_w // 2
            width = min(int(slot_w * 0.62), 120) - rng.randint(0, 12)
            height = rng.randint(95, 150)
            board = _SHELF_BOARD_Y[shelf]
            box = (centre - width // 2, board - height, centre + width // 2, board)
            tag_box = (centre - 48, board + 14, centre + 48, board + 50)
            products.append(Product(colours[k], prices[k], shelf, position, box, tag_box))
    return ShopInteriorScene(index, tuple(products))


def _kitchen(index: int, rng: random.Random) -> KitchenScene:
    count = rng.randint(2, 4)
    bin_on_left = rng.random() < 0.5
    bin_w = 90
    bin_box = (20, 300, 20 + bin_w, 440) if bin_on_left else (620 - bin_w, 300, 620, 440)
    # Staff stand evenly in the width the bin leaves free.
    free_x0, free_x1 = (bin_box[2] + 10, 630) if bin_on_left else (10, bin_box[0] - 10)
    step = (free_x1 - free_x0) / count
    staff = tuple(
        StaffMember(
            number=k + 1,
            has_hat=rng.random() < 0.5,
            has_gloves=rng.random() < 0.5,
            centre_x=int(free_x0 + step * (k + 0.5)),
        )
        for k in range(count)
    )
    return KitchenScene(index, staff, bin_on_left, rng.random() < 0.5, bin_box)


def shelf_slot_box(slot: int) -> Box:
    """Where slot k (row-major, 2 rows of 4) of the before/after shelf photo draws its product."""
    row, col = divmod(slot, 4)
    x0 = 40 + col * 145
    board = _SHELF_BOARD_Y[row]
    return (x0 + 15, board - 130, x0 + 125, board)


def _shelf_change(index: int, rng: random.Random) -> ShelfChangeScene:
    count = rng.randint(4, 6)  # leaves 2..4 empty slots, so "added" and "moved" always have room
    colours = rng.sample(PALETTE, count + 1)  # the extra one is the product an "added" change brings
    slots = rng.sample(range(SHELF_SLOTS), count)
    before: list[Colour | None] = [None] * SHELF_SLOTS
    for colour, slot in zip(colours, slots, strict=False):  # the extra colour stays off the shelf
        before[slot] = colour
    after = list(before)
    change = rng.choice(CHANGE_KINDS)
    empty = [k for k in range(SHELF_SLOTS) if before[k] is None]
    if change == "added":
        changed = colours[-1]
        after[rng.choice(empty)] = changed
    else:
        source = rng.choice(slots)
        changed = before[source]  # type: ignore[assignment]
        after[source] = None
        if change == "moved":
            after[rng.choice(empty)] = changed
    return ShelfChangeScene(index, tuple(before), tuple(after), change, changed)


def _door_video(index: int, rng: random.Random) -> DoorVideoScene:
    # Door colours exclude black and grey: the open doorway is drawn dark grey and must stay distinct.
    colour_a, colour_b = rng.sample([c for c in PALETTE if c.en not in ("black", "grey")], 2)
    return DoorVideoScene(
        index=index,
        moving_door=rng.choice("AB"),
        opening=rng.random() < 0.5,
        other_door_open=rng.random() < 0.5,
        door_colours=(colour_a, colour_b),
        frames=20,
    )


def _walker_video(index: int, rng: random.Random) -> WalkerVideoScene:
    shirt, trousers = rng.sample([c for c in PALETTE if c.en != "white"], 2)  # white shirt vs white wall
    return WalkerVideoScene(
        index=index,
        left_to_right=rng.random() < 0.5,
        enters=rng.random() < 0.5,
        shirt_colour=shirt,
        trouser_colour=trousers,
        door_centre_x=rng.randint(140, 180),
        frames=24,
    )
