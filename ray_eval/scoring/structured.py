"""Scoring answers given in a predefined structure (ShopBench's "format" questions): a JSON object, field by field.

The seed article declared a structured scorer but never wrote it. Here the last JSON object in the response
(fenced or in prose) is compared with the expected object: the score is the share of expected leaf fields the
response got right, so one wrong field of five costs a fifth, not everything. Values are compared the way a
person reading the answer would: "12.50元" is 12.5, "是" is true, "Ｃ区" is "c区". A schema violation is
reported, but does not zero the fields that are right.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from ray_eval.scoring.text import CJK_RANGES, nfkc, normalize_text, strip_reasoning


@dataclass(frozen=True)
class StructuredScore:
    """score: share of expected fields matched, in [0, 1]; parsed: the object read (None: no JSON object found);
    field_results: per expected leaf field (dotted path), whether it matched; schema_errors: violations found."""

    score: float
    parsed: dict | None
    field_results: dict[str, bool] = field(default_factory=dict)
    schema_errors: list[str] = field(default_factory=list)

    @property
    def unparsed(self) -> bool:
        return self.parsed is None


def score_structured(response: str, expected: Mapping, schema: Mapping | None = None) -> float:
    """The share, in [0, 1], of the expected object's fields that the JSON object in the response gets right
    (0.0 when the response holds no JSON object). `read_structured` says which fields and why."""
    return read_structured(response, expected, schema).score


def read_structured(response: str, expected: Mapping, schema: Mapping | None = None) -> StructuredScore:
    """Compare the JSON object in a response with the expected object, field by field."""
    if not isinstance(expected, Mapping):
        raise TypeError(f"expected must be a JSON object (a mapping); got {type(expected).__name__}")
    parsed = find_json_object(response)
    leaves = list(_leaves(expected))
    if parsed is None:
        return StructuredScore(0.0, None, {_path_name(path): False for path, _ in leaves}, [])
    results = {}
    for path, value in leaves:
        present, actual = _lookup(parsed, path)
        results[_path_name(path)] = present and values_match(value, actual)
    errors = schema_errors(parsed, schema) if schema is not None else []
    # An empty expected object has nothing to get wrong: any object is a full answer to it.
    score = sum(results.values()) / len(results) if results else 1.0
    return StructuredScore(score, parsed, results, errors)


# ---- finding the object ---------------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*(?:json5?|javascript|js)?[ \t]*\n?(.*?)```", re.IGNORECASE | re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_MAX_LENIENT_CHARS = 100_000  # ast.literal_eval on megabytes of model output is not worth its cost


def find_json_object(response: str) -> dict | None:
    """The last complete top-level JSON object in a response: in its last ``` fence that holds one, else anywhere.

    Falls back to NFKC (full-width braces and colons from Chinese input methods) and to lenient forms (trailing
    commas, Python-style single quotes) only when the text as written holds no object.
    """
    text = strip_reasoning(response or "")
    for candidate in (text, nfkc(text)):
        for block in reversed([m.group(1) for m in _FENCE.finditer(candidate)]):
            found = _last_object(block)
            if found is not None:
                return found
        found = _last_object(candidate)
        if found is not None:
            return found
    return None


def _last_object(text: str) -> dict | None:
    decoder = json.JSONDecoder()
    last = None
    at = text.find("{")
    while at != -1:
        obj, end = _object_at(decoder, text, at)
        if obj is not None:
            last = obj
            at = text.find("{", end)  # objects nested inside this one are part of it, not candidates
        else:
            at = text.find("{", at + 1)
    return last


def _object_at(decoder: json.JSONDecoder, text: str, at: int) -> tuple[dict | None, int]:
    try:
        obj, end = decoder.raw_decode(text, at)
        return (obj, end) if isinstance(obj, dict) else (None, at)
    except (json.JSONDecodeError, RecursionError):
        pass
    closed = _balanced_end(text, at)
    if closed is None or closed - at > _MAX_LENIENT_CHARS:
        return None, at
    candidate = _TRAILING_COMMA.sub(r"\1", text[at:closed])
    try:
        obj = json.loads(candidate)
    except (json.JSONDecodeError, RecursionError):
        try:
            obj = ast.literal_eval(candidate)  # {'name': 'x', 'open': True}: literals only, never code
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None, at
        obj = _as_json(obj)
    return (obj, closed) if isinstance(obj, dict) else (None, at)


def _balanced_end(text: str, at: int) -> int | None:
    """Index just past the brace closing the one at text[at], skipping braces inside strings; None if unclosed."""
    depth, quote, escaped = 0, "", False
    for index in range(at, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _as_json(value: Any) -> Any:
    """A Python literal turned into JSON types, or None where it has no JSON form (sets, bytes, non-str keys)."""
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return None
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_json(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return None


# ---- comparing values -----------------------------------------------------------------------------------------------


def _leaves(expected: Mapping, prefix: tuple[str, ...] = ()):
    """(path, value) for every leaf field; nested objects are walked, so each of their fields counts once."""
    for key, value in expected.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def _path_name(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _key_form(key: str) -> str:
    # "Shop Name", "shop_name" and "shop-name" are the same field to a reader.
    return re.sub(r"[\s_\-]+", "_", nfkc(str(key)).casefold().strip())


def _lookup(obj: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(obj, Mapping):
            return False, None
        if key in obj:
            obj = obj[key]
            continue
        same = [k for k in obj if _key_form(k) == _key_form(key)]
        if len(same) != 1:
            return False, None
        obj = obj[same[0]]
    return True, obj


_TRUE = {"true", "yes", "y", "是", "是的", "有", "对", "正确"}
_FALSE = {"false", "no", "n", "否", "不是", "无", "没有", "不", "错", "错误"}
_NULL = {"", "null", "none", "n/a", "na", "无", "没有"}


def values_match(expected: Any, actual: Any) -> bool:
    """Whether an answer value matches the expected one, after normalisation (see the module docstring)."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return False
        if not expected:
            return not actual
        for key, value in expected.items():
            present, item = _lookup(actual, (key,))
            if not present or not values_match(value, item):
                return False
        return True  # extra fields in the answer cost nothing, as at the top level
    if isinstance(expected, (list, tuple)):
        return _lists_match(expected, actual)
    if expected is None:
        return actual is None or (isinstance(actual, str) and normalize_text(actual) in _NULL)
    if actual is None or isinstance(actual, (Mapping, list, tuple)):
        return False
    want, got = _as_bool(expected), _as_bool(actual)
    if isinstance(expected, bool) or isinstance(actual, bool) or (want is not None and got is not None):
        return want is not None and want == got
    want_q, got_q = parse_quantity(expected), parse_quantity(actual)
    if want_q is not None and got_q is not None:
        (want_n, want_unit), (got_n, got_unit) = want_q, got_q
        if want_unit and got_unit and want_unit != got_unit:
            return False  # 500 g is not 500 kg; a unit on one side only is the same amount written more fully
        return math.isclose(want_n, got_n, rel_tol=1e-9, abs_tol=1e-9)
    return _text_form(expected) == _text_form(actual)


def _lists_match(expected: list | tuple, actual: Any) -> bool:
    if isinstance(actual, str) and not any(isinstance(item, (Mapping, list, tuple)) for item in expected):
        # "苹果、香蕉" for ["苹果", "香蕉"]: a list written as text.
        actual = [item for item in re.split(r"[,、;\n]|\band\b|和", nfkc(actual)) if item.strip()]
    if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
        return False
    unused = list(actual)
    for item in expected:
        for index, candidate in enumerate(unused):
            if values_match(item, candidate):
                del unused[index]
                break
        else:
            return False
    return True


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        form = normalize_text(value)
        if form in _TRUE:
            return True
        if form in _FALSE:
            return False
    return None


_CURRENCIES = {
    "¥": "CNY", "元": "CNY", "块": "CNY", "块钱": "CNY", "rmb": "CNY", "cny": "CNY", "yuan": "CNY",
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP",
}
_QUANTITY = re.compile(
    r"^(?P<pre>us\$|[¥$€£]|rmb|cny|usd|eur|gbp)?\s*"
    r"(?P<num>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+)\s*"
    rf"(?P<unit>%|[a-zμ]+\.?|[{CJK_RANGES}]{{1,3}})?$"
)


def parse_quantity(value: Any) -> tuple[float, str | None] | None:
    """(number, unit) for a number or a number written with a currency or unit ("¥12.5", "12.50元", "3 kg").

    Currencies are canonical codes, so "¥12.5", "12.5元" and "12.5 yuan" agree. Digit strings with a leading
    zero ("007") are identifiers, not numbers.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return (float(value), None) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(nfkc(value).casefold().strip())
    if match is None:
        return None
    digits = match.group("num").lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1] != ".":
        return None
    number = float(match.group("num").replace(",", ""))
    pre, unit = match.group("pre"), (match.group("unit") or "").rstrip(".")
    if pre and unit and _CURRENCIES.get(unit) not in (None, _CURRENCIES[pre]):
        return None
    canonical = _CURRENCIES.get(pre) if pre else _CURRENCIES.get(unit, unit or None)
    return number, canonical


def _text_form(value: Any) -> str:
    text = normalize_text(str(value))
    # "阳光 面包房" and "阳光面包房" differ only in a space Chinese does not use.
    return re.sub(rf"\s+(?=[{CJK_RANGES}])|(?<=[{CJK_RANGES}])\s+", "", text)


def schema_errors(parsed: Any, schema: Mapping) -> list[str]:
    """Every way parsed violates the JSON Schema, as "path: message" lines (an invalid schema is one error)."""
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [f"the schema itself is invalid: {exc.message}"]
    errors = validator_class(schema).iter_errors(parsed)
    return sorted(f"{error.json_path}: {error.message}" for error in errors)


def canonical_json(obj: Any) -> str:
    """One stable text form of a JSON value (sorted keys, no ASCII escaping), for the extracted column."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)
