"""serve_configs/*.yaml validate with Ray's own models and fit the clusters they are written for."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ray_eval.errors import ConfigError
from ray_eval.serving.serve_configs import (
    ServeConfigError,
    ServeConfigPlan,
    check_engine_kwargs,
    check_fits,
    load_serve_config,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "serve_configs"
# The LLM serving configs (the canary's Serve config is checked by tests/canary).
ALL_CONFIGS = sorted(p for p in CONFIG_DIR.glob("*.yaml") if "ray.serve.llm:build_openai_app" in p.read_text())
TP1 = CONFIG_DIR / "ostrakon-8b-h100-tp1.yaml"
TP2 = CONFIG_DIR / "ostrakon-8b-tp2.yaml"
TP4 = CONFIG_DIR / "ostrakon-8b-tp4.yaml"
GPU_CONFIGS = [TP1, TP2, TP4]


def _write(tmp_path: Path, data: dict, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _llm(data: dict) -> dict:
    return data["applications"][0]["args"]["llm_configs"][0]


def _load_problems(path: Path) -> str:
    with pytest.raises(ServeConfigError) as caught:
        load_serve_config(path)
    assert str(path) in str(caught.value)
    return str(caught.value)


@pytest.fixture
def tp2_data() -> dict:
    return yaml.safe_load(TP2.read_text(encoding="utf-8"))


def cpu_config(**llm_overrides) -> dict:
    llm = {
        "model_loading_config": {"model_id": "tiny", "model_source": "models/tiny"},
        "deployment_config": {"autoscaling_config": {"min_replicas": 1, "max_replicas": 1}},
        "engine_kwargs": {"max_model_len": 2048, "dtype": "float32"},
    }
    llm.update(llm_overrides)
    return {
        "http_options": {"host": "127.0.0.1", "port": 8000},
        "applications": [{"name": "llm", "route_prefix": "/", "import_path": "ray.serve.llm:build_openai_app",
                          "args": {"llm_configs": [llm]}}],
    }


# ---- the shipped configs ---------------------------------------------------------------------------------------------


def test_the_gpu_configs_exist():
    assert all(path.exists() for path in GPU_CONFIGS)


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.name)
def test_every_config_loads_and_validates(path):
    plan = load_serve_config(path)
    assert isinstance(plan, ServeConfigPlan)
    assert [app.name for app in plan.schema.applications] == ["llm"]
    assert plan.deployments, "an LLM app with at least one model"
    for deployment in plan.deployments:
        assert len(deployment.bundles) == deployment.tensor_parallel_size * deployment.pipeline_parallel_size
        assert 1 <= deployment.min_replicas <= deployment.max_replicas
        if deployment.accelerator_kind == "gpu":
            assert all(bundle["GPU"] == 1 for bundle in deployment.bundles)
        else:
            assert all(bundle.get("GPU", 0) == 0 and bundle["CPU"] > 0 for bundle in deployment.bundles)


@pytest.mark.parametrize("path", GPU_CONFIGS, ids=lambda p: p.name)
def test_gpu_configs_serve_ostrakon_from_a_mounted_path_offline_on_all_interfaces(path):
    plan = load_serve_config(path)
    (deployment,) = plan.deployments
    assert deployment.model_id == "ostrakon-vl-8b"
    llm = deployment.llm_config
    assert llm.model_loading_config.model_source.startswith("/models/")
    assert llm.runtime_env["env_vars"]["HF_HUB_OFFLINE"] == "1"
    assert llm.engine_kwargs["dtype"] == "bfloat16"
    assert set(llm.engine_kwargs["limit_mm_per_prompt"]) == {"image", "video"}
    assert llm.engine_kwargs["max_model_len"] >= 8192  # at least the training sequence length
    assert deployment.max_ongoing_requests >= llm.engine_kwargs["max_num_seqs"]
    for key in ("health_check_period_s", "health_check_timeout_s", "graceful_shutdown_timeout_s"):
        assert key in llm.deployment_config
    assert plan.schema.http_options.host == "0.0.0.0"
    assert plan.schema.applications[0].import_path == "ray.serve.llm:build_openai_app"


def test_tp1_one_gpu_per_replica_on_h100_up_to_8_replicas():
    deployment = load_serve_config(TP1).deployment("ostrakon-vl-8b")
    assert (deployment.tensor_parallel_size, deployment.pipeline_parallel_size) == (1, 1)
    assert deployment.accelerator_type == "H100"
    # derived the way Ray LLM derives it: one GPU bundle, pinned to H100 nodes
    assert deployment.bundles == ({"GPU": 1.0, "accelerator_type:H100": 0.001},)
    assert (deployment.min_replicas, deployment.max_replicas) == (1, 8)


def test_tp2_and_tp4_pack_a_replica_on_one_node():
    for path, tp, max_replicas in ((TP2, 2, 4), (TP4, 4, 2)):
        deployment = load_serve_config(path).deployments[0]
        assert deployment.tensor_parallel_size == tp
        assert deployment.gpus_per_replica == tp
        assert deployment.strategy == "STRICT_PACK"
        assert deployment.max_replicas == max_replicas


# ---- fitting onto nodes ----------------------------------------------------------------------------------------------


def test_tp1_max_replicas_fit_one_8_gpu_node_but_not_4_gpus():
    plan = load_serve_config(TP1)
    assert check_fits(plan, [8]) == []
    assert check_fits(plan, [4, 4]) == []
    (problem,) = check_fits(plan, [4])
    assert "only 4 of max_replicas=8" in problem and str(TP1) in problem


def test_tp2_fits_8_gpus_in_any_4_or_8_gpu_shape_but_not_single_gpu_nodes():
    plan = load_serve_config(TP2)
    assert check_fits(plan, [8]) == []
    assert check_fits(plan, [4, 4]) == []
    (problem,) = check_fits(plan, [1] * 8)
    assert "only 0 of max_replicas=4" in problem and "2 GPUs on one node" in problem


def test_tp4_fits_two_4_gpu_nodes_and_one_8_gpu_node_but_not_2_gpu_nodes():
    plan = load_serve_config(TP4)
    assert check_fits(plan, [4, 4]) == []
    assert check_fits(plan, [8]) == []  # two replicas side by side on one node
    (problem,) = check_fits(plan, [2, 2, 2, 2])  # 8 GPUs in all, but no node holds a replica
    assert "ostrakon-vl-8b" in problem and "4 GPUs on one node" in problem and "STRICT_PACK" in problem
    (problem,) = check_fits(plan, [4, 3])
    assert "only 1 of max_replicas=2" in problem


def test_check_fits_follows_the_strategy(tmp_path, tp2_data):
    llm = _llm(tp2_data)
    llm["placement_group_config"]["strategy"] = "PACK"  # PACK may split a replica over nodes
    assert check_fits(load_serve_config(_write(tmp_path, tp2_data)), [1] * 8) == []
    llm["placement_group_config"]["strategy"] = "STRICT_SPREAD"  # each worker on a different node
    plan = load_serve_config(_write(tmp_path, tp2_data))
    assert check_fits(plan, [2, 2, 2, 2]) == []
    assert "only 0 of" in check_fits(plan, [8])[0]


def test_check_fits_ignores_cpu_deployments_and_refuses_bad_node_lists(tmp_path):
    plan = load_serve_config(_write(tmp_path, cpu_config(accelerator_config={"kind": "cpu"})))
    assert check_fits(plan, []) == []
    with pytest.raises(ValueError, match="non-negative"):
        check_fits(plan, [-1])


# ---- CPU configs (serve_configs/cpu-tiny.yaml's shape) ---------------------------------------------------------------


def test_cpu_config_by_accelerator_config(tmp_path):
    (deployment,) = load_serve_config(_write(tmp_path, cpu_config(accelerator_config={"kind": "cpu"}))).deployments
    assert deployment.accelerator_kind == "cpu"
    assert deployment.bundles == ({"CPU": 1.0},)
    assert deployment.gpus_per_replica == 0


def test_cpu_config_by_cpu_only_placement_group(tmp_path):
    data = cpu_config(placement_group_config={"bundles": [{"CPU": 1}]})
    (deployment,) = load_serve_config(_write(tmp_path, data)).deployments
    assert deployment.accelerator_kind == "cpu"
    assert deployment.bundles == ({"CPU": 1},)


# ---- broken configs: the error names the file and the field ----------------------------------------------------------


def test_bundles_not_matching_tensor_parallel_size(tmp_path, tp2_data):
    _llm(tp2_data)["placement_group_config"]["bundles"].append({"GPU": 1})
    message = _load_problems(_write(tmp_path, tp2_data))
    assert "applications[0].args.llm_configs[0].placement_group_config.bundles: 3 bundles" in message
    assert "= 2" in message


def test_bundle_with_a_fraction_of_a_gpu(tmp_path, tp2_data):
    _llm(tp2_data)["placement_group_config"]["bundles"][1] = {"GPU": 0.5}
    message = _load_problems(_write(tmp_path, tp2_data))
    assert "placement_group_config.bundles[1].GPU" in message


def test_gpu_in_a_cpu_deployment(tmp_path):
    data = cpu_config(accelerator_config={"kind": "cpu"},
                      placement_group_config={"bundles": [{"CPU": 1, "GPU": 1}]})
    assert "placement_group_config.bundles[0]" in _load_problems(_write(tmp_path, data))


def test_strict_pack_wider_than_any_node(tmp_path, tp2_data):
    llm = _llm(tp2_data)
    llm["engine_kwargs"]["tensor_parallel_size"] = 16
    llm["placement_group_config"]["bundles"] = [{"GPU": 1}] * 16
    assert "placement_group_config.strategy: STRICT_PACK" in _load_problems(_write(tmp_path, tp2_data))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda llm: llm.__setitem__("engine_kwarg", {}), "llm_configs[0].engine_kwarg: Extra inputs"),
        (lambda llm: llm["deployment_config"].__setitem__("max_ongoing_request", 8),
         "deployment_config.max_ongoing_request: unknown field (did you mean 'max_ongoing_requests'?)"),
        (lambda llm: llm["deployment_config"]["autoscaling_config"].__setitem__("max_replica", 8),
         "autoscaling_config.max_replica: unknown field (did you mean 'max_replicas'?)"),
        (lambda llm: llm["placement_group_config"].__setitem__("stratgy", "PACK"),
         "placement_group_config.stratgy: Extra inputs"),
        (lambda llm: llm["placement_group_config"].__setitem__("strategy", "PACKED"),
         "placement_group_config.strategy"),
        (lambda llm: llm.__setitem__("accelerator_type", "H1000"), "accelerator_type: Value error"),
        (lambda llm: llm["engine_kwargs"].__setitem__("model", "/models/x"), "engine_kwargs.model"),
        (lambda llm: llm["engine_kwargs"].__setitem__("tensor_parallel_size", "2"),
         "engine_kwargs.tensor_parallel_size"),
        (lambda llm: llm["deployment_config"].__setitem__("max_ongoing_requests", 10),
         "max_ongoing_requests: 10 is below engine_kwargs.max_num_seqs"),
        (lambda llm: llm["deployment_config"].__setitem__("num_replicas", 2), "num_replicas and autoscaling_config"),
        (lambda llm: llm["deployment_config"].__setitem__("placement_group_bundles", [{"GPU": 1}]),
         "deployment_config.placement_group_bundles: Ray Serve LLM sets this"),
    ],
    ids=["llm-field", "deployment-option", "autoscaling-key", "pg-key", "pg-strategy", "accelerator-type",
         "engine-model", "tp-type", "max-ongoing", "num-replicas-and-autoscaling", "pg-in-deployment-config"],
)
def test_broken_llm_config_names_the_field(tmp_path, tp2_data, edit, expected):
    edit(_llm(tp2_data))
    message = _load_problems(_write(tmp_path, tp2_data))
    assert "applications[0].args.llm_configs[0]" in message
    assert expected in message


def test_broken_serve_level_fields(tmp_path, tp2_data):
    tp2_data["http_option"] = tp2_data.pop("http_options")  # Serve itself would ignore this silently
    tp2_data["applications"][0]["route_prefx"] = "/"
    tp2_data["applications"][0]["args"]["ingress_deployment_config"]["autoscaling_config"]["min_replica"] = 1
    message = _load_problems(_write(tmp_path, tp2_data))
    assert "http_option: unknown field (did you mean 'http_options'?)" in message
    assert "applications[0].route_prefx: unknown field" in message
    assert "applications[0].args.ingress_deployment_config.autoscaling_config.min_replica: unknown field" in message


def test_serve_schema_errors_name_the_field(tmp_path, tp2_data):
    tp2_data["http_options"]["port"] = "eighty"
    del tp2_data["applications"][0]["import_path"]
    message = _load_problems(_write(tmp_path, tp2_data))
    assert "http_options.port" in message and "applications[0].import_path" in message


def test_duplicate_model_ids(tmp_path, tp2_data):
    args = tp2_data["applications"][0]["args"]
    args["llm_configs"].append(copy.deepcopy(args["llm_configs"][0]))
    assert "model_id 'ostrakon-vl-8b' appears more than once" in _load_problems(_write(tmp_path, tp2_data))


def test_unreadable_files(tmp_path):
    assert "cannot read" in _load_problems(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("applications: [\n", encoding="utf-8")
    assert "not valid YAML" in _load_problems(bad)
    no_llm = _write(tmp_path, {"applications": [{"name": "x", "import_path": "pkg.module:app"}]})
    assert "no application uses" in _load_problems(no_llm)


def test_every_problem_is_reported_at_once_as_a_config_error(tmp_path, tp2_data):
    tp2_data["http_options"]["hots"] = "0.0.0.0"
    _llm(tp2_data)["placement_group_config"]["bundles"].append({"GPU": 1})
    _llm(tp2_data)["deployment_config"]["max_ongoing_requests"] = 10
    with pytest.raises(ConfigError) as caught:
        load_serve_config(_write(tmp_path, tp2_data))
    assert len(caught.value.problems) == 3
    assert caught.value.exit_code == 2


# ---- with vLLM installed: Ray's own engine-config step agrees -------------------------------------------------------


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.name)
def test_with_vllm_engine_kwargs_and_bundles_match_rays_engine_config(path):
    pytest.importorskip("vllm")
    from ray.serve.llm import LLMConfig

    plan = load_serve_config(path)
    assert check_engine_kwargs(plan) == []
    for deployment in plan.deployments:
        assert isinstance(deployment.llm_config, LLMConfig.__mro__[1])  # the public class adds nothing
        engine_config = deployment.llm_config.get_engine_config()
        assert engine_config.placement_bundles == list(deployment.bundles)
        assert engine_config.placement_strategy == deployment.strategy


def test_with_vllm_an_unknown_engine_argument_is_reported(tmp_path, tp2_data):
    pytest.importorskip("vllm")
    _llm(tp2_data)["engine_kwargs"]["max_num_seq"] = 64
    (problem,) = check_engine_kwargs(load_serve_config(_write(tmp_path, tp2_data)))
    assert str(tmp_path) in problem and "engine_kwargs" in problem and "max_num_seq" in problem
