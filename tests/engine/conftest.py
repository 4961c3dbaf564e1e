"""The real engine: vLLM's CPU build serving the tiny model under Ray Serve (its tests skip where vLLM is missing)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ray_eval.demo.synth import synthesize
from ray_eval.demo.tiny_model import build_tiny_model
from tests.conftest import free_port  # noqa: F401 - the engine and GPU tests import it from here

REPO = Path(__file__).resolve().parents[2]
MODEL_ID = "tiny-qwen3-vl"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model("qwen3_vl", tmp_path_factory.mktemp("models") / MODEL_ID, seed=0)


@pytest.fixture(scope="session")
def engine_manifest(tmp_path_factory) -> Path:
    """15 samples: every subset (single images, before/after pairs, videos) in every format."""
    out = tmp_path_factory.mktemp("engine-data")
    synthesize(out, 15, seed=2)
    return out / "manifest.jsonl"


def cpu_serve_config(tmp_path: Path, model_dir: Path, port: int) -> Path:
    """serve_configs/cpu-tiny.yaml, pointed at this session's model and a free port."""
    config = yaml.safe_load((REPO / "serve_configs" / "cpu-tiny.yaml").read_text())
    config["http_options"]["port"] = port
    llm = config["applications"][0]["args"]["llm_configs"][0]
    llm["model_loading_config"]["model_source"] = str(model_dir)
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def eval_overrides(manifest: Path, out_dir: Path, run_id: str) -> list[str]:
    return [f"dataset.path={manifest}", f"run.out_dir={out_dir}", f"run.run_id={run_id}", "run.smoke_model=true",
            "inference.actors=1", "inference.max_in_flight_per_actor=8", "inference.sampling.max_tokens=16",
            "preprocess.video.max_frames=4", "preprocess.video.send_media_io_kwargs=true", "gate.max_error_rate=0"]
