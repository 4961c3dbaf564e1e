"""The judge stage against a real scripted judge server: grades become scores, malformed verdicts and judge failures
become error rows keeping what the judge said, other rows pass untouched, verdicts are cached on disk. Most tests
call the stage in-process; one runs it through Ray Data on an actor pool."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ray_eval.config import JudgeConfig, OpenAIEngineConfig
from ray_eval.engines import EngineSpec
from ray_eval.errors import StageInputError
from ray_eval.pipeline.judge import JudgeSetup, JudgeStage
from ray_eval.records import RESULT_SCHEMA
from ray_eval.scoring.judge import RUBRIC, RUBRIC_VERSION, VerdictCache, cache_key
from ray_eval.testing import Reply, ScriptedOpenAIServer, constant

JUDGE_MODEL = "judge-model"
CORRECT = '{"grade": 2, "reason": "same colour"}'


def verdict(grade: Any, reason: str = "scripted") -> Reply:
    return Reply.text(json.dumps({"grade": grade, "reason": reason}, ensure_ascii=False))


def result_row(sample_id: str, response: str = "It is red.", **overrides: Any) -> dict[str, Any]:
    """A RESULT_SCHEMA row as the scoring stage leaves an open answer routed to the judge."""
    row = dict.fromkeys(RESULT_SCHEMA.names)
    row.update(sample_id=sample_id, source="manifest.jsonl", row_number=1, subset="ShopInterior", format="open",
               input_type="single", question="最便宜的商品是什么颜色？", options=[], answer="红色", weight=1.0,
               critical=False, media_refs=["media/shelf.jpg"], media_digests=["ab"], variant="standard",
               status="ok", response=response, finish_reason="stop", latency_s=0.1, attempts=1, scorer="judge")
    row.update(overrides)
    return row


def make_setup(server: ScriptedOpenAIServer, cache_dir: Path, *, threshold: float = 0.5,
               model: str = JUDGE_MODEL) -> JudgeSetup:
    engine = OpenAIEngineConfig(base_url=server.base_url, model=model, timeout_s=2, max_retries=1,
                                backoff_initial_s=0, backoff_max_s=0)
    return JudgeSetup(engine=EngineSpec(engine, None, 4), config=JudgeConfig(engine=engine, max_tokens=64),
                      cache_dir=cache_dir, pass_threshold=threshold)


def run_stage(setup: JudgeSetup, rows: list[dict[str, Any]]) -> pa.Table:
    """One actor's life in-process: build the stage, judge one batch, close its client."""
    async def judge_batch() -> pa.Table:
        stage = JudgeStage(setup)
        try:
            return await stage(pa.Table.from_pylist(rows, schema=RESULT_SCHEMA))
        finally:
            await stage.engine.aclose()

    out = asyncio.run(judge_batch())
    assert out.schema == RESULT_SCHEMA and out.num_rows == len(rows)
    return out


def judged(setup: JudgeSetup, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["sample_id"]: row for row in run_stage(setup, rows).to_pylist()}


@pytest.fixture
def server():
    with ScriptedOpenAIServer(default=constant(CORRECT), model=JUDGE_MODEL) as running:
        yield running


@pytest.mark.parametrize(("threshold", "passing"), [(0.5, {"correct", "partial"}), (1.0, {"correct"})])
def test_grades_become_scores(server, tmp_path: Path, threshold: float, passing: set[str]) -> None:
    server.set_script("partial", [verdict(1, "颜色对，数量错")])
    server.set_script("wrong", [verdict(0)])
    rows = [result_row("correct", "<think>shelf has a red tag</think> It is red."), result_row("partial"),
            result_row("wrong", "Blue.")]
    out = judged(make_setup(server, tmp_path, threshold=threshold), rows)
    assert {sid: row["score"] for sid, row in out.items()} == {"correct": 1.0, "partial": 0.5, "wrong": 0.0}
    assert {sid for sid, row in out.items() if row["passed"]} == passing
    correct = out["correct"]
    assert correct["status"] == "ok" and correct["scorer"] == "judge" and correct["unparsed"] is False
    assert correct["extracted"] == "It is red." and correct["judge_verdict"] == CORRECT
    assert json.loads(correct["score_details"]) == {"judge_model": JUDGE_MODEL, "rubric_version": RUBRIC_VERSION,
                                                    "grade": 2, "reason": "same colour", "cached": False}
    assert json.loads(out["partial"]["score_details"])["reason"] == "颜色对，数量错"


