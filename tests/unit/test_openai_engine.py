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
)
from ray_eval.errors import EngineUnavailable


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


def engine(script: Script, **kwargs) -> OpenAIChatEngine:
    kwargs = {"max_retries": 3, "backoff_initial_s": 0.0, "timeout_s": 5.0, **kwargs}
    return OpenAIChatEngine("http://engine.test/v1", "m", transport=httpx.MockTransport(script), **kwargs)


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


def test_backoff_honours_retry_after_capped_and_grows_otherwise() -> None:
    client = OpenAIChatEngine("http://x/v1", "m", backoff_initial_s=1.0, backoff_max_s=4.0)

    class State:
        def __init__(self, attempt, exc):
            self.attempt_number = attempt
            self.outcome = type("O", (), {"exception": lambda _self: exc})()

    assert client.retry.backoff(State(1, EngineHTTPError("x", status=429, retry_after_s=2.5))) == 2.5
    assert client.retry.backoff(State(1, EngineHTTPError("x", status=429, retry_after_s=60))) == 4.0
    waits = [client.retry.backoff(State(n, EngineTimeout("t"))) for n in (1, 2, 3, 6)]
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 2.0 <= waits[2] <= 4.0 and waits[3] <= 4.0


def test_in_flight_requests_are_bounded() -> None:
    live = {"now": 0, "max": 0}

    async def counted(request):
        live["now"] += 1
        live["max"] = max(live["max"], live["now"])
        await asyncio.sleep(0.01)
        live["now"] -= 1
        return httpx.Response(200, json=completion())

    client = engine(Script(counted), max_in_flight=3)

    async def many():
        try:
            return await asyncio.gather(*(client.chat(REQUEST) for _ in range(12)))
        finally:
            await client.aclose()

    assert len(asyncio.run(many())) == 12 and live["max"] == 3


def test_check_reports_missing_model_and_unreachable_engine() -> None:
    listing = Script(httpx.Response(200, json={"data": [{"id": "other"}]}))
    with pytest.raises(EngineUnavailable, match="does not serve model 'm'"):
        asyncio.run(engine(listing).check())
    with pytest.raises(EngineUnavailable, match="unreachable"):
        asyncio.run(engine(Script(httpx.ConnectError("refused"))).check())


def test_a_chinese_sample_id_travels_percent_encoded() -> None:
    from urllib.parse import unquote

    script = Script(httpx.Response(200, json=completion("A")))
    request = ChatRequest("门店-一/1", [{"role": "user", "content": "hi"}], max_tokens=8, temperature=0.0)
    assert chat(engine(script), request).text == "A"
    assert unquote(script.requests[0].headers["X-Ray-Eval-Sample"]) == "门店-一/1"


def test_an_api_key_the_server_echoes_is_redacted_from_errors() -> None:
    secret = "sk-test-0123456789"
    echo = Script(httpx.Response(401, json={"error": {"message": f"bad key Bearer {secret}"}}))
    with pytest.raises(EngineHTTPError) as info:
        chat(engine(echo, api_key=secret))
    assert secret not in str(info.value) and "[redacted]" in str(info.value)
    garbled = Script(httpx.Response(200, text=f"not json, your key was {secret}"))
    with pytest.raises(EngineBadResponse) as info:
        chat(engine(garbled, api_key=secret))
    assert secret not in str(info.value)
