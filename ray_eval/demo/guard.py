"""The generated guard suite behind `ray-eval dataset guard`: general-ability questions beside ShopBench, as the
VLMEvalKit TSV files users already evaluate (base64 PNG images in the `image` column), drawn here with Pillow.

One file per kind, because a suite is scored with one scorer per answer format:
- guard-ocr.tsv: rendered words, weights, prices and codes to read (open; OCRBench style: the answer cell is a Python
  list of acceptable answers, or one string; scorer `ocr_contains_any`);
- guard-count.tsv: shapes to count (MCQ A-D, MMStar style; scorer `choice`, the default);
- guard-yesno.tsv: is there a <colour> <shape> in the picture? (open, Yes or No, balanced; MME/POPE style; scorer
  `yes_no`).

Every answer follows from what is drawn: shapes sit one per cell of a 3x3 grid, so they never touch, and each is
filled with one flat palette colour on a background no shape uses (no anti-aliasing), so a test can count them back.
Each question follows from (seed, kind, position) alone: the same seed writes the same bytes. Images stay small
(at most 384 px a side) so a CPU model can answer them.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from ray_eval.data.taxonomy import option_letter
from ray_eval.demo.synth.vocab import COLOUR_BY_NAME, SHOP_ADJECTIVES, SHOP_NOUNS, Colour, fitted_font

GUARD_FILES = {"ocr": "guard-ocr.tsv", "count": "guard-count.tsv", "yesno": "guard-yesno.tsv"}
SHAPES = ("circle", "square", "triangle")
# Colours people name alike; white, grey and black are left out so that no shape vanishes into the background.
SHAPE_COLOURS: tuple[Colour, ...] = tuple(
    COLOUR_BY_NAME[name] for name in ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown"))
BACKGROUND = (244, 244, 238)  # in no shape's colour
GRID = 3
CELL = 112  # px: a 336 x 336 picture of 3 x 3 cells
SHAPES_SIZE = (GRID * CELL, GRID * CELL)
TEXT_SIZE = (384, 128)
INK = (20, 20, 20)
MAX_COUNT = 6  # at most this many shapes of the kind counted, and at most 9 shapes in all
OPTIONS = 4
YES_NO_SUFFIX = " Please answer yes or no."  # POPE's prompt


@dataclass(frozen=True)
class Shape:
    kind: str  # one of SHAPES
    colour: Colour
    box: tuple[int, int, int, int]  # left, top, right, bottom (inclusive, as Pillow draws)


@dataclass(frozen=True)
class GuardQuestion:
    """One row of a guard file: its cells, with the picture as PNG bytes."""

    index: str
    question: str
    answer: str  # a letter (count), Yes or No (yes/no), one text or a Python list literal of texts (ocr)
    category: str
    png: bytes
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class GuardSummary:
    """What write_guard_suite() wrote: each kind's file, with n questions each."""

    n: int
    seed: int
    files: dict[str, Path]


# ---- drawing --------------------------------------------------------------------------------------------------------


