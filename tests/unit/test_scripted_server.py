"""The scripted OpenAI-compatible server, observed from real httpx clients."""

from __future__ import annotations

import asyncio
import base64
import math
import pickle
import socket
import threading
import time

import httpx
import pytest

from ray_eval.testing import (
    SAMPLE_HEADER,
    ChatRequestInfo,
    Reply,
    ScriptedOpenAIServer,
    constant,
    from_answers,
    random_choice,
)

QUESTION = "Which colour is the shelf label?\nA. red\nB. blue\nC. green"


def chat_body(text: str = QUESTION, **extra) -> dict:
    return {"model": "scripted-model", "messages": [{"role": "user", "content": text}], **extra}


def sample_headers(sample_id: str | None) -> dict[str, str]:
    return {SAMPLE_HEADER: sample_id} if sample_id is not None else {}


def post(client: httpx.Client, sample_id: str | None = None, body: dict | None = None,
         **kwargs) -> httpx.Response:
    return client.post("/chat/completions", json=body or chat_body(),
                       headers=sample_headers(sample_id), **kwargs)


async def post_async(client: httpx.AsyncClient, sample_id: str | None = None,
                     **kwargs) -> httpx.Response:
    return await client.post("/chat/completions", json=chat_body(),
                             headers=sample_headers(sample_id), **kwargs)


def answer(response: httpx.Response) -> str | None:
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


@pytest.fixture
def serve():
    """Start servers for a test and always stop them, even when the test fails."""
    started: list[ScriptedOpenAIServer] = []

    def start(**kwargs) -> ScriptedOpenAIServer:
        server = ScriptedOpenAIServer(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def client_for():
    clients: list[httpx.Client] = []

    def make(server: ScriptedOpenAIServer, timeout: float = 5.0) -> httpx.Client:
        clients.append(httpx.Client(base_url=server.base_url, timeout=timeout))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


# -- each kind of Reply, seen by the client ------------------------------------------


def test_text_reply_is_a_chat_completion(serve, client_for):
    server = serve(default=constant("B"))
    body = post(client_for(server)).json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "scripted-model"
    assert isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "B", "tool_calls": []}
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] == 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_text_reply_with_explicit_usage_and_finish_reason(serve, client_for):
    reply = Reply.text("Bl", prompt_tokens=7, completion_tokens=3, finish_reason="length")
    server = serve(script={"s1": [reply]})
    body = post(client_for(server), "s1").json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_status_reply_has_openai_error_body_and_retry_after(serve, client_for):
    server = serve(script={
        "limited": [Reply.status(429, retry_after=2.0)],
        "down": [Reply.status(503)],
        "custom": [Reply.status(502, body={"detail": "upstream"})],
        "text": [Reply.status(502, body="Bad Gateway")],
    })
    client = client_for(server)
    limited = post(client, "limited")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert limited.json()["error"]["type"] == "RateLimitError"
    assert limited.json()["error"]["code"] == 429
    down = post(client, "down")
    assert down.status_code == 503 and "Retry-After" not in down.headers
    assert down.json()["error"]["message"] == "Service Unavailable"
    assert post(client, "custom").json() == {"detail": "upstream"}
    assert post(client, "text").text == "Bad Gateway"


def test_malformed_replies(serve, client_for):
    server = serve(script={kind: [Reply.malformed(kind)] for kind in
                           ("not_json", "no_choices", "empty_choices", "null_content")})
    client = client_for(server)
    not_json = post(client, "not_json")
    assert not_json.status_code == 200
    with pytest.raises(ValueError):
        not_json.json()
    no_choices = post(client, "no_choices")
    assert no_choices.status_code == 200 and "choices" not in no_choices.json()
    assert post(client, "empty_choices").json()["choices"] == []
    assert answer(post(client, "null_content")) is None
    with pytest.raises(ValueError, match="unknown malformed kind"):
        Reply.malformed("truncated")


