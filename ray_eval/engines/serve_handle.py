"""A Ray Serve LLM app reached through a DeploymentHandle: the inference actors call the LLMServer deployment
directly (no HTTP hop); the handle routes to replicas and queues when they are full, which is the back-pressure.

Ray and vLLM types are imported when the engine is built, inside the actor, so importing ray_eval stays light.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ray_eval.config import ServeHandleEngineConfig
from ray_eval.engines.base import (
    ChatRequest,
    ChatResponse,
    EngineBadResponse,
    EngineConnectionError,
    EngineError,
    EngineHTTPError,
    EngineTimeout,
)
from ray_eval.engines.retry import AttemptObserver, RetryPolicy


class ServeHandleEngine:
    def __init__(self, config: ServeHandleEngineConfig, max_in_flight: int, handle: Any = None,
                 observer: AttemptObserver | None = None):
        from ray import serve

        self.config = config
        self.retry = RetryPolicy.of(config)
        self.observer = observer  # told of every attempt's outcome (the run's engine watch)
        # LLMServer.chat is an async generator: a non-streaming request yields one response.
        handle = handle or serve.get_deployment_handle(config.deployment_name, app_name=config.app_name)
        self._handle = handle.options(stream=True)
        self._in_flight = asyncio.Semaphore(max_in_flight)

    async def aclose(self) -> None:
        """Nothing to close: the handle belongs to Serve. (ChatEngine asks for it: the canary and rescore's judge
        close their engine when done.)"""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        from ray.serve.llm.openai_api_models import ChatCompletionRequest

        body = ChatCompletionRequest(
            model=self.config.model,
            messages=request.messages,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            stream=False,
            **request.extra,
        )
        return await self.retry.run(lambda attempt: self._attempt(body, attempt), self.observer)

    async def _attempt(self, body: Any, attempt: int) -> ChatResponse:
        async with self._in_flight:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.config.timeout_s):
                    answer = await self._handle.chat.remote(body).__anext__()
            except TimeoutError:
                raise EngineTimeout(f"no answer within {self.config.timeout_s:g} s",
                                    latency_s=time.perf_counter() - started) from None
            except EngineError:
                raise
            except Exception as exc:  # noqa: BLE001 - Ray's failures arrive as many types; classify, never crash
                raise classify_ray_failure(exc, time.perf_counter() - started) from None
            latency = time.perf_counter() - started
        return parse_answer(answer, latency, attempt)


def classify_ray_failure(exc: Exception, latency: float) -> EngineError:
    """A lost replica or a full queue is worth retrying (the handle routes to another replica); a request the
    engine refused (bad input, prompt too long) is not."""
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError
    from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

    message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if isinstance(exc, (ActorDiedError, ActorUnavailableError, RayActorError, BackPressureError,
                        DeploymentUnavailableError)):
        return EngineConnectionError(message, latency_s=latency)
    if isinstance(exc, RayTaskError) and isinstance(exc.cause, (ValueError, TypeError)):
        return EngineHTTPError(message, status=400, latency_s=latency)
    return EngineHTTPError(message, status=500, latency_s=latency)


def parse_answer(answer: Any, latency: float, attempts: int) -> ChatResponse:
    """A ChatCompletionResponse becomes our ChatResponse; an ErrorResponse becomes the matching EngineError."""
    error = getattr(answer, "error", None)
    if error is not None:  # vLLM's ErrorResponse(error=ErrorInfo(message, type, code))
        code = int(getattr(error, "code", 500) or 500)
        raise EngineHTTPError(f"HTTP {code}: {getattr(error, 'message', error)}", status=code, latency_s=latency)
    try:
        choice = answer.choices[0]
        text = choice.message.content
    except (AttributeError, IndexError, TypeError) as exc:
        raise EngineBadResponse(f"not a chat completion ({type(answer).__name__}: {exc})", latency_s=latency) from None
    if not isinstance(text, str):
        raise EngineBadResponse(f"message content is {type(text).__name__}, not text", latency_s=latency)
    usage = getattr(answer, "usage", None)
    return ChatResponse(
        text=text,
        finish_reason=getattr(choice, "finish_reason", None),
        model=getattr(answer, "model", None),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        latency_s=latency,
        attempts=attempts,
    )
