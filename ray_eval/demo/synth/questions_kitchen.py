"""Questions about the Kitchen scenes: hats, gloves and the waste bin's lid.

These are the set's hygiene probes: every kitchen question is critical and counts double (CRITICAL_WEIGHT), as
the release gate's canary re-runs critical samples. Answers are read off the scene the picture was drawn from.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Hashable
from typing import cast

from ray_eval.demo.synth.question_kit import (
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
    count_choices,
    format_question,
    grid_choices,
    integer,
    yes_no_text,
)
from ray_eval.demo.synth.scenes import KitchenScene
from ray_eval.demo.synth.vocab import EN, ZH

KT_PERSON: Labels = (PERCEPTION, SINGLE, "Attribute Recognition", "Hygiene Attribute")
KT_COUNT: Labels = (PERCEPTION, CROSS, "Object Counting", "Hygiene Attribute")
KT_COMPLIANCE: Labels = (REASONING, "Logic Reasoning", "Rule Compliance", "Hygiene Attribute")
KT_FORMAT: Labels = (PERCEPTION, CROSS, "Structured Image-Text Understanding", "Hygiene Attribute")

_PPE_TEXT = {
    EN: {
        (True, True): "Both a hat and gloves",
        (True, False): "A hat only, no gloves",
        (False, True): "Gloves only, no hat",
        (False, False): "Neither a hat nor gloves",
    },
    ZH: {
        (True, True): "帽子和手套都戴了",
        (True, False): "只戴了帽子，没戴手套",
        (False, True): "只戴了手套，没戴帽子",
        (False, False): "帽子和手套都没戴",
    },
}
_BIN_SIDE = {EN: ("On the left", "On the right"), ZH: ("在左侧", "在右侧")}
_LID = {EN: ("lid open", "lid closed"), ZH: ("盖子开着", "盖子关着")}
_LID_WORD = {EN: ("open", "closed"), ZH: ("开着", "关着")}


def kitchen_topics(scene: KitchenScene, rng: random.Random) -> list[Topic]:
    member = rng.choice(scene.staff)
    checked = rng.choice(scene.staff)
    asks_gloves = rng.random() < 0.5
    item = both("gloves", "手套") if asks_gloves else both("a hat", "帽子")
    hatless = sum(not m.has_hat for m in scene.staff)
    # Counted rather than asked yes/no: a whole kitchen is rarely compliant, so "no" would nearly always be right.
    rule_breakers = sum(not (m.has_hat and m.has_gloves) for m in scene.staff)

    def bin_text(value: Hashable, lang: str) -> str:
        on_left, lid_open = cast(tuple[bool, bool], value)  # a bin_grid pair
        separator = ", " if lang == EN else "，"
        return f"{_BIN_SIDE[lang][0 if on_left else 1]}{separator}{_LID[lang][0 if lid_open else 1]}"

    def who(k: int) -> dict[str, str]:
        return both(f"staff member {k} (badge number {k})", f"{k} 号员工（胸牌号 {k}）")

    ppe_grid = grid_choices((member.has_hat, not member.has_hat), (member.has_gloves, not member.has_gloves))
    bin_grid = grid_choices((scene.bin_on_left, not scene.bin_on_left), (scene.bin_lid_open, not scene.bin_lid_open))
    topics = [
        Topic(
            "staff_ppe",
            KT_PERSON,
            both(
                f"Which protective items is {who(member.number)[EN]} wearing?",
                f"{who(member.number)[ZH]}穿戴了哪些防护用品？",
            ),
            answer=ppe_grid[0],
            choices=ppe_grid,
            render=lambda value, lang: _PPE_TEXT[lang][cast(tuple[bool, bool], value)],  # a ppe_grid pair
            open_ok=False,
        ),
        Topic(
            "wears_item",
            KT_PERSON,
            both(f"Is {who(checked.number)[EN]} wearing {item[EN]}?", f"{who(checked.number)[ZH]}戴{item[ZH]}了吗？"),
            answer=checked.has_gloves if asks_gloves else checked.has_hat,
            render=yes_no_text,
            open_hint=ANSWER_YES_NO,
        ),
        Topic(
            "hatless_count",
            KT_COUNT,
            both("How many staff members are not wearing a hat?", "有几名员工没有戴帽子？"),
            answer=hatless,
            choices=count_choices(hatless, rng, low=0),
            open_hint=ANSWER_NUMBER,
        ),
        Topic(
            "bin_position_and_lid",
            KT_PERSON,
            both(
                "On which side of the picture is the waste bin, and is its lid open or closed?",
                "垃圾桶在画面的哪一侧？它的盖子是开着还是关着？",
            ),
            answer=bin_grid[0],
            choices=bin_grid,
            render=bin_text,
            open_ok=False,
        ),
        Topic(
            "bin_lid",
            KT_PERSON,
            both("Is the lid of the waste bin open or closed?", "垃圾桶的盖子是开着还是关着？"),
            answer=scene.bin_lid_open,
            render=lambda value, lang: _LID_WORD[lang][0 if value else 1],
            open_hint=both("Answer open or closed.", "请回答开着或关着。"),
        ),
        Topic(
            "rule_breakers",
            KT_COMPLIANCE,
            both(
                "The hygiene rule says every staff member must wear both a hat and gloves."
                " How many staff members in the picture break this rule?",
                "卫生规定：每名员工都必须同时戴帽子和手套。画面中有几名员工违反了这条规定？",
            ),
            answer=rule_breakers,
            choices=count_choices(rule_breakers, rng, low=0),
            open_hint=ANSWER_NUMBER,
        ),
    ]
    return [_critical(topic) for topic in topics]


def _critical(topic: Topic) -> Topic:
    return dataclasses.replace(topic, critical=True)


def kitchen_format(scene: KitchenScene, lang: str) -> Question:
    fields = [
        Field("staff_count", integer(0, 20), both("how many staff members are in the picture", "画面中的员工人数")),
        Field("staff_without_hat", integer(0, 20), both("how many of them wear no hat", "没戴帽子的人数")),
        Field("staff_without_gloves", integer(0, 20), both("how many of them wear no gloves", "没戴手套的人数")),
        Field("bin_lid_open", BOOLEAN, both("true if the waste bin's lid is open", "垃圾桶盖子开着时为 true")),
    ]
    answer = {
        "staff_count": len(scene.staff),
        "staff_without_hat": sum(not m.has_hat for m in scene.staff),
        "staff_without_gloves": sum(not m.has_gloves for m in scene.staff),
        "bin_lid_open": scene.bin_lid_open,
    }
    task = both("Check this kitchen for hygiene problems.", "请检查这个厨房的卫生情况。")
    return format_question("kitchen_hygiene", KT_FORMAT, lang, task, fields, answer, critical=True)
