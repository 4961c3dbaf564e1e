"""read_structured and the "structured" scorer: JSON found in free text, compared field by field."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ray_eval.scoring import ScoringTarget, get_scorer, read_structured
from ray_eval.scoring.structured import find_json_object, parse_quantity, values_match

SHOP = {
    "shop_name": "阳光面包房",
    "price": 12.5,
    "open": True,
    "items": ["面包", "蛋糕"],
    "address": {"city": "上海", "street": "南京路"},
}
SHOP_SCHEMA = {
    "type": "object",
    "properties": {
        "shop_name": {"type": "string"},
        "price": {"type": "number"},
        "open": {"type": "boolean"},
        "items": {"type": "array", "items": {"type": "string"}},
        "address": {"type": "object", "required": ["city"]},
    },
    "required": ["shop_name", "price", "open"],
}


def test_fenced_chinese_answer_with_units_booleans_and_reordered_list() -> None:
    response = (
        "好的，根据图片，结果如下：\n```json\n"
        '{"shop_name": "阳光面包房", "price": "¥12.50", "open": "是", "items": ["蛋糕", "面包"],'
        ' "address": {"city": "上海", "street": "南京路"}}\n```\n以上是识别结果。'
    )
    result = read_structured(response, SHOP, SHOP_SCHEMA)
    assert result.score == 1.0
    assert result.field_results == {
        "shop_name": True, "price": True, "open": True, "items": True, "address.city": True, "address.street": True,
    }
    assert result.parsed is not None and result.parsed["price"] == "¥12.50"
    assert result.schema_errors == ["$.open: '是' is not of type 'boolean'",
                                    "$.price: '¥12.50' is not of type 'number'"]


def test_nested_fields_count_one_each() -> None:
    response = json.dumps({**SHOP, "address": {"city": "上海市", "street": "南京路"}}, ensure_ascii=False)
    result = read_structured(response, SHOP)
    assert result.field_results["address.city"] is False
    assert result.field_results["address.street"] is True
    assert result.score == pytest.approx(5 / 6)


def test_missing_and_wrong_fields_lower_the_score_in_proportion() -> None:
    expected = {"name": "Sun Bakery", "phone": "021-5555-0100", "floor": 2, "open": False}
    response = 'The shop: {"name": "sun bakery", "phone": "021-5555-0199", "open": "no"}'
    result = read_structured(response, expected)
    assert result.field_results == {"name": True, "phone": False, "floor": False, "open": True}
    assert result.score == 0.5


def test_extra_fields_cost_nothing() -> None:
    result = read_structured('{"name": "Sun Bakery", "confidence": 0.9, "notes": "sign lit"}', {"name": "Sun Bakery"})
    assert result.score == 1.0


def test_plain_json_with_trailing_prose_and_last_object_wins() -> None:
    response = 'First guess: {"count": 3}. On a closer look: {"count": 4, "unit": "chairs"} -- that is my answer.'
    result = read_structured(response, {"count": 4})
    assert result.parsed == {"count": 4, "unit": "chairs"}
    assert result.score == 1.0


def test_last_fenced_block_wins_over_earlier_fence() -> None:
    response = 'Example format:\n```json\n{"count": 0}\n```\nAnswer:\n```\n{"count": 7}\n```'
    assert read_structured(response, {"count": 7}).score == 1.0


def test_braces_inside_strings_do_not_confuse_the_search() -> None:
    response = 'Here: {"sign": "Open {24h}", "note": "a } brace"} done'
    assert find_json_object(response) == {"sign": "Open {24h}", "note": "a } brace"}


def test_no_json_is_unparsed() -> None:
    result = read_structured("The shop is called Sun Bakery and it is open.", {"name": "Sun Bakery"})
    assert result.parsed is None and result.unparsed
    assert result.score == 0.0
    assert result.field_results == {"name": False}


def test_truncated_json_is_unparsed() -> None:
    assert read_structured('```json\n{"name": "Sun Bakery", "open": tr', {"name": "Sun Bakery"}).unparsed


def test_a_json_array_is_not_an_answer_object() -> None:
    assert read_structured('["Sun Bakery"]', {"name": "Sun Bakery"}).parsed is None


def test_json_inside_reasoning_is_ignored() -> None:
    response = '<think>maybe {"name": "Moon Cafe"}</think>\n{"name": "Sun Bakery"}'
    assert read_structured(response, {"name": "Sun Bakery"}).score == 1.0
    assert read_structured('<think>{"name": "Sun Bakery"}</think>', {"name": "Sun Bakery"}).unparsed


def test_lenient_forms_trailing_comma_python_quotes_fullwidth_braces() -> None:
    assert read_structured('{"a": 1, "b": [1, 2,],}', {"a": 1, "b": [2, 1]}).score == 1.0
    assert read_structured("{'open': True, 'name': 'Sun Bakery'}", {"open": True, "name": "Sun Bakery"}).score == 1.0
    assert read_structured("｛“x”：1｝ and ｛\"x\"：2｝", {"x": 2}).score == 1.0


def test_schema_violation_is_recorded_but_fields_still_compared() -> None:
    schema = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count", "unit"]}
    result = read_structured('{"count": "3"}', {"count": 3}, schema)
    assert result.score == 1.0
    assert result.schema_errors == ["$.count: '3' is not of type 'integer'", "$: 'unit' is a required property"]


def test_invalid_schema_is_one_error_not_a_crash() -> None:
    result = read_structured('{"count": 3}', {"count": 3}, {"type": "no-such-type"})
    assert result.score == 1.0
    assert len(result.schema_errors) == 1 and result.schema_errors[0].startswith("the schema itself is invalid")


def test_no_schema_means_no_schema_errors() -> None:
    assert read_structured('{"count": "x"}', {"count": 3}).schema_errors == []


@pytest.mark.parametrize(
    ("expected", "actual", "match"),
    [
        (1, 1.0, True),
        (1, "1", True),
        ("1.0", 1, True),
        (12.5, "¥12.5", True),
        (12.5, "12.50元", True),
        ("¥12.5", "12.5 yuan", True),
        ("12.5元", "¥12.50", True),
        (3, "$3", True),
        ("$3", "3 dollars", True),
        ("$3", "3元", False),
        ("500g", "500 g", True),
        ("500g", "500kg", False),
        (1234, "1,234", True),
        (7, "007", False),
        (12.5, 12.4, False),
        (True, "yes", True),
        (True, "是", True),
        (True, "TRUE", True),
        (False, "否", True),
        (False, "no", True),
        ("是", True, True),
        ("yes", "是", True),
        (True, "no", False),
        (True, "open", False),
        (True, 1, False),
        ("Sun Bakery", "  sun bakery ", True),
        ("ABC Mart", "ＡＢＣ　Ｍａｒｔ", True),
        ("阳光面包房", "阳光 面包房", True),
        ("阳光面包房", "“阳光面包房”。", True),
        ("阳光面包房", "月亮咖啡", False),
        (None, None, True),
        (None, "null", True),
        (None, "Sun Bakery", False),
        ("x", None, False),
        (["面包", "蛋糕"], ["蛋糕", "面包"], True),
        (["面包", "面包", "蛋糕"], ["面包", "蛋糕", "蛋糕"], False),
        (["面包", "蛋糕"], ["面包"], False),
        (["苹果", "香蕉"], "香蕉、苹果", True),
        ([1, 2], ["2", "1.0"], True),
        ([{"name": "a", "qty": 1}], [{"qty": "1", "name": "A", "extra": 0}], True),
        ({"city": "上海"}, "上海", False),
        ({}, {}, True),
    ],
)
def test_values_match(expected, actual, match) -> None:
    assert values_match(expected, actual) is match


def test_field_names_match_across_case_spaces_and_underscores() -> None:
    result = read_structured('{"Shop Name": "Sun Bakery", "OPEN-NOW": true}',
                             {"shop_name": "Sun Bakery", "open_now": True})
    assert result.score == 1.0


def test_parse_quantity_reads_currencies_to_one_code() -> None:
    assert parse_quantity("¥12.5") == parse_quantity("12.50元") == parse_quantity("12.5 yuan") == (12.5, "CNY")
    assert parse_quantity("$3") == (3.0, "USD")
    assert parse_quantity("twelve") is None
    assert parse_quantity(float("nan")) is None


def test_expected_must_be_an_object() -> None:
    with pytest.raises(TypeError):
        read_structured("{}", ["not", "an", "object"])  # type: ignore[arg-type]


def test_result_is_frozen() -> None:
    result = read_structured('{"a": 1}', {"a": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.score = 0.0  # type: ignore[misc]


# ---- the registered scorer ------------------------------------------------------------------------------------------


def test_structured_scorer_reports_canonical_json_and_field_details() -> None:
    target = ScoringTarget("format", answer=json.dumps({"name": "阳光面包房", "floor": 2}, ensure_ascii=False))
    result = get_scorer("structured")('结果：{"floor": "2", "name": "阳光面包房"}', target)
    assert result.score == 1.0 and not result.unparsed
    assert result.extracted == '{"floor": "2", "name": "阳光面包房"}'
    assert result.details["fields_matched"] == 2 and result.details["fields_total"] == 2
    json.dumps(result.details)  # must be serialisable for the score_details column


def test_structured_scorer_unparsed_without_json() -> None:
    result = get_scorer("structured")("It is on the second floor.", ScoringTarget("format", answer='{"floor": 2}'))
    assert result.unparsed and result.score == 0.0 and result.extracted is None


def test_structured_scorer_refuses_a_non_object_answer() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        get_scorer("structured")("{}", ScoringTarget("format", answer="[1, 2]"))


def test_structured_scorer_passes_the_schema_through() -> None:
    target = ScoringTarget("format", answer='{"floor": 2}', answer_schema={"required": ["floor", "room"]})
    result = get_scorer("structured")('{"floor": 2}', target)
    assert result.score == 1.0
    assert result.details["schema_errors"] == ["$: 'room' is a required property"]


# ---- properties -----------------------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
flat_objects = st.dictionaries(st.text(min_size=1, max_size=12), scalars, max_size=8)


@settings(max_examples=150, deadline=None)
@given(flat_objects, st.sampled_from(["{}", "```json\n{}\n```", "Answer:\n{}\nHope this helps.", "结果：{}。"]))
@example({"<THINK>": None}, "{}")  # a key that looks like a reasoning tag is data, not reasoning
@example({"</THINK>": None}, "{}")  # found by this test in CI: a closing tag as a key is data too
def test_an_object_always_matches_itself(obj: dict, wrapper: str) -> None:
    response = wrapper.replace("{}", json.dumps(obj, ensure_ascii=False), 1)
    result = read_structured(response, obj)
    assert result.parsed == obj
    assert result.score == 1.0


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200), flat_objects)
def test_score_is_always_a_share(response: str, expected: dict) -> None:
    result = read_structured(response, expected)
    assert 0.0 <= result.score <= 1.0
    assert set(result.field_results) <= {str(key) for key in expected}


# Keys that no two normalise alike ("Shop Name" and "shop_name" are one field to the scorer).
plain_keys = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(plain_keys, scalars, min_size=1, max_size=8), st.data())
def test_dropping_a_field_loses_exactly_its_share(obj: dict, data) -> None:
    dropped = data.draw(st.sampled_from(sorted(obj)))
    response = json.dumps({key: value for key, value in obj.items() if key != dropped}, ensure_ascii=False)
    result = read_structured(response, obj)
    assert result.field_results[dropped] is False
    assert result.score == pytest.approx((len(obj) - 1) / len(obj))


@pytest.mark.parametrize(
    ("response", "expected", "score"),
    [
        ('{"price": "¥12.5"}', {"price": "12.50元"}, 1.0),
        ('价格：```json\n{"price": "12.50元", "open": "否"}\n```', {"price": 12.5, "open": True}, 0.5),
        ('Ｊｓｏｎ： {"shop_name": "ＳＵＮ  Bakery "}', {"shop_name": "sun bakery"}, 1.0),
        ("no object here", {"price": 12.5}, 0.0),
    ],
)
def test_score_structured_public_form_is_a_float_in_unit_interval(response: str, expected: dict, score: float) -> None:
    from ray_eval.scoring import score_structured

    value = score_structured(response, expected)
    assert isinstance(value, float)
    assert value == score
