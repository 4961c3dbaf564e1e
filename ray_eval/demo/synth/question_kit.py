"""Building blocks for synthetic questions: a drawn fact becomes an mcq, an open or a format question.

A Topic is one fact of a scene (a shop name, a price, whether staff member 2 wears gloves) with its question text
in English and Chinese and four candidate values for the multiple-choice version. The candidates are built so
that nothing but the picture tells the right one apart:
  * grid_choices crosses two facts, each with its true value and one alternative (2 x 2 options), so every option
    shares each part with exactly one other option and no option is the "centre" of the set;
  * other choices are drawn at random from the same pool the true value came from.
The option order is shuffled with the question's own RNG, so the correct letter is uniform over A-D.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ray_eval.data.taxonomy import AnswerFormat, option_letter
from ray_eval.demo.synth.vocab import COLOUR_BY_NAME, EN, ZH, yes_no

Labels = tuple[str, str, str, str]  # l1, l2, l3, l4 of ShopBench's taxonomy

CRITICAL_WEIGHT = 2.0  # hygiene and safety probes count double, and the canary re-runs them
MCQ_OPTIONS = 4
PoolItem = TypeVar("PoolItem", bound=Hashable)  # what other_than picks among: the pool's own type, not Hashable
FirstFact = TypeVar("FirstFact", bound=Hashable)  # the two facts a grid_choices pair combines
SecondFact = TypeVar("SecondFact", bound=Hashable)


@dataclass(frozen=True)
class Question:
    """One finished question about a scene, ready to become a manifest row."""

    topic: str
    format: AnswerFormat
    lang: str
    text: str
    answer: str | dict[str, Any]
    labels: Labels
    options: tuple[str, ...] = ()
    schema: dict[str, Any] | None = None
    critical: bool = False
    fact: Any = None  # the drawn value the answer encodes, language-neutral (tests compare it with the scene)

    @property
    def weight(self) -> float:
        return CRITICAL_WEIGHT if self.critical else 1.0


@dataclass(frozen=True)
class Topic:
    """One fact of a scene that can be asked as an mcq or an open question."""

    name: str
    labels: Labels
    question: dict[str, str]  # by language, without options or answer hints
    answer: Hashable  # the true value, language-neutral
    choices: tuple[Hashable, ...] = ()  # MCQ_OPTIONS distinct values, the answer among them; () = no mcq
    render: Callable[[Hashable, str], str] = lambda value, lang: str(value)  # value -> text in a language
    open_hint: dict[str, str] = field(default_factory=dict)  # how to answer an open question, by language
    mcq_question: dict[str, str] | None = None  # a different wording for the mcq version, if needed
    critical: bool = False
    open_ok: bool = True  # False where the value has no short text answer (a 2 x 2 grid of facts)

    @property
    def mcq_ok(self) -> bool:
        return bool(self.choices)

    def __post_init__(self) -> None:
        if self.choices and (len(set(self.choices)) != MCQ_OPTIONS or self.answer not in self.choices):
            raise ValueError(f"topic {self.name}: choices {self.choices!r} must be {MCQ_OPTIONS} distinct values"
                             f" including the answer {self.answer!r}")


def as_mcq(topic: Topic, lang: str, rng: random.Random) -> Question:
    order = list(topic.choices)
    rng.shuffle(order)
    options = tuple(topic.render(value, lang) for value in order)
    if len(set(options)) != len(options):
        raise ValueError(f"topic {topic.name}: options render to duplicates {options!r}")
    text = (topic.mcq_question or topic.question)[lang]
    return Question(
        topic=topic.name,
        format=AnswerFormat.MCQ,
        lang=lang,
        text=text,
        answer=option_letter(order.index(topic.answer)),
        labels=topic.labels,
        options=options,
        critical=topic.critical,
        fact=topic.answer,
    )


def as_open(topic: Topic, lang: str) -> Question:
    hint = topic.open_hint.get(lang, "")
    return Question(
        topic=topic.name,
        format=AnswerFormat.OPEN,
        lang=lang,
        text=f"{topic.question[lang]}{' ' if hint and lang == EN else ''}{hint}",
        answer=topic.render(topic.answer, lang),
        labels=topic.labels,
        critical=topic.critical,
        fact=topic.answer,
    )


# ---- candidate values for mcq options ----------------------------------------------------------------------------


def grid_choices(
    first: tuple[FirstFact, FirstFact], second: tuple[SecondFact, SecondFact]
) -> tuple[tuple[FirstFact, SecondFact], ...]:
    """All pairs of (true, alternative) x (true, alternative); the true pair is (first[0], second[0])."""
    return tuple((a, b) for a in first for b in second)


def other_than(pool: Sequence[PoolItem], value: PoolItem, rng: random.Random) -> PoolItem:
    """A random pool member different from value."""
    return rng.choice([item for item in pool if item != value])


def random_choices(pool: Sequence[Hashable], answer: Hashable, rng: random.Random) -> tuple[Hashable, ...]:
    """The answer and MCQ_OPTIONS - 1 other pool members picked at random."""
    others = [item for item in pool if item != answer]
    return (answer, *rng.sample(others, MCQ_OPTIONS - 1))


def count_choices(value: int, rng: random.Random, low: int = 0) -> tuple[int, ...]:
    """MCQ_OPTIONS consecutive integers (not below low) holding value, the window's position chosen at random."""
    first = rng.randint(max(low, value - MCQ_OPTIONS + 1), value)
    return tuple(range(first, first + MCQ_OPTIONS))