def draw_shapes(shapes: list[Shape]) -> Image.Image:
    image = Image.new("RGB", SHAPES_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        left, top, right, bottom = shape.box
        if shape.kind == "circle":
            draw.ellipse(shape.box, fill=shape.colour.rgb)
        elif shape.kind == "square":
            draw.rectangle(shape.box, fill=shape.colour.rgb)
        else:
            draw.polygon([((left + right) / 2, top), (right, bottom), (left, bottom)], fill=shape.colour.rgb)
    return image


def place_shapes(rng: random.Random, kinds: list[str], colours: list[Colour]) -> list[Shape]:
    """The shapes in distinct grid cells, each of a random size and position inside its cell."""
    cells = rng.sample(range(GRID * GRID), len(kinds))
    shapes = []
    for cell, kind, colour in zip(cells, kinds, colours, strict=True):
        size = rng.randint(48, 84)
        left = (cell % GRID) * CELL + rng.randint(8, CELL - size - 8)
        top = (cell // GRID) * CELL + rng.randint(8, CELL - size - 8)
        shapes.append(Shape(kind, colour, (left, top, left + size - 1, top + size - 1)))
    return shapes


def draw_text(text: str, background: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", TEXT_SIZE, background)
    face = fitted_font(text, TEXT_SIZE[0] - 32, 48)
    ImageDraw.Draw(image).text((TEXT_SIZE[0] / 2, TEXT_SIZE[1] / 2), text, font=face, fill=INK, anchor="mm")
    return image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")  # no timestamp or other varying chunk: same pixels, same bytes
    return buffer.getvalue()


# ---- questions ------------------------------------------------------------------------------------------------------


def _rng(seed: int, kind: str, position: int) -> random.Random:
    return random.Random(f"ray-eval-guard/{kind}/{seed}/{position}")


def ocr_question(seed: int, position: int) -> GuardQuestion:
    """Text to read: a shop name (one acceptable answer, a string cell) or a weight, price or code (a list of the
    ways it may be written: with and without the space before the unit, the currency sign, the dash)."""
    rng = _rng(seed, "ocr", position)
    category = ("name", "weight", "price", "code")[position % 4]
    if category == "name":
        drawn = f"{rng.choice(SHOP_ADJECTIVES)} {rng.choice(SHOP_NOUNS)}".upper()
        question, answer = "What is written in the image?", drawn
    elif category == "weight":
        grams = rng.choice((125, 150, 200, 250, 350, 400, 450, 500, 750))
        drawn = f"NET WT {grams} g"
        question = "What net weight is printed on the label? Give the number and its unit."
        answer = repr([f"{grams} g", f"{grams}g", f"{grams} grams"])
    elif category == "price":
        cents = rng.randint(2, 68) * 100 + rng.choice((0, 50, 80, 90))
        price = f"{cents // 100}.{cents % 100:02d}"
        drawn = f"PRICE {price}"
        question = "What price, in yuan, is printed on the tag?"
        answer = repr([price, f"¥{price}", f"{price} yuan"])
    else:
        code = f"{rng.randint(1000, 9999)}-{rng.randint(10, 99)}"
        drawn = f"SKU {code}"
        question = "What is the SKU code on the label?"
        answer = repr([code, code.replace("-", " "), code.replace("-", "")])
    background = rng.choice(((255, 255, 255), (250, 240, 200), (220, 235, 250), (235, 250, 225)))
    return GuardQuestion(f"ocr-{position:04d}", question, answer, category, png_bytes(draw_text(drawn, background)))


def count_question(seed: int, position: int) -> GuardQuestion:
    """How many shapes of one kind: 1-6 of them among up to 3 shapes of other kinds; four numbers as options."""
    rng = _rng(seed, "count", position)
    kind = SHAPES[position % len(SHAPES)]
    # Four consecutive numbers as options, the answer's letter drawn first so that every letter is as likely.
    letter = rng.randrange(OPTIONS)
    count = rng.randint(letter + 1, MAX_COUNT)
    others = [rng.choice([k for k in SHAPES if k != kind]) for _ in range(rng.randint(0, min(3, 9 - count)))]
    kinds = [kind] * count + others
    shapes = place_shapes(rng, kinds, [rng.choice(SHAPE_COLOURS) for _ in kinds])
    numbers = range(count - letter, count - letter + OPTIONS)
    return GuardQuestion(f"count-{position:04d}", f"How many {kind}s are there in the picture?", option_letter(letter),
                         kind, png_bytes(draw_shapes(shapes)), tuple(str(number) for number in numbers))


def yes_no_question(seed: int, position: int, yes: bool) -> GuardQuestion:
    """Is there a <colour> <shape>? Each shape has a colour of its own. A no is either a colour not drawn at all or
    the colour drawn on another shape (the harder negative, as POPE's adversarial split)."""
    rng = _rng(seed, "yesno", position)
    colours = rng.sample(SHAPE_COLOURS, rng.randint(2, 4))
    shapes = place_shapes(rng, [rng.choice(SHAPES) for _ in colours], colours)
    if yes:
        asked = rng.choice(shapes)
        colour, kind, category = asked.colour, asked.kind, "present"
    elif rng.random() < 0.5:
        colour = rng.choice([c for c in SHAPE_COLOURS if c not in colours])
        kind, category = rng.choice(SHAPES), "colour absent"
    else:
        other = rng.choice(shapes)
        colour, kind, category = other.colour, rng.choice([k for k in SHAPES if k != other.kind]), "other shape"
    question = f"Is there a {colour.en} {kind} in the picture?{YES_NO_SUFFIX}"
    return GuardQuestion(f"yesno-{position:04d}", question, "Yes" if yes else "No", category,
                         png_bytes(draw_shapes(shapes)))


def balanced_answers(seed: int, n: int) -> list[bool]:
    """n yes/no answers, as many yes as no (one more yes when n is odd), in an order fixed by the seed."""
    answers = [True] * ((n + 1) // 2) + [False] * (n // 2)
    random.Random(f"ray-eval-guard/yesno-order/{seed}").shuffle(answers)
    return answers


def guard_questions(kind: str, n: int, seed: int) -> Iterator[GuardQuestion]:
    """The n questions of one kind's file, in file order."""
    if kind == "yesno":
        for position, yes in enumerate(balanced_answers(seed, n)):
            yield yes_no_question(seed, position, yes)
        return
    make: Callable[[int, int], GuardQuestion] = {"ocr": ocr_question, "count": count_question}[kind]
    for position in range(n):
        yield make(seed, position)


# ---- files ----------------------------------------------------------------------------------------------------------

# The column order of the VLMEvalKit file each kind imitates (OCRBench, MMStar, MME).
HEADERS = {
    "ocr": ("index", "image", "question", "answer", "category"),
    "count": ("index", "question", "A", "B", "C", "D", "answer", "category", "image"),
    "yesno": ("index", "category", "image", "question", "answer"),
}


def _cells(question: GuardQuestion) -> dict[str, str]:
    cells = {"index": question.index, "question": question.question, "answer": question.answer,
             "category": question.category, "image": base64.b64encode(question.png).decode("ascii")}
    cells.update({option_letter(i): option for i, option in enumerate(question.options)})
    return cells


def write_guard_suite(out_dir: Path, n: int = 30, seed: int = 0) -> GuardSummary:
    """Write the three guard files, n questions each, into out_dir (replacing earlier ones: each file is written under
    a temporary name and renamed when complete)."""
    if n < 1:
        raise ValueError(f"n must be at least 1; got {n}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind, name in GUARD_FILES.items():
        path = out_dir / name
        partial = path.with_name(name + ".partial")
        with partial.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(HEADERS[kind])
            for question in guard_questions(kind, n, seed):
                cells = _cells(question)
                writer.writerow([cells[column] for column in HEADERS[kind]])
        os.replace(partial, path)
        files[kind] = path
    return GuardSummary(n=n, seed=seed, files=files)
