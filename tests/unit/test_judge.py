"""The judge's pure parts: verdict parsing (what is accepted, what is refused), cache keys, the on-disk cache."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from ray_eval.scoring import judge
from ray_eval.scoring.judge import (
    RUBRIC,
    JudgeVerdictError,
    VerdictCache,
    cache_key,
    judge_messages,
    parse_verdict,
)

GOOD = [
    ('{"grade": 2, "reason": "same shop name"}', 2, "same shop name"),
    ('{"grade": 1, "reason": "colour right, count wrong"}', 1, "colour right, count wrong"),
    ('{"grade": 0, "reason": "refused"}', 0, "refused"),
    ('  {"reason": "order of keys does not matter", "grade": 2}\n', 2, "order of keys does not matter"),
    ('{"grade": 2}', 2, ""),  # reason missing
    ('{"grade": 0, "reason": null}', 0, ""),
    ('{"grade": 1, "reason": "ok", "confidence": 0.9}', 1, "ok"),  # extra keys ignored
    ('```json\n{"grade": 2, "reason": "fenced"}\n```', 2, "fenced"),
    ('```\n{"grade": 1, "reason": "plain fence"}\n```', 1, "plain fence"),
    ('<think>The answer says red; reference is red.</think>\n{"grade": 2, "reason": "match"}', 2, "match"),
    # A draft verdict inside the reasoning is not the verdict.
    ('<think>maybe {"grade": 0}</think>{"grade": 2, "reason": "final"}', 2, "final"),
    ('reasoning without the opening tag</think> {"grade": 1, "reason": "partial"}', 1, "partial"),
    ('{"grade": 2, "reason": "答案与参考一致：红色"}', 2, "答案与参考一致：红色"),
    ('{"grade": 0, "reason": "\\u7b54\\u975e\\u6240\\u95ee"}', 0, "答非所问"),
    ('Here is my verdict: {"grade": 1, "reason": "half right"} Thanks.', 1, "half right"),
    ('{"grade": 2, "reason": "a"}\n{"grade": 2, "reason": "b"}', 2, "b"),  # repeated, agreeing: the last reason
    ('{"grade": 2, "reason": "nested ok", "evidence": {"grade_hint": 0}}', 2, "nested ok"),
]

BAD = [
    ("", "empty"),
    ("   \n", "empty"),
    ("<think>still thinking about the shop sign", "empty"),  # truncated reasoning: no verdict at all
    ("The answer is correct.", "no JSON object"),
    ("grade: 2", "no JSON object"),
    ("Grade 2 - correct and complete", "no JSON object"),
    ('{"score": 2, "reason": "wrong key"}', 'no JSON object with a "grade" key'),
    ('{"Grade": 2}', 'no JSON object with a "grade" key'),
    ('{"verdict": {"grade": 2}}', 'no JSON object with a "grade" key'),
    ('{"grade": 3, "reason": "too high"}', "got 3"),
    ('{"grade": -1}', "got -1"),
    ('{"grade": "2", "reason": "a string"}', 'got "2"'),
    ('{"grade": 1.5}', "got 1.5"),
    ('{"grade": 2.0}', "got 2.0"),
    ('{"grade": true}', "got true"),
    ('{"grade": null}', "got null"),
    ('{"grade": [2]}', "got [2]"),
    ('{"grade": 2, "reason": ["a", "list"]}', "reason must be a string"),
    ('{"grade": 2, "reason": "first"} {"grade": 0, "reason": "second"}', "conflicting verdicts"),
    ('{"grade": 0, "grade": 2}', "duplicate"),
    ('{"grade": 2, "reason": "the answer names the sh', "torn or invalid JSON"),  # truncated by max_tokens
    ("{'grade': 2, 'reason': 'python quotes'}", "no JSON object"),
    ('{"grade": 2, "reason": "trailing comma",}', "torn or invalid JSON"),
    ('{"grade": 1, "reason": "ok"} then {"grade": 2, "reason": "cut', "torn or invalid JSON"),
    ("[2]", "no JSON object"),
]


@pytest.mark.parametrize(("raw", "grade", "reason"), GOOD)
def test_parse_verdict_accepts(raw: str, grade: int, reason: str) -> None:
    verdict = parse_verdict(raw)
    assert (verdict.grade, verdict.reason, verdict.score) == (grade, reason, grade / 2)


@pytest.mark.parametrize(("raw", "message"), BAD)
def test_parse_verdict_refuses(raw: str, message: str) -> None:
    with pytest.raises(JudgeVerdictError) as caught:
        parse_verdict(raw)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_scores_are_half_grades() -> None:
    assert [parse_verdict(json.dumps({"grade": g})).score for g in (0, 1, 2)] == [0.0, 0.5, 1.0]


def test_judge_messages_are_text_only_and_carry_the_rubric() -> None:
    messages = judge_messages("最便宜的商品是什么颜色？", "红色", "It is red.")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert all(isinstance(m["content"], str) for m in messages)  # no image parts: the judge sees text only
    assert messages[0]["content"] == RUBRIC and '"grade"' in RUBRIC
    user = messages[1]["content"]
    assert "<question>\n最便宜的商品是什么颜色？\n</question>" in user
    assert "<reference_answer>\n红色\n</reference_answer>" in user
    assert "<candidate_answer>\nIt is red.\n</candidate_answer>" in user


def test_the_rubric_format_line_is_not_itself_a_verdict() -> None:
    # A judge that echoes the prompt must not be read as grading: the rubric's JSON template is not valid JSON.
    with pytest.raises(JudgeVerdictError):
        parse_verdict(RUBRIC)


# ---- cache keys ------------------------------------------------------------------------------------------------------

KEY_INPUTS = ("How many staff wear hats?", "two staff", "Two of them.", "judge-model")


def test_cache_key_is_stable_hex() -> None:
    key = cache_key(*KEY_INPUTS)
    assert key == cache_key(*KEY_INPUTS)
    assert len(key) == 64 and int(key, 16) >= 0


@pytest.mark.parametrize("position", range(4))
def test_cache_key_changes_with_each_input(position: int) -> None:
    changed = list(KEY_INPUTS)
    changed[position] += " "
    assert cache_key(*changed) != cache_key(*KEY_INPUTS)


def test_cache_key_does_not_confuse_field_boundaries() -> None:
    assert cache_key("a", "bc", "d", "m") != cache_key("ab", "c", "d", "m")


def test_cache_key_changes_with_the_rubric(monkeypatch: pytest.MonkeyPatch) -> None:
    before = cache_key(*KEY_INPUTS)
    monkeypatch.setattr(judge, "RUBRIC_VERSION", judge.RUBRIC_VERSION + "-next")
    after_version = cache_key(*KEY_INPUTS)
    monkeypatch.setattr(judge, "RUBRIC", judge.RUBRIC + " ")
    assert len({before, after_version, cache_key(*KEY_INPUTS)}) == 3


# ---- verdict cache ---------------------------------------------------------------------------------------------------


def test_cache_round_trip(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path / "cache")
    key = cache_key(*KEY_INPUTS)
    assert cache.get(key) is None
    record = {"raw": '{"grade": 2, "reason": "对"}', "grade": 2}
    cache.put(key, record)
    assert cache.get(key) == record
    assert (tmp_path / "cache" / key[:2] / f"{key}.json").is_file()
    cache.put(key, {"raw": "newer"})
    assert cache.get(key) == {"raw": "newer"}


@pytest.mark.parametrize("content", [b'{"raw": "torn', b"\xff\xfe not utf-8", b"[1, 2]", b""])
def test_corrupt_cache_file_is_a_miss_and_is_overwritten(tmp_path: Path, content: bytes) -> None:
    cache = VerdictCache(tmp_path)
    key = cache_key(*KEY_INPUTS)
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_bytes(content)
    assert cache.get(key) is None
    cache.put(key, {"raw": "fixed"})
    assert cache.get(key) == {"raw": "fixed"}


def test_cache_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path)
    keys = [cache_key(str(i), "r", "a", "m") for i in range(20)]
    threads = [threading.Thread(target=cache.put, args=(key, {"i": i})) for i, key in enumerate(keys)
               for _ in range(3)]  # three writers per key, like actors judging the same answer
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted(cache.path(key) for key in keys)
    assert [cache.get(key) for key in keys] == [{"i": i} for i in range(20)]


def test_failed_cache_write_removes_its_temporary_file(tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path)
    key = cache_key(*KEY_INPUTS)
    with pytest.raises(TypeError):
        cache.put(key, {"raw": object()})  # not JSON-serialisable: fails halfway through writing
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert cache.get(key) is None


def test_cache_refuses_keys_that_are_not_hashes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a cache key"):
        VerdictCache(tmp_path).get("../../etc/passwd")
