"""Engines: how a prompt reaches a model. Each `engine.kind` is an object (kinds.py, found with `engine_kind`);
`build_engine` makes the client an inference actor holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from pydantic import SecretStr

from ray_eval.engines.base import (
    ChatEngine,
    ChatRequest,
    ChatResponse,
    EngineBadResponse,
    EngineConnectionError,
    EngineError,
    EngineHTTPError,
    EngineTimeout,
)
from ray_eval.engines.kinds import EndpointConfig, EndpointKind, EngineKind, engine_kind
from ray_eval.engines.openai_http import OpenAIChatEngine
from ray_eval.engines.retry import AttemptObserver, RetryPolicy
from ray_eval.redact import Redactor


@dataclass(frozen=True, repr=False)
class EngineSpec:
    """Everything an inference actor needs to build its client; the key and the URL's credentials stay out of any
    repr or log."""

    config: EndpointConfig
    api_key: SecretStr | None
    max_in_flight: int

    @classmethod
    def of(cls, config: EndpointConfig, environ: Mapping[str, str], max_in_flight: int) -> EngineSpec:
        """The spec of an endpoint block, its API key (if its kind takes one) read from `environ` now."""
        return cls(config, engine_kind(config).api_key(environ), max_in_flight)

    @cached_property
    def kind(self) -> EndpointKind:
        return engine_kind(self.config)

    @cached_property
    def redactor(self) -> Redactor:
        """What takes this endpoint's secrets (its key, its URL's user:password) out of the texts its stages keep."""
        return self.kind.redactor(self.api_key)

    def preflight(self) -> None:
        """The engine answers before any sample is sent: EngineUnavailable (exit 3) otherwise."""
        self.kind.preflight(self.api_key)

    def __repr__(self) -> str:
        location = self.kind.location()
        where = f" at {location}" if location else ""
        return (f"EngineSpec({self.config.kind} {self.config.model!r}{where}, api_key={self.api_key!r}, "
                f"max_in_flight={self.max_in_flight})")


def build_engine(spec: EngineSpec, observer: AttemptObserver | None = None) -> ChatEngine:
    """The client an actor holds; `observer` is told of every attempt's outcome (the run's engine watch)."""
    return spec.kind.client(spec.api_key, spec.max_in_flight, observer)


__all__ = [
    "AttemptObserver", "ChatEngine", "ChatRequest", "ChatResponse", "EndpointConfig", "EndpointKind",
    "EngineBadResponse", "EngineConnectionError", "EngineError", "EngineHTTPError", "EngineKind", "EngineSpec",
    "EngineTimeout", "OpenAIChatEngine", "RetryPolicy", "build_engine", "engine_kind",
]
