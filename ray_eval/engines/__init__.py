"""Engines: how a prompt reaches a model. `build_engine` makes the client an inference actor holds."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import SecretStr

from ray_eval.config import OpenAIEngineConfig, ServeHandleEngineConfig
from ray_eval.engines.base import (
    public_url,
    ChatEngine,
    ChatRequest,
    ChatResponse,
    EngineBadResponse,
    EngineConnectionError,
    EngineError,
    EngineHTTPError,
    EngineTimeout,
)
from ray_eval.engines.openai_http import OpenAIChatEngine
from ray_eval.engines.retry import AttemptObserver, RetryPolicy
from ray_eval.errors import ConfigError
from ray_eval.redact import Redactor


@dataclass(frozen=True, repr=False)
class EngineSpec:
    """Everything an inference actor needs to build its client; the key and the URL's credentials stay out of any
    repr or log."""

    config: OpenAIEngineConfig | ServeHandleEngineConfig
    api_key: SecretStr | None
    max_in_flight: int

    @cached_property
    def redactor(self) -> Redactor:
        """What takes this endpoint's secrets (its key, its URL's user:password) out of the texts its stages keep."""
        base_url = self.config.base_url if isinstance(self.config, OpenAIEngineConfig) else None
        return Redactor.for_endpoint(self.api_key, base_url)

    def __repr__(self) -> str:
        where = f" at {public_url(self.config.base_url)}" if isinstance(self.config, OpenAIEngineConfig) else ""
        return (f"EngineSpec({self.config.kind} {self.config.model!r}{where}, api_key={self.api_key!r}, "
                f"max_in_flight={self.max_in_flight})")


def resolve_api_key(config: OpenAIEngineConfig, environ: dict[str, str]) -> SecretStr | None:
    """The API key from the named environment variable or secret file (read at run start, never at import)."""
    if config.api_key_env:
        value = environ.get(config.api_key_env)
        if not value:
            raise ConfigError(f"engine.api_key_env: environment variable {config.api_key_env} is not set")
        return SecretStr(value)
    if config.api_key_file:
        try:
            value = Path(config.api_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"engine.api_key_file: cannot read {config.api_key_file}: {exc.strerror}") from None
        if not value:
            raise ConfigError(f"engine.api_key_file: {config.api_key_file} is empty")
        return SecretStr(value)
    return None


def build_engine(spec: EngineSpec, observer: AttemptObserver | None = None) -> ChatEngine:
    """The client an actor holds; `observer` is told of every attempt's outcome (the run's engine watch)."""
    config = spec.config
    if isinstance(config, ServeHandleEngineConfig):
        from ray_eval.engines.serve_handle import ServeHandleEngine

        return ServeHandleEngine(config, spec.max_in_flight, observer=observer)
    return OpenAIChatEngine(
        config.base_url,
        config.model,
        api_key=spec.api_key.get_secret_value() if spec.api_key else None,
        timeout_s=config.timeout_s,
        connect_timeout_s=config.connect_timeout_s,
        retry=RetryPolicy.of(config),
        observer=observer,
        max_in_flight=spec.max_in_flight,
        extra_body=config.extra_body,
    )


__all__ = [
    "AttemptObserver", "ChatEngine", "ChatRequest", "ChatResponse", "EngineBadResponse", "EngineConnectionError",
    "EngineError", "EngineHTTPError", "EngineSpec", "EngineTimeout", "OpenAIChatEngine", "RetryPolicy", "build_engine",
    "resolve_api_key",
]
