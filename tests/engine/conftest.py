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
# The committed demo model (checkpoints/README.md): its answers parse, so tests of extraction, scoring and the blind
# pass exercise more than the paths of an unreadable answer.
DEMO_MODEL_ID = "tiny-shop-vl"
DEMO_MODEL = REPO / "checkpoints" / DEMO_MODEL_ID


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model("qwen3_vl", tmp_path_factory.mktemp("models") / MODEL_ID, seed=0)


@pytest.fixture(scope="session")
def engine_manifest(tmp_path_factory) -> Path:
    """15 samples: every subset (single images, before/after pairs, videos) in every format."""
    out = tmp_path_factory.mktemp("engine-data")
    synthesize(out, 15, seed=2)
    return out / "manifest.jsonl"


def cpu_serve_config(tmp_path: Path, model_dir: Path, port: int, model_id: str = MODEL_ID) -> Path:
    """serve_configs/cpu-tiny.yaml, pointed at this session's model (served as `model_id`) and a free port."""
    config = yaml.safe_load((REPO / "serve_configs" / "cpu-tiny.yaml").read_text())
    config["http_options"]["port"] = port
    llm = config["applications"][0]["args"]["llm_configs"][0]
    llm["model_loading_config"]["model_source"] = str(model_dir)
    llm["model_loading_config"]["model_id"] = model_id
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def eval_overrides(manifest: Path, out_dir: Path, run_id: str, *, demo_model: bool = False) -> list[str]:
    """A run of `manifest` by the engine tests' settings: the smoke model's short answers, or (demo_model) room for
    the demo model's whole answers (a format answer is up to ~90 tokens)."""
    model = ["run.demo_model=true", "inference.sampling.max_tokens=128"] if demo_model else \
        ["run.smoke_model=true", "inference.sampling.max_tokens=16"]
    return [f"dataset.path={manifest}", f"run.out_dir={out_dir}", f"run.run_id={run_id}", *model,
            "inference.actors=1", "inference.max_in_flight_per_actor=8",
            "preprocess.video.max_frames=4", "preprocess.video.send_media_io_kwargs=true", "gate.max_error_rate=0"]
