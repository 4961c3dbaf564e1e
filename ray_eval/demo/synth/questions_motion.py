"""Questions about change: the MultiImg before/after shelf pair and the Video clips (a door, a walking customer).

These need more than one look: the answer is in the difference between two images or between the first and the
last frames, which is what the two subsets exist to test.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import cast

from ray_eval.demo.synth.question_kit import (
    ANSWER_COLOUR,
    ANSWER_NUMBER,
    ANSWER_YES_NO,
    BOOLEAN,
    CROSS,
    PERCEPTION,
    REASONING,
    SINGLE,
    Field,
    Labels,
    Question,
    Topic,
    both,
    colour_text,
    count_choices,
    format_question,
    grid_choices,
    integer,
    other_than,
    random_choices,
    string_enum,
    yes_no_text,
)
from ray_eval.demo.synth.scenes import CHANGE_KINDS, DoorVideoScene, ShelfChangeScene, WalkerVideoScene
from ray_eval.demo.synth.vocab import COLOUR_NAMES, EN, ZH

# ---- MultiImg: before / after shelf photos ----------------------------------------------------------------------

MI_CHANGE: Labels = (REASONING, "Relation Reasoning", "Cross-image Comparison", "Shelf Change")
MI_COUNT: Labels = (PERCEPTION, CROSS, "Object Counting", "Product Counting")
MI_FORMAT: Labels = (REASONING, "Relation Reasoning", "Structured Image-Text Understanding", "Shelf Change")

_CHANGE_STATEMENT = {
    EN: {
        "removed": "The {c} product was removed",
        "added": "A {c} product was added",
        "moved": "The {c} product was moved to another spot",
    },
    ZH: {"removed": "{c}商品被拿走了", "added": "新增了一件{c}商品", "moved": "{c}商品被移到了别的位置"},
}
_CHANGE_WORD = {
    EN: {"removed": "removed", "added": "added", "moved": "moved"},
    ZH: {"removed": "拿走", "added": "新增", "moved": "移动"},
}
_PAIR = both(
    "The first photo shows a shelf before and the second the same shelf after a change.",
    "第一张照片是货架变化之前，第二张是同一货架变化之后。",
)


def shelf_change_topics(scene: ShelfChangeScene, rng: random.Random) -> list[Topic]:
    changed = scene.changed.en
    seen = sorted({c.en for c in (*scene.before, *scene.after) if c is not None})  # sorted: set order is not stable
    change_grid = grid_choices(
        (scene.change, other_than(CHANGE_KINDS, scene.change, rng)), (changed, other_than(seen, changed, rng))
    )

    def change_text(value: Hashable, lang: str) -> str:
        kind, colour = cast(tuple[str, str], value)  # a change_grid pair
        return _CHANGE_STATEMENT[lang][kind].format(c=colour_text(colour, lang))

    after_photo = rng.random() < 0.5
    count = scene.count_after if after_photo else scene.count_before
    which = both("second (after)", "第二张（之后）") if after_photo else both("first (before)", "第一张（之前）")
    return [
        Topic(
            "shelf_change",
            MI_CHANGE,
            both(f"{_PAIR[EN]} What changed?", f"{_PAIR[ZH]}发生了什么变化？"),
            answer=change_grid[0],
            choices=change_grid,
            render=change_text,
            open_ok=False,
        ),
        Topic(
            "changed_colour",
            MI_CHANGE,
            both(
                f"{_PAIR[EN]} Exactly one product was removed, added or moved. What colour is that product?",
                f"{_PAIR[ZH]}恰好有一件商品被拿走、新增或移动了。这件商品是什么颜色？",
            ),
            answer=changed,
            choices=random_choices(seen, changed, rng),
            render=colour_text,
            open_hint=ANSWER_COLOUR,
        ),
        Topic(
            "change_kind",
            MI_CHANGE,
            both(
                f"{_PAIR[EN]} Was a product removed, added or moved? Answer removed, added or moved.",
                f"{_PAIR[ZH]}有商品被拿走、新增还是移动了？请回答拿走、新增或移动。",
            ),
            answer=scene.change,
            render=lambda value, lang: _CHANGE_WORD[lang][str(value)],
        ),
        Topic(
            "shelf_count",
            MI_COUNT,
            both(f"How many products are on the shelf in the {which[EN]} photo?",
                 f"{which[ZH]}照片中货架上有多少件商品？"),
            answer=count,
            choices=count_choices(count, rng, low=1),
            open_hint=ANSWER_NUMBER,
        ),
    ]


def shelf_change_format(scene: ShelfChangeScene, lang: str) -> Question:
    fields = [
        Field("change", string_enum(CHANGE_KINDS), both("removed, added or moved", "removed、added 或 moved")),
        Field(
            "color",
            string_enum(COLOUR_NAMES),
            both("colour of the product that changed, an English colour name", "变化的商品的颜色，用英文颜色名"),
        ),
        Field("count_before", integer(0, 20), both("products in the first photo", "第一张照片中的商品数")),
        Field("count_after", integer(0, 20), both("products in the second photo", "第二张照片中的商品数")),
    ]
    answer = {
        "change": scene.change,
        "color": scene.changed.en,
        "count_before": scene.count_before,
        "count_after": scene.count_after,
    }
    task = both(f"{_PAIR[EN]} Describe the change.", f"{_PAIR[ZH]}请描述这个变化。")
    return format_question("shelf_change_report", MI_FORMAT, lang, task, fields, answer)


# ---- Video: a door opens or closes ------------------------------------------------------------------------------

VD_DOOR: Labels = (REASONING, "Logic Reasoning", "Action Recognition", "Door State Change")
VD_DOOR_COLOUR: Labels = (PERCEPTION, SINGLE, "Attribute Recognition", "Door Attribute")
VD_DOOR_FORMAT: Labels = (REASONING, "Logic Reasoning", "Structured Image-Text Understanding", "Door State Change")
_DOOR_ACTION = {EN: ("opens", "closes"), ZH: ("被打开", "被关上")}
_DOOR_WORD = {EN: ("opening", "closing"), ZH: ("打开", "关上")}
DOOR_COLOURS = tuple(c for c in COLOUR_NAMES if c not in ("black", "grey"))


def door_topics(scene: DoorVideoScene, rng: random.Random) -> list[Topic]:
    other_door = "B" if scene.moving_door == "A" else "A"
    door_grid = grid_choices((scene.moving_door, other_door), (scene.opening, not scene.opening))
    moving, still = scene.moving_colour.en, scene.door_colours[1 if scene.moving_door == "A" else 0].en
    rest = [c for c in DOOR_COLOURS if c not in (moving, still)]

    def door_text(value: Hashable, lang: str) -> str:
        door, opening = cast(tuple[str, bool], value)  # a door_grid pair
        if lang == ZH:
            return f"{door} 门{_DOOR_ACTION[ZH][0 if opening else 1]}"
        return f"Door {door} {_DOOR_ACTION[EN][0 if opening else 1]}"

    return [
        Topic(
            "door_action",
            VD_DOOR,
            both(
                "Two doors, labelled A and B, are shown. Which door moves in the video, and does it open or close?",
                "画面中有 A、B 两扇门。视频中哪扇门在动？它是被打开还是被关上？",
            ),
            answer=door_grid[0],
            choices=door_grid,
            render=door_text,
            open_ok=False,
        ),
        Topic(
            "door_direction",
            VD_DOOR,
            both(
                f"Door {scene.moving_door} moves in this video. Is it opening or closing?",
                f"视频中 {scene.moving_door} 门在动。它是在打开还是在关上？",
            ),
            answer=scene.opening,
            render=lambda value, lang: _DOOR_WORD[lang][0 if value else 1],
            open_hint=both("Answer opening or closing.", "请回答打开或关上。"),
        ),
        Topic(
            "moving_door",
            VD_DOOR,
            both("Which door moves in the video, A or B?", "视频中哪扇门在动，A 还是 B？"),
            answer=scene.moving_door,
            open_hint=both("Answer with the letter only.", "只回答字母。"),
        ),
        Topic(
            "moving_door_colour",
            VD_DOOR_COLOUR,
            both("What colour is the door that moves in the video?", "视频中在动的那扇门是什么颜色？"),
            answer=moving,
            choices=(moving, still, *rng.sample(rest, 2)),
            render=colour_text,
            open_hint=ANSWER_COLOUR,
        ),
    ]


def door_format(scene: DoorVideoScene, lang: str) -> Question:
    fields = [
        Field("moving_door", string_enum(("A", "B")), both("the label of the door that moves", "在动的门的标签")),
        Field("action", string_enum(("opening", "closing")), both("opening or closing", "opening 或 closing")),
        Field(
            "door_color",
            string_enum(COLOUR_NAMES),
            both("colour of the moving door, an English colour name", "在动的门的颜色，用英文颜色名"),
        ),
    ]
    answer = {
        "moving_door": scene.moving_door,
        "action": "opening" if scene.opening else "closing",
        "door_color": scene.moving_colour.en,
    }
    task = both("Two doors, labelled A and B, are shown.", "画面中有 A、B 两扇门。")
    return format_question("door_report", VD_DOOR_FORMAT, lang, task, fields, answer)


# ---- Video: a customer walks past or into the shop --------------------------------------------------------------

VD_WALK: Labels = (REASONING, "Logic Reasoning", "Action Recognition", "Customer Movement")
VD_ENTRY: Labels = (REASONING, "Logic Reasoning", "Action Recognition", "Customer Entry")
VD_SHIRT: Labels = (PERCEPTION, SINGLE, "Attribute Recognition", "Customer Appearance")
VD_WALK_FORMAT: Labels = (REASONING, "Logic Reasoning", "Structured Image-Text Understanding", "Customer Movement")
_DIRECTION = {EN: ("left to right", "right to left"), ZH: ("从左到右", "从右到左")}
_ENTRY = {EN: ("goes into the shop", "walks past the shop"), ZH: ("进了店", "从店门口走过")}
SHIRT_COLOURS = tuple(c for c in COLOUR_NAMES if c != "white")


def walker_topics(scene: WalkerVideoScene, rng: random.Random) -> list[Topic]:
    walk_grid = grid_choices((scene.left_to_right, not scene.left_to_right), (scene.enters, not scene.enters))

    def walk_text(value: Hashable, lang: str) -> str:
        left_to_right, enters = cast(tuple[bool, bool], value)  # a walk_grid pair
        direction, entry = _DIRECTION[lang][0 if left_to_right else 1], _ENTRY[lang][0 if enters else 1]
        return f"Walks from {direction} and {entry}" if lang == EN else f"{direction}走，{entry}"

    return [
        Topic(
            "customer_path",
            VD_WALK,
            both("What does the customer in the video do?", "视频中的顾客做了什么？"),
            answer=walk_grid[0],
            choices=walk_grid,
            render=walk_text,
            open_ok=False,
        ),
        Topic(
            "walk_direction",
            VD_WALK,
            both("In which direction does the customer walk across the picture?", "顾客在画面中朝哪个方向走？"),
            answer=scene.left_to_right,
            render=lambda value, lang: _DIRECTION[lang][0 if value else 1],
            open_hint=both("Answer left to right or right to left.", "请回答从左到右或从右到左。"),
        ),
        Topic(
            "enters_shop",
            VD_ENTRY,
            both("Does the customer go into the shop?", "顾客进店了吗？"),
            answer=scene.enters,
            render=yes_no_text,
            open_hint=ANSWER_YES_NO,
        ),
        Topic(
            "shirt_colour",
            VD_SHIRT,
            both("What colour is the customer's shirt?", "顾客的上衣是什么颜色？"),
            answer=scene.shirt_colour.en,
            choices=random_choices(SHIRT_COLOURS, scene.shirt_colour.en, rng),
            render=colour_text,
            open_hint=ANSWER_COLOUR,
        ),
    ]


def walker_format(scene: WalkerVideoScene, lang: str) -> Question:
    fields = [
        Field(
            "direction",
            string_enum(("left_to_right", "right_to_left")),
            both("the way the customer walks", "顾客行走的方向"),
        ),
        Field("entered_shop", BOOLEAN, both("true if the customer goes into the shop", "顾客进店时为 true")),
        Field(
            "shirt_color",
            string_enum(COLOUR_NAMES),
            both("colour of the customer's shirt, an English colour name", "顾客上衣的颜色，用英文颜色名"),
        ),
    ]
    answer = {
        "direction": "left_to_right" if scene.left_to_right else "right_to_left",
        "entered_shop": scene.enters,
        "shirt_color": scene.shirt_colour.en,
    }
    task = both("Describe what the customer in the video does.", "请描述视频中顾客的行为。")
    return format_question("customer_report", VD_WALK_FORMAT, lang, task, fields, answer)
