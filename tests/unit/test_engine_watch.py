"""The engine watch's decision on a fake clock, and an inference batch cut short once it stops the run: what was
answered is kept, what was still asked or retrying becomes a STOPPED row (no result), its request let go."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass
from types import SimpleNamespace

import httpx
import pyarrow as pa

from ray_eval.cluster.engine_watch import FailureStreak
from ray_eval.config import OpenAIEngineConfig, SamplingConfig
from ray_eval.engines import EngineSpec, OpenAIChatEngine, RetryPolicy
from ray_eval.pipeline import InferenceStage
from ray_eval.records import PREPARED_SCHEMA, STOPPED


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def test_requests_failing_for_good_in_a_row_stop_the_run_at_once() -> None:
    watch = FailureStreak(limit=3, window_s=60, clock=Clock())
    assert not watch.failed("HTTP 401: bad key", final=True) and not watch.failed("HTTP 401: bad key", final=True)
    assert watch.failed("HTTP 401: bad key", final=True)
    assert watch.state().stop_reason == ("3 requests in a row failed at the engine (last: HTTP 401: bad key); "
                                         "stopping the run")


def test_tries_failing_stop_the_run_only_once_they_outlast_the_retry_window() -> None:
    clock = Clock()
    watch = FailureStreak(limit=3, window_s=60, clock=clock)
    for _ in range(10):  # many tries, within the window: an outage the retries may still ride out
        assert not watch.failed("no answer within 3 s", final=False)
        clock.now += 3
    assert watch.state().describe() == "; engine: 10 tries in a row failed over 30 s (last: no answer within 3 s)"
    clock.now = 60
    assert watch.failed("no answer within 3 s", final=False)
    assert watch.state().stop_reason.startswith("11 tries in a row failed at the engine over 60 s, longer than the "
                                                "retry window of 60 s (last: no answer within 3 s)")


def test_an_answer_from_any_actor_ends_the_streak() -> None:
    clock = Clock()
    watch = FailureStreak(limit=2, window_s=10, clock=clock)
    watch.failed("HTTP 503", final=True)
    clock.now = 100
    watch.answered()
    assert watch.state().describe() == "" and not watch.failed("HTTP 503", final=True)  # a new streak, of one
    assert not watch.failed("HTTP 503", final=False)  # two tries, only 0 s: within the window
    assert watch.failed("HTTP 503", final=True)  # two requests in a row failed for good


def fake_watch(decision: FailureStreak):
    """What the stage sees of the watch actor: `.remote()` calls, the failures' answers awaited."""
    async def failed(error: str, final: bool) -> bool:
        return decision.failed(error, final)
    return SimpleNamespace(answered=SimpleNamespace(remote=decision.answered),
                           failed=SimpleNamespace(remote=failed))


def test_a_batch_the_stop_cuts_short_keeps_its_answers_and_lets_the_rest_go() -> None:
    hanging_requests = []

    async def answer(request: httpx.Request) -> httpx.Response:
        sample = request.headers["x-ray-eval-sample"]
        if sample == "hangs":
            hanging_requests.append(asyncio.current_task())
            await asyncio.sleep(3600)
        if sample == "down":
            await asyncio.sleep(0.05)  # after "up" was answered
            return httpx.Response(503, json={"error": {"message": "overloaded"}})
        return httpx.Response(200, json={"model": "m", "choices": [{"message": {"content": "B"}}]})

    watch = fake_watch(FailureStreak(limit=1, window_s=0))  # the first failure says the engine is down
    spec = EngineSpec(OpenAIEngineConfig(base_url="http://engine.test/v1", model="m"), None, 4)
    stage = InferenceStage(spec, SamplingConfig(max_tokens=8), watch=watch)
    stage.engine = OpenAIChatEngine("http://engine.test/v1", "m", retry=RetryPolicy(retry_window_s=60),
                                    observer=stage.reporter, transport=httpx.MockTransport(answer))
    prepared = dict.fromkeys(PREPARED_SCHEMA.names)
    prepared.update(status="ok", options=[], media_refs=[], weight=1.0, critical=False,
                    messages_json=json.dumps([{"role": "user", "content": "q"}]))
    rows = [{**prepared, "sample_id": name} for name in ("up", "down", "hangs")]

    async def run() -> pa.Table:
        out = await asyncio.wait_for(stage(pa.Table.from_pylist(rows, schema=PREPARED_SCHEMA)), timeout=10)
        assert all(task.done() for task in hanging_requests)  # the hanging request was let go, not left behind
        await stage.engine.aclose()
        return out

    up, down, hangs = asyncio.run(run()).to_pylist()
    assert up["status"] == "ok" and up["response"] == "B"
    # "down" was still within its retry window, "hangs" still asked: neither has a result; a resume asks them.
    assert (down["status"], hangs["status"]) == (STOPPED, STOPPED)
    assert down["sample_id"] == "down" and down["error"] is None and hangs["response"] is None


def test_the_watch_process_loads_none_of_the_pipelines_packages():
    """The watch's actor process imports its module while the run starts, beside the pipeline's actors: Ray Data,
    httpx or pydantic there would cost it a second of CPU on a small machine."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, ray_eval.cluster.engine_watch; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True).stdout.split()
    heavy = {"ray.data", "httpx", "pydantic", "pyarrow", "ray_eval.pipeline", "ray_eval.engines", "ray_eval.config"}
    assert not heavy & set(loaded)
    # Nor any other module of ray_eval: the cluster package's __init__ imports nothing.
    assert {name for name in loaded if name.split(".")[0] == "ray_eval"} == {
        "ray_eval", "ray_eval.cluster", "ray_eval.cluster.engine_watch"}
