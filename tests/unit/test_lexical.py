"""The CJK-aware tokenizer, token F1/recall, and the open-answer scorers ("token_f1", "exact_match")."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ray_eval.scoring import ScoringTarget, get_scorer, token_f1, token_recall, tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("苹果、香蕉、牛奶", ["苹", "果", "香", "蕉", "牛", "奶"]),
        ("The shop is OPEN.", ["the", "shop", "is", "open"]),
        ("售价12.5元", ["售", "价", "12.5", "元"]),
        ("Price: ¥5,999.00", ["price", "5999.00"]),
        ("iPhone15 and 500ml", ["iphone", "15", "and", "500", "ml"]),
        ("ＡＢＣ超市　２４小时", ["abc", "超", "市", "24", "小", "时"]),  # full-width forms fold (NFKC)
        ("ラーメン屋 さん", ["ラ", "ー", "メ", "ン", "屋", "さ", "ん"]),  # Katakana, Han, Hiragana
        ("한국 식당", ["한", "국", "식", "당"]),
        ("Café 'Noël' — open!", ["café", "noël", "open"]),
        ("1,2,3", ["1", "2", "3"]),  # a list of numbers is not one thousands-grouped number
        ("...!?，。", []),
        ("", []),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_chinese_overlap_is_counted_per_character() -> None:
    # The seed article split this reference on spaces: one "keyword" the answer could never match in part.
    reference = "苹果、香蕉、牛奶、面包、鸡蛋"
    response = "图中有苹果、香蕉和牛奶。"
    assert token_recall(response, reference) == pytest.approx(6 / 10)
    assert 0.0 < token_f1(response, reference) < 1.0


def test_english_f1_by_hand() -> None:
    # response tokens: the sign says sun bakery (5); reference: sun bakery (2); common 2
    assert token_f1("The sign says Sun Bakery", "Sun Bakery") == pytest.approx(2 * (2 / 5) * 1.0 / (2 / 5 + 1.0))
    assert token_recall("The sign says Sun Bakery", "Sun Bakery") == 1.0


def test_counts_are_multisets() -> None:
    assert token_recall("bread bread bread", "bread cake bread") == pytest.approx(2 / 3)
    assert token_f1("面包面包面包", "面包") == pytest.approx(2 * (2 / 6) * 1.0 / (2 / 6 + 1.0))


def test_only_the_answer_after_reasoning_counts() -> None:
    response = "<think>Maybe it is Moon Cafe or Sun Bakery.</think>Sun Bakery"
    assert token_f1(response, "Sun Bakery") == 1.0
    assert token_f1("<think>Sun Bakery", "Sun Bakery") == 0.0  # cut off while thinking: no answer


def test_no_overlap_and_empty_texts() -> None:
    assert token_f1("Moon Cafe", "阳光面包房") == 0.0
    assert token_f1("", "Sun Bakery") == 0.0
    assert token_recall("Sun Bakery", "") == 0.0
    assert token_f1("", "") == 1.0


def test_case_and_width_do_not_matter() -> None:
    assert token_f1("ＳＵＮ　ＢＡＫＥＲＹ，营业中", "sun bakery 营业中") == 1.0


# ---- properties -----------------------------------------------------------------------------------------------------

texts = st.text(alphabet=st.sampled_from(list("ab c1.营业中面包ラ한 ,，Ａ")), max_size=30) | st.text(max_size=30)


@settings(max_examples=200, deadline=None)
@given(texts, texts)
def test_f1_and_recall_are_in_unit_interval(a: str, b: str) -> None:
    assert 0.0 <= token_f1(a, b) <= 1.0
    assert 0.0 <= token_recall(a, b) <= 1.0


@settings(max_examples=200, deadline=None)
@given(texts, texts)
def test_f1_is_symmetric(a: str, b: str) -> None:
    assert token_f1(a, b) == token_f1(b, a)


@settings(max_examples=200, deadline=None)
@given(texts.filter(lambda t: tokenize(t)))
def test_identical_non_empty_text_scores_one(text: str) -> None:
    assert token_f1(text, text) == 1.0
    assert token_recall(text, text) == 1.0


@settings(max_examples=100, deadline=None)
@given(texts, texts)
def test_recall_never_drops_when_the_answer_grows(a: str, extra: str) -> None:
    reference = "苹果 香蕉 milk 12.5"
    assert token_recall(a + " " + extra, reference) >= token_recall(a, reference)


# ---- the registered scorers -----------------------------------------------------------------------------------------


def test_token_f1_scorer() -> None:
    target = ScoringTarget("open", answer="生熟食品未分开存放")
    result = get_scorer("token_f1")("<think>看一下冰箱</think>生熟食品没有分开存放。", target)
    assert not result.unparsed
    assert result.extracted == "生熟食品没有分开存放。"
    assert 0.5 < result.score < 1.0
    assert result.details["reference_tokens"] == 9
    json.dumps(result.details)


@pytest.mark.parametrize("response", ["", "   ", "<think>still thinking about the shelves"])
def test_token_f1_scorer_unparsed_only_without_answer_text(response: str) -> None:
    result = get_scorer("token_f1")(response, ScoringTarget("open", answer="Sun Bakery"))
    assert result.unparsed and result.score == 0.0


def test_token_f1_scorer_wrong_answer_is_parsed_but_zero() -> None:
    result = get_scorer("token_f1")("Moon Cafe", ScoringTarget("open", answer="Sun Bakery"))
    assert not result.unparsed and result.score == 0.0


@pytest.mark.parametrize(
    ("response", "answer", "score"),
    [
        ("**Sun Bakery.**", "sun bakery", 1.0),
        ("“阳光面包房”。", "阳光面包房", 1.0),
        ("The shop is Sun Bakery", "Sun Bakery", 0.0),
        ("<think>hmm</think> B", "B", 1.0),
    ],
)
def test_exact_match_scorer_text(response: str, answer: str, score: float) -> None:
    assert get_scorer("exact_match")(response, ScoringTarget("open", answer=answer)).score == score


def test_exact_match_scorer_format_compares_objects() -> None:
    target = ScoringTarget("format", answer='{"floor": 2, "name": "Sun Bakery"}')
    assert get_scorer("exact_match")('```json\n{"name": "Sun Bakery", "floor": 2}\n```', target).score == 1.0
    assert get_scorer("exact_match")('{"name": "sun bakery", "floor": 2}', target).score == 0.0
    assert get_scorer("exact_match")("second floor", target).unparsed
