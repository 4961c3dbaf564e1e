"""The engine blocks of a config (`engine`, and `scoring.judge.engine`): one model per engine kind, told apart by
`kind`. They stay data: fields and validation; what each kind does is in ray_eval.engines.kinds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ray_eval.config_fingerprint import NotFingerprinted
from ray_eval.config_loading import StrictModel
from ray_eval.redact import split_credentials

PATIENCE = NotFingerprinted("how patiently the engine is asked, not what it answers: a resume may widen the retry "
                            "window")


class RequestPolicy(StrictModel):
    """How a request to a networked engine is timed and retried."""

    timeout_s: Annotated[float, PATIENCE] = Field(
        120.0, gt=0, description="Timeout of one request, from sending to the full answer.")
    retry_window_s: Annotated[float, PATIENCE] = Field(
        60.0, ge=0, description="Seconds of engine trouble a request rides out: after 429, 408, 5xx, timeouts, "
        "refused or dropped connections and lost replicas it is asked again until this long after its first failure "
        "(a server's Retry-After is waited out within it). A sample still failing then is an engine error: the run "
        "ends incomplete (exit 3), never counted against the model. 0: no retries.",
    )
    max_retries: Annotated[int | None, PATIENCE] = Field(
        None, ge=0, description="Most retries of one request within the window; unset: as many as the window allows."
    )
    backoff_initial_s: Annotated[float, PATIENCE] = Field(
        0.5, ge=0, description="First backoff; doubles per retry, with jitter.")
    backoff_max_s: Annotated[float, PATIENCE] = Field(
        30.0, ge=0, description="Longest backoff between two tries (a server's Retry-After is capped by the retry "
        "window instead).")


class OpenAIEngineConfig(RequestPolicy):
    """Any OpenAI-compatible chat endpoint over HTTP: vLLM's server, a Ray Serve OpenAI app, a production URL."""

    kind: Literal["openai"] = Field("openai", description="Selects this engine.")
    base_url: str = Field(description="Base URL ending in /v1, e.g. http://127.0.0.1:8000/v1.")
    model: str = Field(description="Model name sent in each request (the server's served model name).")
    api_key_env: str | None = Field(None, description="Name of the environment variable holding the API key.")
    api_key_file: Path | None = Field(None, description="File holding the API key (a mounted secret).")
    connect_timeout_s: float = Field(10.0, gt=0, description="Timeout of opening a connection.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Extra JSON fields merged into every request (e.g. vLLM's "
                                          "mm_processor_kwargs)."
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> OpenAIEngineConfig:
        if self.api_key_env and self.api_key_file:
            raise ValueError("set api_key_env or api_key_file, not both")
        return self

    def __repr_args__(self) -> Any:
        # A repr reaches logs and tracebacks: the base URL's user:password part never does.
        for name, value in super().__repr_args__():
            yield name, split_credentials(value)[0] if name == "base_url" else value


class ServeHandleEngineConfig(RequestPolicy):
    """A Ray Serve LLM app reached through a DeploymentHandle from the inference actors: no HTTP hop, and the
    handle's queueing is the back-pressure."""

    kind: Literal["serve_handle"] = Field("serve_handle", description="Selects this engine.")
    app_name: str = Field("llm", description="Serve application holding the model's LLMServer deployment.")
    model: str = Field(description="The model_id of the app's LLMConfig.")
    deployment: str | None = Field(
        None, description="Deployment name; default LLMServer:<model_id> with '/' as '--' and '.' as '_', as Ray names "
                          "it."
    )

    @property
    def deployment_name(self) -> str:
        return self.deployment or "LLMServer:" + self.model.replace("/", "--").replace(".", "_")


class ScriptedEngineConfig(StrictModel):
    """A scripted OpenAI-compatible server ray-eval starts on 127.0.0.1 for the run: a stand-in model for demos
    and tests, answering from the dataset's own answers. Its scores say nothing about any real model."""

    kind: Literal["scripted"] = Field("scripted", description="Selects this engine.")
    policy: Literal["oracle", "random"] = Field(
        "oracle", description="oracle: the reference answer with probability `accuracy`, else a wrong one; random: a "
                              "random letter."
    )
    accuracy: float = Field(0.8, ge=0, le=1, description="Share of questions the oracle answers correctly.")
    blind_accuracy: float = Field(
        0.3, ge=0, le=1, description="Share the oracle answers correctly when asked without the media (blind pass)."
    )
    seed: int = Field(0, description="Seed of the scripted answers.")
    model: str = Field("scripted-model", description="Model name the server reports.")
    latency_s: float = Field(0.0, ge=0, description="Seconds the oracle takes for each answer (a simulated engine).")


EngineConfig = Annotated[
    OpenAIEngineConfig | ServeHandleEngineConfig | ScriptedEngineConfig, Field(discriminator="kind")
]
JudgeEngineConfig = Annotated[OpenAIEngineConfig | ServeHandleEngineConfig, Field(discriminator="kind")]
