"""The same evaluation against vLLM's GPU build under Ray Serve: TP=1, the tiny model's config with dummy
weights. Runs only where an NVIDIA GPU and vLLM's CUDA build are present; nothing depends on it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch")
pytest.importorskip("vllm")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU here", allow_module_level=True)

from ray_eval.config import load_config  # noqa: E402
from ray_eval.runs.run import run_evaluation  # noqa: E402
from tests.engine.conftest import MODEL_ID, cpu_serve_config, eval_overrides, free_port  # noqa: E402

pytestmark = pytest.mark.gpu


def gpu_serve_config(tmp_path: Path, model_dir: Path) -> Path:
    path = cpu_serve_config(tmp_path, model_dir, free_port())
    config = yaml.safe_load(path.read_text())
    llm = config["applications"][0]["args"]["llm_configs"][0]
    llm["accelerator_config"] = {"kind": "gpu"}
    llm["placement_group_config"] = {"bundles": [{"GPU": 1, "CPU": 1}]}
    llm["engine_kwargs"].update(tensor_parallel_size=1, load_format="dummy", enforce_eager=False,
                                gpu_memory_utilization=0.3)
    path.write_text(yaml.safe_dump(config))
    return path


def test_tp1_gpu_replica_answers_every_sample(local_ray, tiny_model, engine_manifest: Path, tmp_path: Path) -> None:
    outcome = run_evaluation(load_config(None, [
        *eval_overrides(engine_manifest, tmp_path, "gpu"), f"serve.config={gpu_serve_config(tmp_path, tiny_model)}",
        "engine.kind=serve_handle", f"engine.model={MODEL_ID}"]))
    assert outcome.exit_code == 0 and outcome.summary.counts.errors == 0
    assert outcome.summary.counts.results == 15