def test_judge_request_is_greedy_and_carries_the_rubric(server, tmp_path: Path) -> None:
    judged(make_setup(server, tmp_path), [result_row("s1", "<think>hmm</think>It is red.")])
    [request] = server.requests
    assert request.sample_id == "s1" and request.model == JUDGE_MODEL
    assert request.temperature == 0 and request.seed == 0 and request.max_tokens == 64
    assert request.body["messages"][0] == {"role": "system", "content": RUBRIC}
    assert request.image_count == 0 and request.video_count == 0  # the judge reads text only
    assert "<candidate_answer>\nIt is red.\n</candidate_answer>" in request.user_text  # reasoning stripped
    assert "最便宜的商品是什么颜色？" in request.user_text and "<reference_answer>\n红色\n" in request.user_text


MALFORMED = {
    "prose": "The candidate answer is correct.",
    "bad-json": '{"grade": 2, "reason": "names the right colour"',
    "out-of-range": '{"grade": 3, "reason": "excellent"}',
    "string-grade": '{"grade": "2", "reason": "quoted"}',
    "conflicting": '{"grade": 2} {"grade": 0}',
    "empty": "",
}


def test_malformed_verdicts_become_error_rows(server, tmp_path: Path) -> None:
    for sample_id, raw in MALFORMED.items():
        server.set_script(sample_id, [Reply.text(raw)])
    out = judged(make_setup(server, tmp_path), [result_row(sid) for sid in MALFORMED])
    for sample_id, raw in MALFORMED.items():
        row = out[sample_id]
        assert (row["status"], row["error_stage"], row["error_type"]) == ("error", "judge", "JudgeVerdictError")
        assert row["judge_verdict"] == raw and row["error"]  # the reviewer sees what the judge said, and why not
        assert (row["score"], row["passed"], row["unparsed"], row["scorer"]) == (0.0, False, False, "judge")
    assert server.attempts("prose") == 1  # a malformed verdict is not retried (temperature 0 says the same again)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # only valid verdicts are cached


def test_judge_failures_become_error_rows(server, tmp_path: Path) -> None:
    server.set_script("down", [Reply.status(500)])
    server.set_script("garbled", [Reply.malformed("not_json")])
    server.set_script("recovers", [Reply.status(503), verdict(2)])
    out = judged(make_setup(server, tmp_path), [result_row("down"), result_row("garbled"), result_row("recovers")])
    down = out["down"]
    assert (down["status"], down["error_stage"], down["error_type"]) == ("error", "judge", "HTTP 500")
    assert down["judge_verdict"] is None and down["score"] == 0.0 and down["passed"] is False
    assert server.attempts("down") == 2  # max_retries=1: tried twice, then an error row, never a guess
    assert out["garbled"]["error_type"] == "EngineBadResponse" and out["garbled"]["error_stage"] == "judge"
    assert down["engine_fault"] is True and out["garbled"]["engine_fault"] is False  # the judge's engine failed
    assert out["recovers"]["status"] == "ok" and out["recovers"]["score"] == 1.0


def test_rows_not_for_the_judge_pass_untouched(server, tmp_path: Path) -> None:
    rows = [
        result_row("inference-error", None, status="error", error_stage="inference", error_type="HTTP 500",
                   error="HTTP 500: boom", score=0.0, passed=False, unparsed=False, scorer=None),
        result_row("lexical", "red", scorer="token_f1", score=1.0, passed=True, unparsed=False, extracted="red",
                   score_details="{}"),
        result_row("mcq", "B", format="mcq", options=["x", "y"], answer="B", scorer="choice", score=1.0,
                   passed=True, unparsed=False, extracted="B"),
        result_row("already-judged", score=1.0, passed=True, unparsed=False, judge_verdict=CORRECT),
        result_row("to-judge"),
    ]
    table = pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
    out = run_stage(make_setup(server, tmp_path), rows)
    assert out.slice(0, 4).equals(table.slice(0, 4))  # byte for byte
    assert [r.sample_id for r in server.requests] == ["to-judge"]
    assert out.slice(4).to_pylist()[0]["score"] == 1.0


