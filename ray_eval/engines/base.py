"""How a prompt reaches a model: one small interface, so the OpenAI HTTP client and (next) a Ray Serve handle
are interchangeable in the inference stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit


def public_url(url: str) -> str:
    """A URL without any user:password part, fit for a log line or a report."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class ChatRequest:
    sample_id: str
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float
    top_p: float = 1.0
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # per-sample request fields (vLLM's media_io_kwargs)
    suite: str | None = None  # the sample's suite: sample ids are unique within a suite


@dataclass(frozen=True)
class ChatResponse:
    text: str
    finish_reason: str | None
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float  # of the attempt that answered
    attempts: int


class EngineError(Exception):
    """A request failed for good (after its retries); the sample's row carries it.

    `retryable` failures are the engine's own (it could not be reached, timed out, was overloaded or broke): asking
    again later may succeed, so they are retried within the retry window and, when they remain, say nothing about
    the model (`engine_fault`): the run is incomplete, not failed. The others are answers about this request (refused
    as bad, not authorised, no such model, a reply that is no chat completion) and count as the sample's errors."""

    retryable = False

    def __init__(self, message: str, *, attempts: int = 1, latency_s: float | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.latency_s = latency_s

    @property
    def error_type(self) -> str:
        return type(self).__name__

    @property
    def engine_fault(self) -> bool:
        """The engine failed, not the request or the model's answer: never counted against the model."""
        return self.retryable


class EngineTimeout(EngineError):
    """The engine did not answer within the request timeout."""

    retryable = True


class EngineConnectionError(EngineError):
    """The engine could not be reached or dropped the connection."""

    retryable = True


class EngineHTTPError(EngineError):
    """The engine answered with an HTTP error status."""

    def __init__(self, message: str, *, status: int, retry_after_s: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status == 429 or self.status == 408 or self.status >= 500

    @property
    def error_type(self) -> str:
        return f"HTTP {self.status}"


class EngineBadResponse(EngineError):
    """The engine answered 200 with a body that is not a chat completion."""


class ChatEngine(Protocol):
    """Sends one chat request; raises EngineError subclasses, never anything else for a failed request."""

    async def chat(self, request: ChatRequest) -> ChatResponse: ...

    async def aclose(self) -> None: ...
