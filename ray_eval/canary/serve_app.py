"""The canary as a Ray Serve application: one replica whose constructor starts the probe loop on the replica's event
loop, with /metrics, /healthz and /state under the app's route prefix.

    serve run serve_configs/canary.yaml      # import_path: ray_eval.canary.serve_app:build_app, args: {config: ...}

One replica only: each replica would probe on its own, and Serve's proxy would route scrapes to either one's
metrics. The API key must be in the replica's environment (or a secret file it can read), never in the Serve config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from fastapi.responses import JSONResponse, Response
from ray import serve
from ray.serve import Application, Deployment

from ray_eval.canary.config import CanaryConfig, load_canary_config
from ray_eval.canary.http import bare_app, health_response, metrics_response, state_response
from ray_eval.canary.runner import Canary
from ray_eval.errors import ConfigError

app = bare_app()


@serve.deployment(
    num_replicas=1,
    max_ongoing_requests=16,  # scrapes and health checks only
    ray_actor_options={"num_cpus": 0.25},  # it waits on the network; preparing the probes at start is brief
    health_check_period_s=10,
)
@serve.ingress(app)
class CanaryDeployment:
    def __init__(self, config: CanaryConfig):
        # Serve runs the constructor on the replica's event loop, where the loop task then lives.
        self.canary = Canary(config)
        self.canary.start()

    @app.get("/metrics")
    async def metrics(self) -> Response:
        return metrics_response(self.canary)

    @app.get("/healthz")
    async def healthz(self) -> JSONResponse:
        return health_response(self.canary)

    @app.get("/state")
    async def state(self) -> JSONResponse:
        return state_response(self.canary)

    async def check_health(self) -> None:
        """Serve replaces the replica when its loop died; a slow endpoint (stale rounds) is /healthz's to report."""
        if not self.canary.loop_alive:
            raise RuntimeError("the canary's probe loop is not running")

    def __del__(self) -> None:
        # Sync: Python may call __del__ again at exit, where a coroutine would never be awaited.
        self.canary.cancel()


def build_app(args: dict[str, Any]) -> Application:
    """Serve's application builder: args {"config": path of the canary config, "overrides": ["key=value", ...]}."""
    if not isinstance(args, dict) or not args.get("config"):
        raise ConfigError("the canary Serve app needs args: {config: path/to/canary.yaml}")
    unknown = sorted(set(args) - {"config", "overrides"})
    if unknown:
        raise ConfigError(f"the canary Serve app's args: unknown key(s) {unknown}; expected config and overrides")
    config = load_canary_config(Path(args["config"]), list(args.get("overrides") or []))
    config.engine_for_probes()  # refuses, at deploy time, an engine the app cannot start (the scripted stand-in)
    # serve.deployment made the class a Deployment; mypy keeps a decorated class's own type.
    return cast(Deployment, CanaryDeployment).bind(config)