# ---- format (JSON) questions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One key of a format question's JSON answer."""

    name: str
    schema: dict[str, Any]
    meaning: dict[str, str]  # by language, shown in the question text


def string_enum(values: Sequence[str]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


BOOLEAN: dict[str, Any] = {"type": "boolean"}


def integer(minimum: int, maximum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


_FORMAT_INTRO = {
    EN: "Answer with a JSON object only, with exactly these keys:",
    ZH: "请只用一个 JSON 对象回答，且只包含以下键：",
}


def format_question(
    topic: str,
    labels: Labels,
    lang: str,
    task: dict[str, str],
    fields: Sequence[Field],
    answer: dict[str, Any],
    critical: bool = False,
) -> Question:
    """A question whose answer is a JSON object; the schema lists the keys, types and allowed values."""
    if set(answer) != {f.name for f in fields}:
        raise ValueError(f"topic {topic}: answer keys {sorted(answer)} differ from the fields")
    sep = "; " if lang == EN else "；"
    keys = sep.join(
        f'"{f.name}" ({f.meaning[lang]})' if lang == EN else f'"{f.name}"（{f.meaning[lang]}）' for f in fields
    )
    schema = {
        "type": "object",
        "properties": {f.name: {**f.schema, "description": f.meaning[EN]} for f in fields},
        "required": [f.name for f in fields],
        "additionalProperties": False,
    }
    space = " " if lang == EN else ""
    return Question(
        topic=topic,
        format=AnswerFormat.FORMAT,
        lang=lang,
        text=f"{task[lang]}{space}{_FORMAT_INTRO[lang]}{space}{keys}{'.' if lang == EN else '。'}",
        answer=answer,
        labels=labels,
        schema=schema,
        critical=critical,
        fact=dict(answer),
    )


def both(en: str, zh: str) -> dict[str, str]:
    """A text in both languages (keeps the call sites short)."""
    return {EN: en, ZH: zh}


# ---- shared by the question modules ------------------------------------------------------------------------------

PERCEPTION, REASONING = "Perception", "Reasoning"
SINGLE, CROSS = "Fine-grained Single-instance", "Fine-grained Cross-instance"

ANSWER_NUMBER = both("Answer with a number.", "请用数字回答。")
ANSWER_COLOUR = both("Answer with the colour name only.", "只回答颜色。")
ANSWER_YES_NO = both("Answer yes or no.", "请回答是或否。")


def colour_text(name: Hashable, lang: str) -> str:
    return COLOUR_BY_NAME[str(name)].name(lang)


def yes_no_text(value: Hashable, lang: str) -> str:
    return yes_no(bool(value), lang)