def test_disconnect_is_a_transport_error_and_the_client_recovers(serve, client_for):
    server = serve(script={"cut": [Reply.disconnect(), Reply.text("C")]})
    client = client_for(server)
    with pytest.raises(httpx.TransportError) as caught:
        post(client, "cut")
    assert isinstance(caught.value, httpx.RemoteProtocolError)
    assert answer(post(client, "cut")) == "C"  # a retry on a fresh connection works


def test_hang_times_out_the_client_while_another_request_is_answered(serve):
    server = serve(script={"slow": [Reply.hang(30)]}, default=constant("A"))

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as client:
            hanging = asyncio.create_task(post_async(client, "slow", timeout=2.0))
            assert await asyncio.to_thread(server.wait_for_requests, 1)
            fast = await post_async(client, "fast")
            assert answer(fast) == "A"
            assert not hanging.done()  # the fast answer came back inside the hang
            with pytest.raises(httpx.ReadTimeout):
                await hanging

    asyncio.run(scenario())
    assert server.attempts("slow") == 1 and server.attempts("fast") == 1


def test_hang_then_answers(serve, client_for):
    server = serve(default=constant("D"),
                   script={"then": [Reply.hang(0.05, then=Reply.text("Z"))],
                           "default": [Reply.hang(0.05)]})
    client = client_for(server)
    assert answer(post(client, "then")) == "Z"
    assert answer(post(client, "default")) == "D"


# -- scripts and policies -------------------------------------------------------------


def test_script_is_consumed_per_attempt_and_its_last_step_repeats(serve, client_for):
    server = serve(default=constant("A"),
                   script={"s1": [Reply.status(500), Reply.status(500), Reply.text("B")]})
    client = client_for(server)
    assert [post(client, "s1").status_code for _ in range(2)] == [500, 500]
    assert [answer(post(client, "s1")) for _ in range(2)] == ["B", "B"]
    assert server.attempts("s1") == 4
    assert answer(post(client, "other")) == "A"
    assert server.attempts("other") == 1 and server.attempts("never") == 0


def test_set_script_while_running(serve, client_for):
    server = serve(default=constant("A"), script={"s1": [Reply.text("B")]})
    client = client_for(server)
    assert answer(post(client, "s1")) == "B"
    server.set_script("s1", [Reply.status(503), Reply.text("C")])
    assert post(client, "s1").status_code == 503  # a new script starts at its first step
    assert answer(post(client, "s1")) == "C"
    server.set_script("s1", None)
    assert answer(post(client, "s1")) == "A"
    assert server.attempts("s1") == 4
    with pytest.raises(ValueError):
        server.set_script("s1", [])
    with pytest.raises(ValueError):
        ScriptedOpenAIServer(script={"s1": ["B"]})


def test_requests_without_sample_header_use_the_default(serve, client_for):
    server = serve(default=constant("C"), script={"s1": [Reply.status(500)]})
    assert answer(post(client_for(server))) == "C"
    assert server.attempts(None) == 1
    assert server.requests[0].sample_id is None


def test_random_choice_picks_among_the_prompt_options_reproducibly(serve, client_for):
    first = serve(default=random_choice(seed=7))
    second = serve(default=random_choice(seed=7))
    options = "Pick one.\nA. milk\nB. eggs\nC. bread\nD. jam\nE. tea"
    ids = [f"s{i}" for i in range(30)]

    def answers(server: ScriptedOpenAIServer, text: str) -> list[str]:
        client = client_for(server)
        return [answer(post(client, i, chat_body(text))) for i in ids]

    with_options = answers(first, options)
    assert set(with_options) <= set("ABCDE") and len(set(with_options)) > 1
    assert answers(second, options) == with_options  # same seed, same answer per sample
    assert set(answers(first, "Is the price tag visible?")) <= set("ABCD")


