"""The OpenAI HTTP client against a swapped transport: retries, backoff, timeouts and errors as data."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from ray_eval.engines import (
    ChatRequest,
    EngineBadResponse,
    EngineConnectionError,
    EngineHTTPError,
    EngineTimeout,
    OpenAIChatEngine,
    RetryPolicy,
)


def completion(text: str = "B") -> dict:
    return {"id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}}


class Script:
    """A transport answering each attempt from a list (the last entry repeats), recording the requests."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return await step(request)
        return step


def engine(script: Script, max_retries: int | None = 3, **kwargs) -> OpenAIChatEngine:
    kwargs = {"timeout_s": 5.0, **kwargs}
    return OpenAIChatEngine("http://engine.test/v1", "m", transport=httpx.MockTransport(script),
                            retry=RetryPolicy(max_retries=max_retries, backoff_initial_s=0.0), **kwargs)


REQUEST = ChatRequest("s-1", [{"role": "user", "content": "hi"}], max_tokens=8, temperature=0.0, seed=7,
                      extra={"media_io_kwargs": {"video": {"fps": 2.0}}})


def chat(client: OpenAIChatEngine, request: ChatRequest = REQUEST):
    async def go():
        try:
            return await client.chat(request)
        finally:
            await client.aclose()
    return asyncio.run(go())


def test_answer_with_usage_and_request_shape() -> None:
    script = Script(httpx.Response(200, json=completion("The answer is B")))
    response = chat(engine(script, api_key="sk-test", extra_body={"mm_processor_kwargs": {"fps": 2}}))
    assert response.text == "The answer is B" and response.prompt_tokens == 11 and response.completion_tokens == 2
    assert response.attempts == 1 and response.latency_s >= 0 and response.finish_reason == "stop"
    sent = script.requests[0]
    body = json.loads(sent.content)
    assert sent.url.path == "/v1/chat/completions" and sent.headers["authorization"] == "Bearer sk-test"
    assert sent.headers["x-ray-eval-sample"] == "s-1"
    assert body["seed"] == 7 and body["temperature"] == 0.0 and body["mm_processor_kwargs"] == {"fps": 2}
    assert body["media_io_kwargs"] == {"video": {"fps": 2.0}}  # the sample's own request fields


@pytest.mark.parametrize("failure", [
    httpx.Response(500, json={"error": {"message": "boom"}}),
    httpx.Response(503, text="unavailable"),
    httpx.Response(429, json={"error": "slow down"}, headers={"Retry-After": "0"}),
    httpx.ConnectError("refused"),
    httpx.ReadTimeout("slow"),
])
def test_retryable_failures_are_retried_then_answered(failure) -> None:
    script = Script(failure, failure, httpx.Response(200, json=completion()))
    response = chat(engine(script))
    assert response.text == "B" and response.attempts == 3 and len(script.requests) == 3


def test_retries_are_bounded_and_the_error_says_what_happened() -> None:
    script = Script(httpx.Response(500, json={"error": {"message": "engine died"}}))
    with pytest.raises(EngineHTTPError) as info:
        chat(engine(script, max_retries=2))
    assert info.value.status == 500 and info.value.attempts == 3 and "engine died" in str(info.value)
    assert info.value.error_type == "HTTP 500" and len(script.requests) == 3


def test_client_errors_are_final_at_once() -> None:
    script = Script(httpx.Response(400, json={"error": {"message": "prompt too long: 9000 tokens"}}))
    with pytest.raises(EngineHTTPError, match="prompt too long") as info:
        chat(engine(script))
    assert info.value.attempts == 1 and len(script.requests) == 1


@pytest.mark.parametrize(("body", "kind"), [
    (b"<html>proxy error</html>", "not a chat completion"),
    (json.dumps({"object": "chat.completion"}).encode(), "not a chat completion"),
    (json.dumps({**completion(), "choices": [{"message": {"content": None}}]}).encode(), "content is NoneType"),
])
def test_malformed_replies_are_bad_responses(body: bytes, kind: str) -> None:
    script = Script(httpx.Response(200, content=body))
    with pytest.raises(EngineBadResponse, match=kind):
        chat(engine(script))
    assert len(script.requests) == 1


def test_total_timeout_covers_a_slow_answer() -> None:
    async def slow(request):
        await asyncio.sleep(5)
        return httpx.Response(200, json=completion())
    with pytest.raises(EngineTimeout) as info:
        chat(engine(Script(slow), timeout_s=0.05, max_retries=1))
    assert info.value.attempts == 2 and info.value.error_type == "EngineTimeout"


def test_connection_errors_after_retries() -> None:
    with pytest.raises(EngineConnectionError, match="ConnectError") as info:
        chat(engine(Script(httpx.ConnectError("refused")), max_retries=1))
    assert info.value.attempts == 2


def test_a_connection_torn_down_while_set_up_is_a_connection_error_and_retried() -> None:
    """What httpcore over anyio raises when the server drops a connection it is setting up (seen in an outage):
    an AttributeError from reading a closed socket's peer. The request never got through: the engine's fault."""
    torn = AttributeError("'NoneType' object has no attribute 'getpeername'")
    response = chat(engine(Script(torn, httpx.Response(200, json=completion("C"))), max_retries=1))
    assert response.text == "C" and response.attempts == 2
    with pytest.raises(EngineConnectionError, match="AttributeError") as info:
        chat(engine(Script(torn), max_retries=0))
    assert info.value.engine_fault
