"""Questions about the shop scenes: the ShopFront signboard and the ShopInterior shelves with price tags.

Every answer is read off the scene object the picture was drawn from.
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
from ray_eval.demo.synth.scenes import ShopFrontScene, ShopInteriorScene
from ray_eval.demo.synth.vocab import (
    COLOUR_BY_NAME,
    COLOUR_NAMES,
    EN,
    SHOP_ADJECTIVES,
    SHOP_NOUNS,
    ZH,
    clock_text,
    phone_number,
    price_text,
)

# ---- ShopFront -----------------------------------------------------------------------------------------------------

SF_NAME: Labels = (PERCEPTION, SINGLE, "OCR", "Shop Name")
SF_PHONE: Labels = (PERCEPTION, SINGLE, "OCR", "Contact Information")
SF_STATUS_OCR: Labels = (PERCEPTION, SINGLE, "OCR", "Business Status")
SF_STATUS: Labels = (PERCEPTION, SINGLE, "Attribute Recognition", "Business Status")
SF_HOURS: Labels = (PERCEPTION, SINGLE, "OCR", "Business Hours")
SF_BOARD: Labels = (PERCEPTION, SINGLE, "Attribute Recognition", "Signboard")
SF_FORMAT: Labels = (PERCEPTION, SINGLE, "Structured Image-Text Understanding", "Storefront Information")
CLOSING_HOURS = tuple(range(18, 24))


def shop_front_topics(scene: ShopFrontScene, rng: random.Random) -> list[Topic]:
    name_grid = grid_choices(
        (scene.name_adjective, other_than(SHOP_ADJECTIVES, scene.name_adjective, rng)),
        (scene.name_noun, other_than(SHOP_NOUNS, scene.name_noun, rng)),
    )
    # Phone distractors change one or both of two digit positions: again a 2 x 2 grid, no odd one out.
    first, second = sorted(rng.sample(range(1, 8), 2))
    digits = scene.phone_subscriber

    def with_digit(number: str, position: int, digit: str) -> str:
        return number[:position] + digit + number[position + 1 :]

    alt_first = other_than("0123456789", digits[first], rng)
    alt_second = other_than("0123456789", digits[second], rng)
    phones = tuple(
        with_digit(with_digit(digits, first, a), second, b)
        for a, b in grid_choices((digits[first], alt_first), (digits[second], alt_second))
    )
    status_grid = grid_choices(
        (scene.is_open, not scene.is_open), (scene.close_hour, other_than(CLOSING_HOURS, scene.close_hour, rng))
    )

    def status_text(value: Hashable, lang: str) -> str:
        is_open, hour = cast(tuple[bool, int], value)  # a status_grid pair
        if lang == ZH:
            return f"{'营业中' if is_open else '已打烊'}，{clock_text(hour)} 关门"
        return f"{'Open' if is_open else 'Closed'} now, closes at {clock_text(hour)}"

    return [
        Topic(
            "shop_name",
            SF_NAME,
            both("What is the name of the shop?", "这家店的店名是什么？"),
            answer=name_grid[0],
            choices=name_grid,
            render=lambda value, lang: " ".join(cast(tuple[str, str], value)),  # a name_grid pair
            open_hint=both("Answer with the name only.", "只回答店名。"),
        ),
        Topic(
            "phone",
            SF_PHONE,
            both("What is the phone number on the signboard?", "招牌上的电话号码是多少？"),
            answer=digits,
            choices=phones,
            render=lambda value, lang: phone_number(scene.phone_area, str(value)),
            open_hint=both("Answer with the number as written.", "请按招牌上的写法回答号码。"),
        ),
        Topic(
            "status_and_hours",
            SF_STATUS_OCR,
            both(
                "What do the door sign and the opening-hours plate of this shop say?",
                "这家店门上的牌子和营业时间牌显示了什么？",
            ),
            answer=status_grid[0],
            choices=status_grid,
            render=status_text,
            open_ok=False,
        ),
        Topic(
            "is_open",
            SF_STATUS,
            both("Is the shop open now, according to the sign on its door?", "根据门上的牌子，这家店现在营业吗？"),
            answer=scene.is_open,
            render=yes_no_text,
            open_hint=ANSWER_YES_NO,
        ),
        Topic(
            "closing_time",
            SF_HOURS,
            both("At what time does the shop close?", "这家店几点关门？"),
            answer=scene.close_hour,
            choices=random_choices(CLOSING_HOURS, scene.close_hour, rng),
            render=lambda value, lang: clock_text(int(value)),  # type: ignore[call-overload]
            open_hint=both("Answer in HH:MM form.", "请用 HH:MM 格式回答。"),
        ),
        Topic(
            "board_colour",
            SF_BOARD,
            both("What colour is the background of the signboard?", "招牌的底色是什么颜色？"),
            answer=scene.board_colour.en,
            choices=random_choices(COLOUR_NAMES, scene.board_colour.en, rng),
            render=colour_text,
            open_hint=ANSWER_COLOUR,
        ),
    ]


def shop_front_format(scene: ShopFrontScene, lang: str) -> Question:
    fields = [
        Field("shop_name", {"type": "string", "minLength": 1}, both("the shop name", "店名")),
        Field(
            "phone",
            {"type": "string", "pattern": r"^0[0-9]{2}-[0-9]{4}-[0-9]{4}$"},
            both("the phone number as written, like 010-1234-5678", "电话号码，按招牌写法，如 010-1234-5678"),
        ),
        Field("is_open", BOOLEAN, both("true if the door sign says the shop is open", "门牌显示营业时为 true")),
        Field(
            "closing_time",
            {"type": "string", "pattern": r"^[0-2][0-9]:[0-5][0-9]$"},
            both("the closing time, HH:MM", "关门时间，HH:MM"),
        ),
    ]
    answer = {
        "shop_name": scene.shop_name,
        "phone": scene.phone,
        "is_open": scene.is_open,
        "closing_time": clock_text(scene.close_hour),
    }
    task = both("Read the information on this shop front.", "请读取这张店面照片上的信息。")
    return format_question("storefront_info", SF_FORMAT, lang, task, fields, answer)


# ---- ShopInterior --------------------------------------------------------------------------------------------------

SI_PRICE: Labels = (PERCEPTION, SINGLE, "OCR", "Price Tag")
SI_MOST_EXPENSIVE: Labels = (REASONING, "Attribute Reasoning", "Attribute Comparison", "Price Comparison")
SI_COUNT: Labels = (PERCEPTION, CROSS, "Object Counting", "Product Counting")
SI_NEIGHBOUR: Labels = (REASONING, "Relation Reasoning", "Spatial Relationship", "Product Placement")
SI_FORMAT: Labels = (PERCEPTION, CROSS, "Structured Image-Text Understanding", "Shelf Inventory")


def shop_interior_topics(scene: ShopInteriorScene, rng: random.Random) -> list[Topic]:
    products = list(scene.products)
    priced = rng.choice(products)
    priciest = max(products, key=lambda p: p.price_cents)
    anchor = rng.choice([p for p in products if scene.right_neighbour(p) is not None])
    neighbour = scene.right_neighbour(anchor)
    assert neighbour is not None
    # Distractor colours come from products in the picture; palette colours fill up only when too few are left.
    scene_colours = [p.colour.en for p in products]
    nearby = [c for c in scene_colours if c not in (anchor.colour.en, neighbour.colour.en)]
    spare = [c for c in COLOUR_NAMES if c not in scene_colours]
    neighbour_others = rng.sample(nearby, min(3, len(nearby)))
    neighbour_others += rng.sample(spare, 3 - len(neighbour_others))

    def colour_of(product_colour: str, lang: str) -> str:
        return COLOUR_BY_NAME[product_colour].name(lang)

    return [
        Topic(
            "price",
            SI_PRICE,
            both(
                f"What is the price, in yuan, on the tag under the {priced.colour.en} product?",
                f"{priced.colour.zh}商品下方价签上的价格是多少元？",
            ),
            answer=priced.price_cents,
            choices=random_choices([p.price_cents for p in products], priced.price_cents, rng),
            render=lambda value, lang: price_text(int(value)),  # type: ignore[call-overload]
            open_hint=both("Answer with the number only, e.g. 12.50.", "只回答数字，例如 12.50。"),
        ),
        Topic(
            "most_expensive",
            SI_MOST_EXPENSIVE,
            both(
                "Which product on the shelves has the highest price? Name it by its colour.",
                "货架上哪件商品的价格最高？请说出它的颜色。",
            ),
            answer=priciest.colour.en,
            choices=random_choices(scene_colours, priciest.colour.en, rng),
            render=colour_text,
            open_hint=ANSWER_COLOUR,
        ),
        Topic(
            "product_count",
            SI_COUNT,
            both("How many products are on the shelves in total?", "货架上一共有多少件商品？"),
            answer=len(products),
            choices=count_choices(len(products), rng, low=1),
            open_hint=ANSWER_NUMBER,
        ),
        Topic(
            "right_neighbour",
            SI_NEIGHBOUR,
            both(
                f"What colour is the product directly to the right of the {anchor.colour.en} product on the same"
                " shelf?",
                f"同一层货架上，紧挨在{anchor.colour.zh}商品右边的商品是什么颜色？",
            ),
            answer=neighbour.colour.en,
            choices=(neighbour.colour.en, *neighbour_others),
            render=colour_of,  # type: ignore[arg-type]
            open_hint=ANSWER_COLOUR,
        ),
    ]


def shop_interior_format(scene: ShopInteriorScene, lang: str) -> Question:
    priciest = max(scene.products, key=lambda p: p.price_cents)
    cheapest = min(scene.products, key=lambda p: p.price_cents)
    colour_hint = both("an English colour name", "用英文颜色名")
    fields = [
        Field("product_count", integer(0, 50), both("how many products stand on the shelves", "货架上的商品数量")),
        Field(
            "most_expensive_color",
            string_enum(COLOUR_NAMES),
            both(f"colour of the most expensive product, {colour_hint[EN]}", f"最贵商品的颜色，{colour_hint[ZH]}"),
        ),
        Field(
            "most_expensive_price",
            {"type": "number", "minimum": 0},
            both("its price in yuan, as a number", "它的价格，单位元，填数字"),
        ),
        Field(
            "cheapest_color",
            string_enum(COLOUR_NAMES),
            both(f"colour of the cheapest product, {colour_hint[EN]}", f"最便宜商品的颜色，{colour_hint[ZH]}"),
        ),
        Field(
            "cheapest_price", {"type": "number", "minimum": 0},
            both("its price in yuan, as a number", "它的价格，单位元，填数字"),
        ),
    ]
    answer = {
        "product_count": len(scene.products),
        "most_expensive_color": priciest.colour.en,
        "most_expensive_price": priciest.price_cents / 100,
        "cheapest_color": cheapest.colour.en,
        "cheapest_price": cheapest.price_cents / 100,
    }
    task = both("Take stock of the products and price tags on these shelves.", "请清点这些货架上的商品和价签。")
    return format_question("shelf_inventory", SI_FORMAT, lang, task, fields, answer)