def test_from_answers_with_and_without_fallback(serve, client_for):
    answers = {"s1": "C", "s2": "A"}
    with_fallback = serve(default=from_answers(answers, fallback=Reply.status(404)))
    client = client_for(with_fallback)
    assert [answer(post(client, s)) for s in ("s1", "s2")] == ["C", "A"]
    assert post(client, "s3").status_code == 404
    strict = client_for(serve(default=from_answers(answers)))
    missing = post(strict, "s3")
    assert missing.status_code == 400 and "s3" in missing.json()["error"]["message"]


def test_a_failing_policy_answers_500_and_is_recorded(serve, client_for):
    def broken(info: ChatRequestInfo) -> Reply:
        raise KeyError("oops")

    server = serve(default=broken)
    response = post(client_for(server), "s1")
    assert response.status_code == 500 and "oops" in response.json()["error"]["message"]
    assert [type(e) for e in server.policy_errors] == [KeyError]


# -- what the server records ------------------------------------------------------------


def test_request_log_describes_each_request(serve, client_for):
    server = serve()
    client = client_for(server)
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(16)).decode()
    body = {
        "model": "shop-vlm", "max_tokens": 16, "temperature": 0.0, "seed": 1234,
        "messages": [
            {"role": "system", "content": "Answer with a letter."},
            {"role": "user", "content": [
                {"type": "text", "text": "Front shelf:"},
                {"type": "image_url", "image_url": {"url": png}},
                {"type": "image_url", "image_url": {"url": png}},
                {"type": "video_url", "video_url": {"url": "file:///aisle.mp4"}},
                {"type": "text", "text": QUESTION},
            ]},
        ],
    }
    client.post("/chat/completions", json=body,
                headers={SAMPLE_HEADER: "img-1", "X-Run-Id": "run-9"})
    post(client, "txt-1")
    post(client, "img-1")
    first, second, third = server.requests
    assert [r.sample_id for r in server.requests] == ["img-1", "txt-1", "img-1"]
    assert (first.image_count, first.video_count) == (2, 1)
    assert first.user_text == "Front shelf:\n" + QUESTION  # the system text is not user text
    assert (first.model, first.max_tokens, first.temperature, first.seed) == (
        "shop-vlm", 16, 0.0, 1234)
    assert first.body == body
    assert first.header("x-run-id") == "run-9" and first.headers["x-run-id"] == "run-9"
    assert (second.image_count, second.user_text) == (0, QUESTION)
    assert (first.attempt, third.attempt) == (1, 2)
    assert png not in repr(first)  # the log stays readable in assertion messages


def test_request_log_can_be_turned_off_for_long_runs(serve, client_for):
    server = serve(record_requests=False)
    client = client_for(server)
    post(client, "s1")
    post(client, "s1")
    assert server.requests == [] and server.attempts("s1") == 2
    assert server.wait_for_requests(2, timeout=0)


def test_max_concurrent_sees_eight_requests_in_flight(serve):
    everyone_arrived = threading.Barrier(8, timeout=5)

    def wait_for_all_eight(info: ChatRequestInfo) -> Reply:
        everyone_arrived.wait()  # breaks (-> 500) unless all 8 are being processed at once
        return Reply.text("B")

    server = serve(default=wait_for_all_eight)

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
            return await asyncio.gather(*(post_async(client, f"s{i}") for i in range(8)))

    responses = asyncio.run(scenario())
    assert [answer(r) for r in responses] == ["B"] * 8
    assert server.max_concurrent >= 8


def test_keep_alive_reuses_one_connection(serve):
    server = serve()

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as client:
            for i in range(5):
                assert answer(await post_async(client, f"s{i}")) == "A"

    asyncio.run(scenario())
    assert server.connection_count == 1


