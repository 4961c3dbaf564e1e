"""Engine kinds: what each `engine.kind` does for a run, the canary and the judge, so that no caller asks which
kind it holds.

The config classes (ray_eval.config) stay data: fields and validation. Each kind here wraps one block and knows
how to make it reachable (the scripted kind starts its stand-in server for as long as the block runs), check it
before a run, report its capacity, resolve its API key, describe it in summary.json, redact its secrets and build
the client an inference actor holds. `engine_kind(config)` finds the kind by the config's `kind` name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, overload

from pydantic import SecretStr

from ray_eval.config import OpenAIEngineConfig, ScriptedEngineConfig, ServeHandleEngineConfig
from ray_eval.engines.base import ChatEngine, public_url
from ray_eval.engines.openai_http import OpenAIChatEngine
from ray_eval.engines.retry import AttemptObserver, RetryPolicy
from ray_eval.errors import ConfigError
from ray_eval.redact import Redactor
from ray_eval.verdict.summary_model import EngineInfo

if TYPE_CHECKING:
    from ray_eval.data.dataset import RunScan

log = logging.getLogger(__name__)

EndpointConfig = OpenAIEngineConfig | ServeHandleEngineConfig  # a block requests can be sent to as it is
AnyEngineConfig = EndpointConfig | ScriptedEngineConfig


class EngineKind:
    """One engine block and what its kind does. `name` is the config's `kind` literal."""

    name: ClassVar[str]
    # True where the answers come from the dataset itself, not from a model: its scores say nothing about one.
    stand_in: ClassVar[bool] = False
    # True where requests go through Ray (a Serve handle): the process must be connected to the cluster first.
    needs_ray: ClassVar[bool] = False

    def __init__(self, config: AnyEngineConfig):
        self.config = config

    @property
    def endpoint(self) -> EndpointConfig | None:
        """The block requests go to as configured; None where there is nothing to reach until `reachable` starts it."""
        raise NotImplementedError

    def reachable(self, dataset: Callable[[], RunScan], *, stand_in_timeout_s: float
                  ) -> contextlib.AbstractContextManager[EndpointConfig]:
        """The block requests go to while the `with` block runs. `dataset` is called only by a kind that answers
        from the dataset (the scripted stand-in, whose requests time out after `stand_in_timeout_s`)."""
        raise NotImplementedError

    def describe(self) -> EngineInfo:
        """The engine as summary.json's `engine` block shows it (no secrets)."""
        return EngineInfo(kind=self.name, model=self.config.model)


class EndpointKind(EngineKind):
    """A kind whose block is reached as configured: requests, a preflight and a client of its own."""

    config: EndpointConfig

    @property
    def endpoint(self) -> EndpointConfig:
        return self.config

    def reachable(self, dataset: Callable[[], RunScan], *, stand_in_timeout_s: float
                  ) -> contextlib.AbstractContextManager[EndpointConfig]:
        return contextlib.nullcontext(self.endpoint)

    def api_key(self, environ: Mapping[str, str]) -> SecretStr | None:
        """The API key requests carry, read at run start (never at import); None when the kind needs none."""
        return None

    def preflight_before_ray(self, serve_deployed_by_run: bool) -> bool:
        """Whether the engine is checked before Ray starts (else once Ray runs and the run's Serve app is up)."""
        return False

    def preflight(self, api_key: SecretStr | None) -> None:
        """The engine answers before any sample is sent: EngineUnavailable (exit 3) otherwise."""
        raise NotImplementedError

    def capacity(self) -> tuple[int, str] | None:
        """Requests the engine works on at once and how that was found, where the kind can find out; else None."""
        return None

    def location(self) -> str:
        """Where the engine is, for a repr or a log line (no credentials); empty when it has no address."""
        return ""

    def redactor(self, api_key: SecretStr | None) -> Redactor:
        """What takes this endpoint's secrets (its key, its URL's user:password) out of the texts its stages keep."""
        return Redactor.for_endpoint(api_key, None)

    def client(self, api_key: SecretStr | None, max_in_flight: int,
               observer: AttemptObserver | None = None) -> ChatEngine:
        """The client an actor holds; `observer` is told of every attempt's outcome (the run's engine watch)."""
        raise NotImplementedError


