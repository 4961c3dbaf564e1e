"""The canary's HTTP endpoints and its plain-process mode (`ray-eval canary -c CONFIG`).

GET /metrics  Prometheus text format of the canary's own registry
GET /healthz  200 {"status": "ok", ...} while the loop runs and rounds finish; 503 {"status": "unhealthy", "reason"}
GET /state    JSON: rounds, last round, window and its Wilson bounds, totals, errors, pool coverage, recent results

The same handlers serve both modes: uvicorn here, Ray Serve in ray_eval.canary.serve_app.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from ray_eval.canary.config import CanaryConfig
from ray_eval.canary.once import reachable_engine, run_one_round
from ray_eval.canary.runner import Canary
from ray_eval.engines import engine_kind
from ray_eval.errors import ConfigError

log = logging.getLogger(__name__)


def metrics_response(canary: Canary) -> Response:
    return Response(canary.metrics.text(), media_type=canary.metrics.content_type)


def health_response(canary: Canary) -> JSONResponse:
    healthy, body = canary.health()
    return JSONResponse(body, status_code=200 if healthy else 503)


def state_response(canary: Canary) -> JSONResponse:
    return JSONResponse(canary.state())


def bare_app(**kwargs) -> FastAPI:
    """A FastAPI app without the generated docs routes: the canary serves three endpoints and nothing else."""
    return FastAPI(title="ray-eval canary", docs_url=None, redoc_url=None, openapi_url=None, **kwargs)


def create_app(canary: Canary) -> FastAPI:
    """The plain-process app: the probe loop runs as a task of the server's event loop, started by the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        canary.start()
        try:
            yield
        finally:
            await canary.stop()

    app = bare_app(lifespan=lifespan)

    # async routes: they run on the loop that mutates the canary, so a response never sees half a round.
    @app.get("/metrics")
    async def metrics() -> Response:
        return metrics_response(canary)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return health_response(canary)

    @app.get("/state")
    async def state() -> JSONResponse:
        return state_response(canary)

    return app


def listen_socket(host: str, port: int) -> socket.socket:
    """Bind before starting uvicorn, so that a taken port is a clear configuration error (exit 2)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"server: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def run_canary(config: CanaryConfig, once: bool = False) -> int:
    """Serve the endpoints and probe every interval until SIGTERM/SIGINT (exit 0); with `once`, run one round,
    print the state as JSON and the round's verdict as the last line: exit 0 healthy, 1 the pass rate is below the
    target, 3 a probe got no answer (ray_eval.canary.once)."""
    _connect_ray_if_needed(config)
    with reachable_engine(config) as config:
        canary = Canary(config)
        if once:
            verdict, state = run_one_round(canary)
            print(json.dumps(state, indent=2, ensure_ascii=False), flush=True)
            print(verdict.line(), file=sys.stderr)
            return verdict.exit_code
        return _serve(canary, config)


def _serve(canary: Canary, config: CanaryConfig) -> int:
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            # uvicorn raises the signal again once shut down, so the process would die of it (or of a
            # KeyboardInterrupt); a stop that was asked for is a clean exit here.
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()
            log.info("canary stopping (%s)", signal.Signals(sig).name)

    sock = listen_socket(config.server.host, config.server.port)
    server = Server(uvicorn.Config(create_app(canary), log_level="info", access_log=False, lifespan="on",
                                   timeout_graceful_shutdown=5))
    log.info("canary serving /metrics, /healthz and /state on http://%s:%d", config.server.host, config.server.port)
    server.run(sockets=[sock])  # SIGTERM and SIGINT end it gracefully: the lifespan stops the loop
    return 0


def _connect_ray_if_needed(config: CanaryConfig) -> None:
    """A serve_handle engine needs the process connected to the Ray cluster that runs the Serve app."""
    if not engine_kind(config.engine).needs_ray:
        return
    import ray

    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), log_to_driver=False)
