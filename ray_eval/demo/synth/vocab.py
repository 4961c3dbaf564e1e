"""The words and values the synthetic scenes are drawn from: colours, shop names, phone numbers, prices, times.

Everything drawn inside an image is ASCII, because the only font available (Pillow's built-in Aileron) has no CJK
glyphs and no yen sign. Prices are therefore drawn as plain decimals ("12.50"); the questions say the unit (yuan).
Chinese appears only in question and option texts and in reference answers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from PIL import ImageFont

EN = "en"
ZH = "zh"


@dataclass(frozen=True)
class Colour:
    """A named colour: its English and Chinese names and the RGB value drawn for it."""

    en: str
    zh: str
    rgb: tuple[int, int, int]

    def name(self, lang: str) -> str:
        return self.zh if lang == ZH else self.en


# Far apart in RGB, so a decoded JPEG pixel still lands nearest its own name and a viewer names it the same way.
# Cyan, beige and the like are left out: people disagree on their names, which would make reference answers unfair.
PALETTE: tuple[Colour, ...] = (
    Colour("red", "红色", (215, 25, 30)),
    Colour("orange", "橙色", (250, 135, 10)),
    Colour("yellow", "黄色", (250, 220, 20)),
    Colour("green", "绿色", (30, 150, 50)),
    Colour("blue", "蓝色", (25, 70, 215)),
    Colour("purple", "紫色", (125, 40, 165)),
    Colour("pink", "粉色", (250, 140, 200)),
    Colour("brown", "棕色", (115, 70, 35)),
    Colour("black", "黑色", (20, 20, 20)),
    Colour("white", "白色", (248, 248, 248)),
    Colour("grey", "灰色", (135, 135, 135)),
)
COLOUR_NAMES: tuple[str, ...] = tuple(c.en for c in PALETTE)
COLOUR_BY_NAME: dict[str, Colour] = {c.en: c for c in PALETTE}


def nearest_colour(rgb: tuple[float, float, float]) -> Colour:
    """The palette colour closest to an RGB value (tests use it to read a colour back from a decoded image)."""
    return min(PALETTE, key=lambda c: sum((a - b) ** 2 for a, b in zip(c.rgb, rgb, strict=True)))


def ink_on(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever contrasts more with the background colour (ITU-R BT.601 luma)."""
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (15, 15, 15) if luma > 140 else (250, 250, 250)


# Shop names are <adjective> <noun>. A multiple-choice question takes 2 adjectives x 2 nouns, so every option
# shares one word with exactly one other option: the correct name cannot be spotted as the "centre" of the options.
# No colour words among the adjectives, so a name never answers a colour question.
SHOP_ADJECTIVES: tuple[str, ...] = (
    "Lucky", "Golden", "Sunny", "Happy", "Fresh", "Jade", "Panda", "Lotus", "Maple", "Silver",
    "River", "Harbor", "Orchid", "Bamboo", "Star", "Family", "Corner", "Royal", "Little", "Urban",
)
SHOP_NOUNS: tuple[str, ...] = (
    "Mart", "Bakery", "Cafe", "Noodle House", "Dumpling Bar", "Tea Shop", "Grocer", "Pharmacy",
    "Fruit Store", "Hot Pot", "Bookshop", "Florist", "Deli", "Kitchen",
)

# Chinese city area codes; the subscriber number is 8 digits, written 4-4 as on real signboards.
AREA_CODES: tuple[str, ...] = ("010", "020", "021", "022", "023", "024", "025", "027", "028", "029")


def phone_number(area: str, subscriber: str) -> str:
    return f"{area}-{subscriber[:4]}-{subscriber[4:]}"


def random_subscriber(rng: random.Random) -> str:
    return str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7))


def price_text(cents: int) -> str:
    """12.50 for 1250 cents: the form drawn on tags and used as the open reference answer."""
    return f"{cents // 100}.{cents % 100:02d}"


def random_prices(rng: random.Random, count: int) -> list[int]:
    """Distinct shelf prices in cents with the endings real shops use (.00 .50 .80 .90 .20)."""
    prices: set[int] = set()
    while len(prices) < count:
        prices.add(rng.randint(2, 68) * 100 + rng.choice((0, 50, 80, 90, 20)))
    ordered = sorted(prices)
    rng.shuffle(ordered)  # sorted first so the result depends on the rng only, never on set iteration order
    return ordered


def clock_text(hour: int) -> str:
    return f"{hour:02d}:00"


YES_NO = {EN: ("yes", "no"), ZH: ("是", "否")}


def yes_no(value: bool, lang: str) -> str:
    return YES_NO[lang][0 if value else 1]


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font (needs FreeType); cached because loading it per text would dominate."""
    return ImageFont.load_default(size=size)  # type: ignore[return-value]


def fitted_font(text: str, max_width: int, size: int, min_size: int = 14) -> ImageFont.FreeTypeFont:
    """The largest font not above `size` whose rendering of `text` fits in max_width pixels."""
    while size > min_size and font(size).getlength(text) > max_width:
        size -= 2
    return font(size)