class OpenAIKind(EndpointKind):
    """Any OpenAI-compatible endpoint over HTTP."""

    name = "openai"
    config: OpenAIEngineConfig

    def api_key(self, environ: Mapping[str, str]) -> SecretStr | None:
        """The key from the named environment variable or secret file; ConfigError names the one that fails."""
        config = self.config
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

    def preflight_before_ray(self, serve_deployed_by_run: bool) -> bool:
        # An endpoint outside Ray can be checked before Ray starts; one the run deploys only once it is up.
        return not serve_deployed_by_run

    def preflight(self, api_key: SecretStr | None) -> None:
        config = self.config

        async def check() -> None:
            client = OpenAIChatEngine(config.base_url, config.model,
                                      api_key=api_key.get_secret_value() if api_key else None,
                                      timeout_s=config.connect_timeout_s + 10, max_in_flight=1)
            try:
                await client.check()
            finally:
                await client.aclose()

        asyncio.run(check())

    def describe(self) -> EngineInfo:
        return EngineInfo(kind=self.name, model=self.config.model, base_url=public_url(self.config.base_url))

    def location(self) -> str:
        return public_url(self.config.base_url)

    def redactor(self, api_key: SecretStr | None) -> Redactor:
        return Redactor.for_endpoint(api_key, self.config.base_url)

    def client(self, api_key: SecretStr | None, max_in_flight: int,
               observer: AttemptObserver | None = None) -> ChatEngine:
        config = self.config
        return OpenAIChatEngine(
            config.base_url,
            config.model,
            api_key=api_key.get_secret_value() if api_key else None,
            timeout_s=config.timeout_s,
            connect_timeout_s=config.connect_timeout_s,
            retry=RetryPolicy.of(config),
            observer=observer,
            max_in_flight=max_in_flight,
            extra_body=config.extra_body,
        )


class ServeHandleKind(EndpointKind):
    """A Ray Serve LLM app reached through a DeploymentHandle: it can be checked and sized only once Ray runs.
    Ray is imported when asked for, so that importing ray_eval stays light."""

    name = "serve_handle"
    needs_ray = True
    config: ServeHandleEngineConfig

    def preflight(self, api_key: SecretStr | None) -> None:
        from ray_eval.serving.serve_app import check_handle_target

        check_handle_target(self.config)

    def capacity(self) -> tuple[int, str]:
        from ray_eval.serving.serve_app import serve_capacity

        return serve_capacity(self.config)

    def describe(self) -> EngineInfo:
        return EngineInfo(kind=self.name, model=self.config.model, app_name=self.config.app_name,
                          deployment=self.config.deployment_name)

    def client(self, api_key: SecretStr | None, max_in_flight: int,
               observer: AttemptObserver | None = None) -> ChatEngine:
        from ray_eval.engines.serve_handle import ServeHandleEngine

        return ServeHandleEngine(self.config, max_in_flight, observer=observer)


class ScriptedKind(EngineKind):
    """The scripted stand-in model: an OpenAI-compatible server on 127.0.0.1, started from the dataset's own
    answers for as long as the block that uses it runs; requests then go to it as to any openai endpoint."""

    name = "scripted"
    stand_in = True
    config: ScriptedEngineConfig

    @property
    def endpoint(self) -> None:
        return None

    @contextlib.contextmanager
    def reachable(self, dataset: Callable[[], RunScan], *, stand_in_timeout_s: float
                  ) -> Iterator[OpenAIEngineConfig]:
        from ray_eval.testing.oracle import scripted_server_for  # test tooling: imported only when asked for

        with scripted_server_for(self.config, dataset()) as server:
            yield OpenAIEngineConfig(base_url=server.base_url, model=self.config.model, timeout_s=stand_in_timeout_s)


ENGINE_KINDS: Mapping[str, type[EngineKind]] = {kind.name: kind for kind in (OpenAIKind, ServeHandleKind, ScriptedKind)}


@overload
def engine_kind(config: EndpointConfig) -> EndpointKind: ...
@overload
def engine_kind(config: AnyEngineConfig) -> EngineKind: ...
def engine_kind(config: AnyEngineConfig) -> EngineKind:
    """The kind object of an engine block, found by the block's `kind` name."""
    return ENGINE_KINDS[config.kind](config)
