"""The canary as a Ray Serve app (serve_configs/canary.yaml: ray_eval.canary.serve_app:build_app) on a local Ray: the
replica's constructor starts the probe loop, and the endpoints answer under /canary on Serve's proxy at 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

from ray_eval.metrics import names
from ray_eval.testing import ScriptedOpenAIServer, from_answers
from ray_eval.testing.prometheus import free_port, wait_until
from tests.canary.conftest import correct_reply, probe_rows

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[2]


def test_the_serve_config_deploys_the_canary_which_answers_healthz_metrics_and_state(local_ray, tmp_path,
                                                                                    probe_manifest):
    from ray_eval.config import ServeConfig
    from ray_eval.serving.serve_app import serve_apps, serve_running

    assert not serve_running(), "another test left Serve running: its HTTP options would win over ours"
    answers = {row["id"]: correct_reply(row) for row in probe_rows()}
    with ScriptedOpenAIServer(default=from_answers(answers)) as server:
        canary_yaml = tmp_path / "canary.yaml"
        canary_yaml.write_text(json.dumps({
            "probes": {"path": str(probe_manifest), "per_round": 4}, "interval_s": 60, "request_timeout_s": 10,
            "preprocess": {"max_pixels": 20000},
            "engine": {"kind": "openai", "base_url": server.base_url, "model": "scripted-model", "max_retries": 0},
        }), encoding="utf-8")
        # serve_configs/canary.yaml as shipped, pointed at this test's canary config and a free port.
        serve_yaml = yaml.safe_load((REPO / "serve_configs" / "canary.yaml").read_text(encoding="utf-8"))
        serve_yaml["http_options"]["port"] = port = free_port()
        serve_yaml["applications"][0]["args"]["config"] = str(canary_yaml)
        (tmp_path / "serve.yaml").write_text(yaml.safe_dump(serve_yaml), encoding="utf-8")
        # Deployed like `serve run serve_configs/canary.yaml` (import_path, route_prefix and all), removed afterwards.
        with serve_apps(ServeConfig(config=tmp_path / "serve.yaml", ready_timeout_s=90)) as apps:
            assert apps == ["canary"]
            base = f"http://127.0.0.1:{port}/canary"
            state = wait_until(lambda: (s := httpx.get(f"{base}/state", timeout=5).json())["rounds"] >= 1 and s,
                               60, "the Serve replica's first round")
            health = httpx.get(f"{base}/healthz", timeout=5)
            metrics = httpx.get(f"{base}/metrics", timeout=5)
        requests = server.requests

    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert state["totals"]["passed"] == 4 and state["pool"]["probes"] == 8
    assert metrics.status_code == 200
    assert f"{names.CANARY_ROUNDS} 1.0" in metrics.text and names.CANARY_WINDOW_UPPER in metrics.text
    assert len(requests) >= 4 and all(request.image_count >= 1 for request in requests)
    assert not serve_running(), "the canary app and Serve were taken down"