@pytest.mark.parametrize("response", ["", None, "<think>the sign is red</think>", "<think>cut off mid-reasoning"])
def test_an_empty_answer_scores_zero_without_asking_the_judge(server, tmp_path: Path, response) -> None:
    [row] = run_stage(make_setup(server, tmp_path), [result_row("empty", response)]).to_pylist()
    assert (row["status"], row["score"], row["passed"], row["unparsed"]) == ("ok", 0.0, False, True)
    assert row["scorer"] == "judge" and row["judge_verdict"] is None
    assert server.requests == []


def test_second_run_is_served_from_the_cache(server, tmp_path: Path) -> None:
    server.set_script("partial", [verdict(1)])
    server.set_script("malformed", [Reply.text("no verdict here")])
    rows = [result_row("correct"), result_row("partial", "Red and blue."), result_row("malformed", "Green.")]
    setup = make_setup(server, tmp_path / "cache")
    first = judged(setup, rows)
    asked = len(server.requests)
    assert asked == 3

    second = judged(setup, rows)  # a new actor (new stage, new client), the same cache folder
    assert [r.sample_id for r in server.requests[asked:]] == ["malformed"]  # only the invalid verdict is asked again
    for sample_id in ("correct", "partial"):
        assert json.loads(second[sample_id]["score_details"])["cached"] is True
        for column in ("score", "passed", "judge_verdict", "extracted", "status"):
            assert second[sample_id][column] == first[sample_id][column]

    judged(make_setup(server, tmp_path / "cache", model="another-judge"), rows[:1])
    assert len(server.requests) == asked + 2  # another judge model is another key


def test_an_unreadable_cached_verdict_is_asked_again(server, tmp_path: Path) -> None:
    key = cache_key("最便宜的商品是什么颜色？", "红色", "It is red.", JUDGE_MODEL)
    VerdictCache(tmp_path).put(key, {"raw": "not a verdict"})
    [row] = run_stage(make_setup(server, tmp_path), [result_row("s1")]).to_pylist()
    assert server.attempts("s1") == 1 and row["score"] == 1.0
    assert VerdictCache(tmp_path).get(key)["raw"] == CORRECT  # overwritten with the valid verdict


def test_a_batch_without_the_result_columns_is_refused(server, tmp_path: Path) -> None:
    async def call() -> None:
        stage = JudgeStage(make_setup(server, tmp_path))
        try:
            await stage(pa.table({"sample_id": ["a"]}))
        finally:
            await stage.engine.aclose()

    with pytest.raises(StageInputError, match="stage 'judge' needs column"):
        asyncio.run(call())


@pytest.mark.ray
def test_judge_stage_on_a_ray_actor_pool(local_ray, server, tmp_path: Path) -> None:
    import ray.data

    server.set_script("j-1", [verdict(1)])
    server.set_script("j-2", [Reply.text("prose, no verdict")])
    rows = [result_row(f"j-{i}", f"answer {i}") for i in range(6)]
    rows += [result_row("lexical", "red", scorer="token_f1", score=1.0, passed=True, unparsed=False),
             result_row("failed", None, status="error", error_stage="inference", scorer=None, score=0.0)]
    dataset = ray.data.from_arrow(pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)).map_batches(
        JudgeStage,
        fn_constructor_kwargs={"setup": make_setup(server, tmp_path / "cache")},
        compute=ray.data.ActorPoolStrategy(size=1),
        batch_format="pyarrow",
        batch_size=3,
        num_cpus=0.25,
    )
    results = dataset.take_all()
    out = {row["sample_id"]: row for row in results}
    assert len(results) == len(rows) and sorted(out) == sorted(row["sample_id"] for row in rows)  # each exactly once
    assert out["j-0"]["score"] == 1.0 and out["j-1"]["score"] == 0.5
    assert out["j-2"]["status"] == "error" and out["j-2"]["judge_verdict"] == "prose, no verdict"
    assert out["lexical"]["scorer"] == "token_f1" and out["failed"]["error_stage"] == "inference"
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 5  # the five valid verdicts
