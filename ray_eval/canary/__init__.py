"""The canary (`ray-eval canary -c CONFIG`): critical ShopBench probes, with their images, sent to a production
endpoint every interval, scored with the evaluation's scorers, exported on /metrics with /healthz and /state.

Plain process: `run_canary(config)` (uvicorn). Ray Serve: `ray_eval.canary.serve_app:build_app` (imported on its
own, since it imports Ray Serve). The anti-flap rule is documented in ray_eval.canary.window.
"""

from ray_eval.canary.config import (
    CanaryConfig,
    CanaryScoringConfig,
    CanaryServerConfig,
    ProbesConfig,
    load_canary_config,
)
from ray_eval.canary.http import create_app, run_canary
from ray_eval.canary.metrics import CanaryMetrics
from ray_eval.canary.probes import Probe, ProbePool, load_probes
from ray_eval.canary.rotation import Rotation
from ray_eval.canary.runner import Canary, ProbeResult
from ray_eval.canary.window import ProbeWindow, wilson_interval

__all__ = [
    "Canary", "CanaryConfig", "CanaryMetrics", "CanaryScoringConfig", "CanaryServerConfig", "Probe", "ProbePool",
    "ProbeResult", "ProbesConfig", "ProbeWindow", "Rotation", "create_app", "load_canary_config", "load_probes",
    "run_canary", "wilson_interval",
]
