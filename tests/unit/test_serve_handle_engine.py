"""The DeploymentHandle engine with a stand-in handle: answers, engine errors, lost replicas and timeouts."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

pytest.importorskip("vllm", reason="ChatCompletionRequest comes from vLLM")

from ray.exceptions import ActorDiedError

from ray_eval.config import ServeHandleEngineConfig
from ray_eval.engines import ChatRequest, EngineBadResponse, EngineHTTPError, EngineTimeout
from ray_eval.engines.serve_handle import ServeHandleEngine


def completion(text="B"):
    return SimpleNamespace(model="tiny", choices=[SimpleNamespace(message=SimpleNamespace(content=text),
                                                                  finish_reason="stop")],
                           usage=SimpleNamespace(prompt_tokens=40, completion_tokens=2))


class FakeHandle:
    """Answers each call from a list of outcomes (the last repeats), like LLMServer.chat's async generator."""

    def __init__(self, *outcomes):
        self.outcomes, self.bodies = list(outcomes), []
        self.chat = SimpleNamespace(remote=self._remote)

    def options(self, **_):
        return self

    def _remote(self, body):
        self.bodies.append(body)
        outcome = self.outcomes[min(len(self.bodies), len(self.outcomes)) - 1]

        async def stream():
            if outcome == "hang":
                await asyncio.sleep(10)
            if isinstance(outcome, Exception):
                raise outcome
            yield outcome
        return stream()


def run(handle, **config):
    engine = ServeHandleEngine(ServeHandleEngineConfig(model="tiny", backoff_initial_s=0, **config), 4, handle=handle)
    request = ChatRequest("s", [{"role": "user", "content": "hi"}], max_tokens=8, temperature=0.0, seed=0,
                          extra={"media_io_kwargs": {"video": {"fps": 2.0}}})
    return asyncio.run(engine.chat(request))


def test_answer_and_request_fields() -> None:
    handle = FakeHandle(completion("The answer is B"))
    response = run(handle)
    assert response.text == "The answer is B" and response.prompt_tokens == 40 and response.attempts == 1
    body = handle.bodies[0]
    assert body.model == "tiny" and body.max_tokens == 8 and body.seed == 0 and body.stream is False
    assert body.media_io_kwargs == {"video": {"fps": 2.0}}


def test_engine_error_response_is_final_with_its_code() -> None:
    refused = SimpleNamespace(error=SimpleNamespace(message="prompt too long", type="BadRequestError", code=400))
    with pytest.raises(EngineHTTPError, match="prompt too long") as info:
        run(FakeHandle(refused))
    assert info.value.status == 400 and info.value.attempts == 1


def test_a_lost_replica_is_retried() -> None:
    handle = FakeHandle(ActorDiedError(), completion("C"))
    assert run(handle, max_retries=2).text == "C" and len(handle.bodies) == 2


def test_timeouts_and_malformed_answers() -> None:
    with pytest.raises(EngineTimeout) as info:
        run(FakeHandle("hang"), timeout_s=0.05, max_retries=1)
    assert info.value.attempts == 2
    with pytest.raises(EngineBadResponse):
        run(FakeHandle(SimpleNamespace(choices=[])))


def test_deployment_name_follows_rays_rule() -> None:
    assert ServeHandleEngineConfig(model="org/tiny.v1").deployment_name == "LLMServer:org--tiny_v1"
    assert ServeHandleEngineConfig(model="m", deployment="Custom").deployment_name == "Custom"