def test_slots_bound_the_requests_answered_at_once_and_the_rest_wait(serve):
    requests, slots, delay = 7, 3, 0.2
    server = serve(default=lambda info: Reply.text("B", delay_s=delay), slots=slots)
    assert server.first_request_at is None and server.last_reply_at is None

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
            return await asyncio.gather(*(post_async(client, f"s{i}") for i in range(requests)))

    began = time.monotonic()
    responses = asyncio.run(scenario())
    took = time.monotonic() - began
    assert [answer(r) for r in responses] == ["B"] * requests
    assert server.max_concurrent == slots  # all were sent at once: the slots, and no more, were busy together
    rounds = math.ceil(requests / slots)  # 3 rounds of the delay: 3 + 3 + 1 requests
    assert took >= rounds * delay
    busy = server.last_reply_at - server.first_request_at  # the server's own busy window, inside the client's
    assert rounds * delay <= busy <= took


def test_slots_must_be_positive():
    with pytest.raises(ValueError, match="slots"):
        ScriptedOpenAIServer(slots=0)


# -- the rest of the OpenAI surface -------------------------------------------------------


@pytest.mark.parametrize("content, message", [
    (b'{"model": "m"}', "messages"),
    (b'{"messages": "hello"}', "messages"),
    (b'[{"role": "user"}]', "JSON object"),
    (b"{not json", "not valid JSON"),
    (b'{"messages": [], "stream": true}', "streaming"),
])
def test_invalid_requests_get_400_and_are_not_logged(serve, client_for, content, message):
    server = serve()
    response = client_for(server).post("/chat/completions", content=content,
                                       headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert response.json()["error"]["type"] == "BadRequestError"
    assert server.requests == []


def test_models_health_and_unknown_routes(serve, client_for):
    server = serve(model="shop-vlm-7b")
    client = client_for(server)
    models = client.get("/models").json()
    assert [m["id"] for m in models["data"]] == ["shop-vlm-7b"]
    assert client.get(server.base_url.removesuffix("/v1") + "/health").status_code == 200
    assert client.get("/nope").status_code == 404
    assert client.post("/completions", json={"prompt": "x"}).status_code == 404


# -- lifecycle -----------------------------------------------------------------------------


def test_stop_is_prompt_with_a_hang_in_flight_and_closes_the_port():
    server = ScriptedOpenAIServer(script={"slow": [Reply.hang(60)]}).start()
    port, base_url = server.port, server.base_url
    idle = httpx.Client(base_url=base_url, timeout=5.0)
    assert answer(post(idle, "warm-up")) == "A"  # leaves an idle keep-alive connection
    outcome: dict[str, BaseException] = {}

    def call_hanging_sample() -> None:
        with httpx.Client(base_url=base_url, timeout=30.0) as client:
            try:
                post(client, "slow")
            except httpx.TransportError as exc:
                outcome["error"] = exc

    caller = threading.Thread(target=call_hanging_sample)
    caller.start()
    assert server.wait_for_requests(2)
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 2.0
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert isinstance(outcome["error"], httpx.RemoteProtocolError)  # dropped, not answered
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(httpx.TransportError):
        post(idle, "after-stop")  # the pooled connection was closed too
    idle.close()
    server.stop()  # idempotent
    with pytest.raises(RuntimeError):
        server.start()


def test_context_manager_and_not_started():
    server = ScriptedOpenAIServer()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    server.stop()  # stopping a server that never started is harmless
    with server as running:
        assert running is server and running.base_url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.base_url) as client:
            assert answer(post(client)) == "A"
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/models", timeout=2)


def test_server_refuses_pickling_but_its_records_pickle(serve, client_for):
    server = serve()
    post(client_for(server), "s1")
    with pytest.raises(TypeError, match="base_url"):
        pickle.dumps(server)
    assert pickle.loads(pickle.dumps(server.requests[0])) == server.requests[0]
    assert pickle.loads(pickle.dumps(Reply.hang(1, then=Reply.text("B")))) == Reply.hang(
        1, then=Reply.text("B"))
