"""A client for any OpenAI-compatible chat endpoint (vLLM's server, a Ray Serve OpenAI app, a production URL).

Concurrency is bounded per client; 429, 408, 5xx, timeouts and connection errors are retried within the retry
window (engines/retry.py); other failures are final at once. The HTTP transport is injectable so tests can swap the
network, not globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from ray_eval.engines.base import (
    ChatRequest,
    ChatResponse,
    EngineBadResponse,
    EngineConnectionError,
    EngineHTTPError,
    EngineTimeout,
    public_url,
)
from ray_eval.engines.retry import AttemptObserver, RetryPolicy
from ray_eval.errors import EngineUnavailable
from ray_eval.redact import Redactor, split_credentials

DEFAULT_RETRY = RetryPolicy()
SAMPLE_HEADER = "X-Ray-Eval-Sample"  # lets servers' logs (and the scripted test server) tie a request to its sample
SUITE_HEADER = "X-Ray-Eval-Suite"  # ... and to its suite
# httpcore's pool looks at every connection it holds (a system call or two each) whenever a request starts or an
# answer ends: one pool of 64 connections cost 8 ms of CPU per request (measured), several small pools a fraction.
CONNECTIONS_PER_CLIENT = 8
BODY_CHARS = 200  # of a reply that is not the JSON expected, quoted in the error (after the secrets are taken out)


class OpenAIChatEngine:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        observer: AttemptObserver | None = None,
        max_in_flight: int = 16,
        extra_body: dict[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.model = model
        self.timeout_s = timeout_s
        self.retry = retry
        self.observer = observer  # told of every attempt's outcome (the run's engine watch)
        self.extra_body = dict(extra_body or {})
        self._in_flight = asyncio.Semaphore(max_in_flight)
        # Some servers and proxies quote the request's credentials back: every error text goes through this.
        self._redact = Redactor.for_endpoint(SecretStr(api_key) if api_key else None, base_url)
        self._where = public_url(base_url)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        bare_url, credentials = split_credentials(base_url)
        per_client = min(max_in_flight, CONNECTIONS_PER_CLIENT)
        tls = httpx.create_ssl_context()  # made once: loading the CA bundle costs 20 ms of CPU per client
        self._clients = [httpx.AsyncClient(
            base_url=bare_url.rstrip("/") + "/",
            headers=headers,
            auth=httpx.BasicAuth(*credentials) if credentials else None,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client),
            transport=transport,
            verify=tls,
        ) for _ in range(math.ceil(max_in_flight / per_client))]
        self._requests_on = [0] * len(self._clients)  # requests in flight on each client

    async def chat(self, request: ChatRequest) -> ChatResponse:
        body = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            **({"seed": request.seed} if request.seed is not None else {}),
            **self.extra_body,
            **request.extra,
        }
        headers = {SAMPLE_HEADER: quote(request.sample_id, safe=""),
                   **({SUITE_HEADER: quote(request.suite, safe="")} if request.suite else {})}
        return await self.retry.run(lambda attempt: self._attempt(body, headers, attempt), self.observer)

    async def _attempt(self, body: dict[str, Any], headers: dict[str, str], attempt: int) -> ChatResponse:
        async with self._in_flight, self._least_busy_client() as client:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout_s):
                        # Header values must be ASCII: the ids go percent-encoded (a Chinese id is a valid id).
                    response = await client.post("chat/completions", json=body, headers=headers)
            except (TimeoutError, httpx.TimeoutException):
                latency_s = time.perf_counter() - started
                raise EngineTimeout(f"no answer within {self.timeout_s:g} s", latency_s=latency_s) from None
            except (httpx.TransportError, OSError, AttributeError) as exc:
                # AttributeError: a connection the server dropped while httpcore set it up (an outage) reaches anyio
                # as a socket already closed, whose peer it then reads from None; the request never got through.
                raise EngineConnectionError(self._redact(f"{type(exc).__name__}: {exc}"),
                                            latency_s=time.perf_counter() - started) from None
            latency = time.perf_counter() - started
        if response.status_code != 200:
            raise EngineHTTPError(
                self._redact(f"HTTP {response.status_code}: {_error_message(response, self._redact)}"),
                status=response.status_code,
                retry_after_s=_retry_after(response),
                latency_s=latency,
            )
        try:
            return _parse_completion(response, latency, attempt, self._redact)
        except EngineBadResponse as exc:
            raise EngineBadResponse(self._redact(str(exc)), latency_s=latency) from None

    async def check(self) -> list[str]:
        """The models the endpoint serves; EngineUnavailable when it cannot be reached or lacks our model."""
        try:
            response = await self._clients[0].get("models")
        except httpx.HTTPError as exc:
            raise EngineUnavailable(self._redact(f"engine at {self._where} is unreachable: {exc}")) from None
        if response.status_code != 200:
            raise EngineUnavailable(f"engine at {self._where} answered GET /models with HTTP {response.status_code}")
        try:
            served = [item["id"] for item in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise EngineUnavailable(f"engine at {self._where} gave a malformed /models answer") from None
        if self.model not in served:
            raise EngineUnavailable(self._redact(f"engine at {self._where} does not serve model {self.model!r}; "
                                                 f"it serves {served}"))
        return served

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    @contextlib.asynccontextmanager
    async def _least_busy_client(self) -> AsyncIterator[httpx.AsyncClient]:
        index = min(range(len(self._clients)), key=self._requests_on.__getitem__)
        self._requests_on[index] += 1
        try:
            yield self._clients[index]
        finally:
            self._requests_on[index] -= 1


def _parse_completion(response: httpx.Response, latency: float, attempts: int, redact: Redactor) -> ChatResponse:
    try:
        payload = response.json()
        choice = payload["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise EngineBadResponse(f"not a chat completion ({type(exc).__name__}: {exc}): "
                                f"{redact.excerpt(response.text, BODY_CHARS)!r}",
                                latency_s=latency) from None
    if not isinstance(text, str):
        raise EngineBadResponse(f"message content is {type(text).__name__}, not text", latency_s=latency)
    usage = payload.get("usage") or {}
    return ChatResponse(
        text=text,
        finish_reason=choice.get("finish_reason"),
        model=payload.get("model"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        latency_s=latency,
        attempts=attempts,
    )


def _error_message(response: httpx.Response, redact: Redactor) -> str:
    """The server's error message, else the start of its reply: redacted, then cut (a cut first could leave the
    start of a key behind, which no later redaction of the whole key finds)."""
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    if message:
        return redact(str(message))
    return redact.excerpt(response.text, BODY_CHARS) or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def decode_messages(messages_json: str) -> list[dict[str, Any]]:
    return json.loads(messages_json)
