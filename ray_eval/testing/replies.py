"""What the scripted server answers: `Reply` steps, the `ChatRequestInfo` a policy sees, and stock policies."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

SAMPLE_HEADER = "X-Ray-Eval-Sample"
SUITE_HEADER = "X-Ray-Eval-Suite"
MALFORMED_KINDS = ("not_json", "no_choices", "empty_choices", "null_content")

# OpenAI's error `type` per status, so clients that branch on it see the real names.
_ERROR_TYPES = {
    400: "BadRequestError", 401: "AuthenticationError", 403: "PermissionDeniedError",
    404: "NotFoundError", 408: "APITimeoutError", 409: "ConflictError",
    411: "BadRequestError", 422: "UnprocessableEntityError", 429: "RateLimitError",
    500: "InternalServerError", 502: "BadGatewayError", 503: "ServiceUnavailableError",
    504: "GatewayTimeoutError",
}

# An option line of a multiple-choice prompt: "A. red", "B) blue".
_OPTION_LINE = re.compile(r"^\s*([A-Z])[.)]\s", re.MULTILINE)


def _error_body(code: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": _ERROR_TYPES.get(code, "APIError"),
                      "param": None, "code": code}}


def _rough_tokens(text: str) -> int:
    # About four characters a token: close enough for tests of usage accounting.
    return (len(text) + 3) // 4


@dataclass(frozen=True)
class Reply:
    """What the server does with one request. Build it with the class methods."""

    kind: str  # "text" | "status" | "malformed" | "hang" | "disconnect"
    content: str = ""
    status_code: int = 200
    body: Any = None
    retry_after: str | None = None
    delay_s: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    malformed_kind: str | None = None
    then: Reply | None = None
    content_type: str | None = None  # of a status reply's verbatim body; None: text/plain

    def __post_init__(self) -> None:
        if self.delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {self.delay_s}")

    @classmethod
    def text(cls, content: str, *, delay_s: float = 0.0, prompt_tokens: int | None = None,
             completion_tokens: int | None = None, finish_reason: str = "stop") -> Reply:
        """A normal chat.completion answering `content`; token counts default to a rough count."""
        return cls("text", content=content, delay_s=delay_s, prompt_tokens=prompt_tokens,
                   completion_tokens=completion_tokens, finish_reason=finish_reason)

    @classmethod
    def status(cls, code: int, *, body: dict[str, Any] | str | None = None,
               retry_after: float | str | None = None, delay_s: float = 0.0,
               message: str | None = None, content_type: str | None = None) -> Reply:
        """An HTTP error with an OpenAI-style `{"error": {...}}` body (or `body` verbatim, sent as `content_type`:
        a proxy's HTML error page is `text/html`)."""
        if not 100 <= code <= 599:
            raise ValueError(f"not an HTTP status code: {code}")
        if body is None:
            body = _error_body(code, message or HTTPStatus(code).phrase)
        if isinstance(retry_after, float) and retry_after.is_integer():
            retry_after = int(retry_after)  # "Retry-After: 2", not "2.0"
        return cls("status", status_code=code, body=body, delay_s=delay_s, content_type=content_type,
                   retry_after=None if retry_after is None else str(retry_after))

    @classmethod
    def malformed(cls, kind: str, *, delay_s: float = 0.0) -> Reply:
        """A 200 the client must refuse: "not_json", "no_choices", "empty_choices", "null_content"."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown malformed kind {kind!r}; expected one of {MALFORMED_KINDS}")
        return cls("malformed", malformed_kind=kind, delay_s=delay_s)

    @classmethod
    def hang(cls, seconds: float, *, then: Reply | None = None) -> Reply:
        """Wait `seconds` (to outlast a client timeout), then answer `then`, else the default policy.

        Only this request's thread waits; stop() cuts the wait short and drops the connection.
        """
        return cls("hang", delay_s=seconds, then=then)

    @classmethod
    def disconnect(cls) -> Reply:
        """Close the connection without sending any response."""
        return cls("disconnect")


def _parts(content: Any) -> list[dict[str, Any]]:
    # A message's content is either a plain string or a list of typed parts.
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [part for part in content if isinstance(part, dict)] if isinstance(content, list) else []


def _text(messages: list[Any], *roles: str) -> str:
    return "\n".join(str(part.get("text", "")) for message in messages
                     if isinstance(message, dict) and (not roles or message.get("role") in roles)
                     for part in _parts(message.get("content")) if part.get("type") == "text")


@dataclass(frozen=True)
class ChatRequestInfo:
    """One valid chat request as the server received it, with the fields tests ask about."""

    sample_id: str | None
    attempt: int  # 1 for the first request naming this sample id, 2 for its retry, ...
    user_text: str  # the text parts of the user message(s), joined by newlines
    image_count: int  # `image_url` parts over all messages
    video_count: int  # `video_url` parts over all messages
    model: str | None
    max_tokens: int | None  # `max_tokens`, else `max_completion_tokens`
    temperature: float | None
    seed: int | None
    body: dict[str, Any] = field(repr=False)  # kept out of repr: it holds base64 images
    headers: dict[str, str] = field(repr=False)  # names lower-cased

    @classmethod
    def from_request(cls, sample_id: str | None, attempt: int, body: dict[str, Any],
                     headers: dict[str, str]) -> ChatRequestInfo:
        messages = body["messages"]
        part_types = [part.get("type") for message in messages if isinstance(message, dict)
                      for part in _parts(message.get("content"))]
        return cls(sample_id=sample_id, attempt=attempt, user_text=_text(messages, "user"),
                   image_count=part_types.count("image_url"),
                   video_count=part_types.count("video_url"), model=body.get("model"),
                   max_tokens=body.get("max_tokens", body.get("max_completion_tokens")),
                   temperature=body.get("temperature"), seed=body.get("seed"),
                   body=body, headers=headers)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def suite(self) -> str | None:
        """The suite the request's sample belongs to (its header), if it named one."""
        suite = self.header(SUITE_HEADER)
        return unquote(suite) if suite is not None else None


Policy = Callable[[ChatRequestInfo], Reply]


def constant(text: str) -> Policy:
    """Answer `text` to everything."""
    return lambda info: Reply.text(text)


def random_choice(seed: int = 0) -> Policy:
    """Answer a random option letter found in the prompt ("A. ...", "B. ..."), else one of A-D.

    The draw is seeded by (seed, sample id) -- or the prompt when there is no
    sample id -- so a sample gets the same answer whatever the arrival order.
    """
    def policy(info: ChatRequestInfo) -> Reply:
        letters = sorted(set(_OPTION_LINE.findall(info.user_text))) or ["A", "B", "C", "D"]
        key = info.sample_id if info.sample_id is not None else info.user_text
        return Reply.text(random.Random(f"{seed}|{key}").choice(letters))
    return policy


def from_answers(answers: Mapping[str, str], fallback: Reply | Policy | None = None) -> Policy:
    """Answer each sample id its text from `answers`; others get `fallback` (default: a 400)."""
    answers = dict(answers)

    def policy(info: ChatRequestInfo) -> Reply:
        if info.sample_id in answers:
            return Reply.text(answers[info.sample_id])
        if fallback is None:
            return Reply.status(400, message=f"no answer scripted for sample {info.sample_id!r}")
        return fallback(info) if callable(fallback) else fallback
    return policy


