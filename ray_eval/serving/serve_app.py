"""Deploy the Serve apps of a serve_configs file for a run, wait until they are RUNNING, and take them down
afterwards: what `serve run CONFIG` does, inside the run's own Ray session."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ray_eval.config import ServeConfig, ServeHandleEngineConfig
from ray_eval.errors import ConfigError, EngineUnavailable

log = logging.getLogger(__name__)
POLL_S = 2.0


def read_serve_config(path: Path) -> dict[str, Any]:
    """The Serve config as a dict, with relative model paths made absolute (relative to the working directory,
    like every path ray-eval reads) so that replicas find them whatever their own working directory."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"serve.config: cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("applications"), list):
        raise ConfigError(f"serve.config: {path} is not a Ray Serve config (no applications list)")
    for app in data["applications"]:
        for llm in (app.get("args") or {}).get("llm_configs", []) or []:
            loading = llm.get("model_loading_config") or {}
            source = loading.get("model_source")
            if isinstance(source, str) and not Path(source).is_absolute() and Path(source).exists():
                loading["model_source"] = str(Path(source).resolve())
    return data


@contextlib.contextmanager
def serve_apps(config: ServeConfig) -> Iterator[list[str]]:
    """Deploy `serve.config` (when set) for the duration of the block; yields the app names."""
    if config.config is None:
        yield []
        return
    from pydantic import ValidationError
    from ray import serve
    from ray.serve._private import api as serve_api
    from ray.serve.config import gRPCOptions
    from ray.serve.schema import ServeDeploySchema

    try:
        schema = ServeDeploySchema.model_validate(read_serve_config(config.config))
    except ValidationError as exc:
        raise ConfigError(f"serve.config: {config.config} is not a valid Ray Serve config:\n{exc}") from None
    names = [app.name for app in schema.applications]
    was_running = serve_running()
    # The same calls as `serve run CONFIG`: start Serve with the file's proxy options, then deploy declaratively.
    client = serve_api.serve_start(
        http_options=schema.http_options.model_dump(),
        proxy_location=schema.proxy_location,
        grpc_options=gRPCOptions(**schema.grpc_options.model_dump()),
        controller_options=getattr(schema, "controller_options", None),
    )
    client.deploy_apps(schema, _blocking=False)
    log.info("deploying Serve app(s) %s from %s", names, config.config)
    try:
        wait_until_running(names, config.ready_timeout_s)
        yield names
    finally:
        if not config.keep_running:
            if was_running:
                for name in names:
                    serve.delete(name)
            else:
                serve.shutdown()


def serve_running() -> bool:
    """Whether a Serve controller runs on the connected cluster."""
    from ray.serve.context import _get_global_client

    return _get_global_client(raise_if_no_controller_running=False) is not None


def wait_until_running(names: list[str], timeout_s: float) -> None:
    """Poll Serve's status until every app is RUNNING; a failed deploy or the deadline is EngineUnavailable."""
    from ray import serve

    deadline = time.monotonic() + timeout_s
    while True:
        applications = serve.status().applications
        states = {name: applications.get(name) for name in names}
        failed = {name: app for name, app in states.items()
                  if app is not None and app.status in ("DEPLOY_FAILED", "UNHEALTHY")}
        if failed:
            details = "; ".join(f"{name}: {app.status} {app.message}" for name, app in failed.items())
            raise EngineUnavailable(f"Serve app(s) failed to deploy: {details}")
        if all(app is not None and app.status == "RUNNING" for app in states.values()):
            return
        if time.monotonic() > deadline:
            pending = {name: (app.status if app else "MISSING") for name, app in states.items()}
            raise EngineUnavailable(f"Serve app(s) not RUNNING after {timeout_s:g} s: {pending}")
        time.sleep(POLL_S)


def check_handle_target(engine: ServeHandleEngineConfig) -> None:
    """The app and deployment the handle engine will call exist and run; EngineUnavailable names what is missing."""
    from ray import serve

    try:
        applications = serve.status().applications
    except Exception as exc:  # noqa: BLE001 - no Serve on this cluster shows up as various Ray errors
        raise EngineUnavailable(f"Ray Serve is not running on this cluster ({type(exc).__name__}: {exc})") from None
    app = applications.get(engine.app_name)
    if app is None:
        raise EngineUnavailable(f"no Serve app {engine.app_name!r} is running; running: {sorted(applications)}")
    if app.status != "RUNNING":
        raise EngineUnavailable(f"Serve app {engine.app_name!r} is {app.status}: {app.message}")
    if engine.deployment_name not in app.deployments:
        raise EngineUnavailable(
            f"Serve app {engine.app_name!r} has no deployment {engine.deployment_name!r}; "
            f"it has {sorted(app.deployments)}"
        )


def serve_capacity(engine: ServeHandleEngineConfig) -> tuple[int, str]:
    """Requests the handle's deployment works on at once, max_ongoing_requests times its replicas (with autoscaling,
    max_replicas: requests in flight are what makes Serve add replicas), and how that was found."""
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeInstanceDetails

    client = _get_global_client()
    assert client is not None  # raise_if_no_controller_running (the default) raises rather than return None
    details = ServeInstanceDetails(**client.get_serve_details())
    deployment = details.applications[engine.app_name].deployments[engine.deployment_name]
    config = deployment.deployment_config
    autoscaling = config.autoscaling_config if isinstance(config.autoscaling_config, dict) else None
    if autoscaling and autoscaling.get("max_replicas"):
        replicas, how = int(autoscaling["max_replicas"]), "autoscaling max_replicas"
    else:
        replicas, how = deployment.target_num_replicas, "replicas"
    per_replica = int(config.max_ongoing_requests)
    return per_replica * replicas, (f"Serve deployment {engine.deployment_name}: {replicas} {how} x "
                                    f"{per_replica} max_ongoing_requests")
