"""The guard suites' scorers: yes_no (MME, POPE) reads a yes or a no or leaves the reply unparsed, never guessing;
ocr_contains_any (OCRBench) accepts a reply that contains any acceptable answer under OCRBench's normalisation."""

from __future__ import annotations

import pytest

from ray_eval.data.acceptable_answers import AnswerListError, acceptable_answers, parse_answer_list
from ray_eval.scoring import SCORERS, ScoringTarget, get_scorer
from ray_eval.scoring.yes_no import expected_yes_no, read_yes_no

# (reply, what is read: "yes", "no", or None for unparsed)
YES_NO_TABLE = [
    ("Yes", "yes"),
    ("yes.", "yes"),
    ("YES!", "yes"),
    ("No", "no"),
    ("no.", "no"),
    ("Nope.", "no"),
    ("Answer: Yes", "yes"),
    ("answer: no", "no"),
    ("The answer is yes.", "yes"),
    ("Final answer: No", "no"),
    ("**Yes**, there is a red circle in the picture.", "yes"),
    ("No, there is no red circle.", "no"),
    ("There is no red circle in the picture.", "no"),
    ("Looking at the picture, yes.", "yes"),
    ("<think>Is it red? no... wait</think>Yes.", "yes"),
    ("Yes, a blue square and no other shapes.", "yes"),
    ("No doubt, yes.", "yes"),
    ("Ｙｅｓ。", "yes"),
    ("“No.”", "no"),
    ("是的，图中有一个红色圆形。", "yes"),
    ("是。", "yes"),
    ("是", "yes"),
    ("不是。", "no"),
    ("否", "no"),
    ("对", "yes"),
    ("不对，那是蓝色的。", "no"),
    ("有。", "yes"),
    ("没有，图中只有方形。", "no"),
    ("答案：否", "no"),
    ("答案是：是", "yes"),
    # neither, both, hedges: unparsed
    ("", None),
    ("<think>The circle is red so yes", None),
    ("I see a red circle and a blue square.", None),
    ("有两个圆形。", None),
    ("这是一个红色的圆形。", None),
    ("Yes or no: I am not sure.", None),
    ("Yes or no?", None),
    ("yes/no", None),
    ("Yes. No, wait: no.", None),
    ("Yes, no.", None),
    ("Maybe yes.", None),
    ("Probably no.", None),
    ("It could be yes, the shape is hard to see.", None),
    ("I cannot tell from the picture.", None),
    ("I can’t tell.", None),
    ("I don't know.", None),
    ("It depends on the lighting; yes.", None),
    ("可能是。", None),
    ("不确定。", None),
    ("对不起，我无法判断。", None),
]


@pytest.mark.parametrize(("reply", "read"), YES_NO_TABLE, ids=[repr(reply) for reply, _ in YES_NO_TABLE])
def test_yes_no_extraction(reply: str, read: str | None) -> None:
    reading = read_yes_no(reply)
    assert reading.answer == read, reading.note


def test_the_table_covers_both_answers_hedges_and_chinese() -> None:
    assert len(YES_NO_TABLE) >= 20
    reads = [read for _, read in YES_NO_TABLE]
    assert reads.count("yes") >= 5 and reads.count("no") >= 5 and reads.count(None) >= 10
    assert sum(any("\u4e00" <= char <= "\u9fff" for char in reply) for reply, _ in YES_NO_TABLE) >= 10


@pytest.mark.parametrize(
    ("reply", "answer", "score", "unparsed"),
    [
        ("Yes.", "Yes", 1.0, False),
        ("No, it is blue.", "Yes", 0.0, False),
        ("no", "No", 1.0, False),
        ("是的", "yes", 1.0, False),
        ("不是", "是", 0.0, False),
        ("否。", "否", 1.0, False),
        ("Maybe.", "No", 0.0, True),
        ("Yes and no.", "No", 0.0, True),
    ],
)
def test_yes_no_scorer(reply: str, answer: str, score: float, unparsed: bool) -> None:
    result = get_scorer("yes_no")(reply, ScoringTarget("open", (), answer))
    assert (result.score, result.unparsed) == (score, unparsed)
    assert result.extracted == (None if unparsed else read_yes_no(reply).answer)
    assert result.details["expected"] == expected_yes_no(answer)


def test_yes_no_scorer_refuses_an_answer_that_is_not_yes_or_no() -> None:
    with pytest.raises(ValueError, match=r"the yes_no scorer needs an answer of yes or no; got 'red circle'"):
        get_scorer("yes_no")("Yes", ScoringTarget("open", (), "red circle"))


def test_the_guard_scorers_are_registered_by_name() -> None:
    assert {"yes_no", "ocr_contains_any"} <= set(SCORERS)


# ---- ocr_contains_any -----------------------------------------------------------------------------------------------

LIST_CELL = '["350 g", "350g"]'


@pytest.mark.parametrize(
    ("reply", "answer", "score", "matched"),
    [
        ("350 g", LIST_CELL, 1.0, "350 g"),
        ("The label says 350G.", LIST_CELL, 1.0, "350g"),
        ("It weighs\n350 g in total", LIST_CELL, 1.0, "350 g"),  # a line break reads as a space
        ("350", LIST_CELL, 0.0, None),  # the unit was asked for
        ("3 50 g", LIST_CELL, 0.0, None),
        ("<think>350 g?</think>I think 530 g", LIST_CELL, 0.0, None),  # only the answer after reasoning counts
        ("['Centre', 'centre']", "['Centre', 'centre']", 1.0, "Centre"),
        ("The sign reads FRESH MILK.", "Fresh Milk", 1.0, "Fresh Milk"),  # a string cell: one acceptable answer
        ("Fresh", "Fresh Milk", 0.0, None),
        ("全场八折", '["八折", "8折"]', 1.0, "八折"),
    ],
)
def test_ocr_contains_any(reply: str, answer: str, score: float, matched: str | None) -> None:
    result = get_scorer("ocr_contains_any")(reply, ScoringTarget("open", (), answer))
    assert (result.score, result.unparsed, result.details["matched"]) == (score, False, matched)
    assert result.details["acceptable"] == list(acceptable_answers(answer))


def test_ocr_contains_any_leaves_an_empty_reply_unparsed() -> None:
    result = get_scorer("ocr_contains_any")("<think>350 g", ScoringTarget("open", (), LIST_CELL))
    assert (result.score, result.unparsed, result.extracted) == (0.0, True, None)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("[closed]", r"'\[closed\]' is neither a JSON nor a Python list of answers"),
        ("[]", r"'\[\]' must be a non-empty list of answer texts"),
        ('["350 g", 350]', r"item 1 of .* is not a non-empty text \(350\)"),
        ('["350 g", " "]', r"item 1 of .* is not a non-empty text \(' '\)"),
    ],
)
def test_a_malformed_list_is_an_error_naming_it_never_a_guess(cell: str, message: str) -> None:
    with pytest.raises(AnswerListError, match=message):
        parse_answer_list(cell)
    with pytest.raises(AnswerListError, match=message):  # the scoring stage makes it that row's error
        get_scorer("ocr_contains_any")("350 g", ScoringTarget("open", (), cell))


def test_answer_lists_json_python_and_plain_text() -> None:
    assert parse_answer_list('["a", "b"]') == ["a", "b"]
    assert parse_answer_list("['a', \"b's\"]") == ["a", "b's"]
    assert parse_answer_list("Fresh Milk") is None
    assert parse_answer_list("[1] Main Street") is None  # not closed by "]": one answer
    assert acceptable_answers('["[closed]"]') == ("[closed]",)
