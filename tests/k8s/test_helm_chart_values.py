"""Bad values are refused before anything reaches a cluster, with a message naming the field: values.schema.json
for what one value can get wrong, the templates' `fail` for what only a combination shows (tensor parallelism
wider than a GPU worker, more replicas than the GPU workers hold)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from ray_eval.config import load_config
from ray_eval.errors import ConfigError
from tests.k8s.conftest import example_values, only, render


def with_changes(base: str, **changes: Any) -> dict[str, Any]:
    """An example's values with `a__b__c=value` changes (lists by index: gpuWorkerGroups__0__gpus)."""
    values = copy.deepcopy(example_values(base))
    for dotted, value in changes.items():
        node: Any = values
        parts = [int(p) if p.isdigit() else p for p in dotted.split("__")]
        for part in parts[:-1]:
            node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
        node[parts[-1]] = value
    return values


SCHEMA_REFUSALS = {
    "tensor parallel size 0": (with_changes("2x4-tp4", rayService__tensorParallelSize=0),
                               "/rayService/tensorParallelSize"),
    "tensor parallel size 3": (with_changes("2x4-tp4", rayService__tensorParallelSize=3),
                               "/rayService/tensorParallelSize"),
    "a GPU worker with no GPUs": (with_changes("h100", rayService__gpuWorkerGroups__0__gpus=0),
                                  "/rayService/gpuWorkerGroups/0/gpus"),
    "a GPU worker without a node selector": (with_changes("h100", rayService__gpuWorkerGroups__0__nodeSelector={}),
                                             "/rayService/gpuWorkerGroups/0/nodeSelector"),
    "an unknown top-level key": (with_changes("h100", rayservice={"enabled": True}), "'rayservice' not allowed"),
    "an unknown nested key": (with_changes("h100", evaluation__jobs={"backoffLimit": 1}), "'jobs' not allowed"),
    "root": (with_changes("h100", security__runAsUser=0), "/security/runAsUser"),
    "a serve config that is not in serve_configs": (with_changes("h100", rayService__serveConfig="llama.yaml"),
                                                    "/rayService/serveConfig"),
    "a memory limit that is no quantity": (with_changes("h100", canary__resources__limits__memory="2 GB"),
                                           "/canary/resources/limits/memory"),
    "a Ray worker group without resources": (
        with_changes("cpu-demo", rayService__cpuWorkerGroups=[{"name": "cpu", "replicas": 1, "minReplicas": 1,
                                                               "maxReplicas": 1}]),
        "/rayService/cpuWorkerGroups/0"),
    "a bad cron schedule": (with_changes("h100", nightly__schedule="every night"), "/nightly/schedule"),
    "two volume sources": (with_changes("h100", storage__results__volume={"emptyDir": {}, "nfs": {"server": "x"}}),
                           "/storage/results/volume"),
    "a negative backoff limit": (with_changes("h100", evaluation__job__backoffLimit=-1),
                                 "/evaluation/job/backoffLimit"),
    "a suite without a dataset": (with_changes("suites", evaluation__suites=[{"name": "shopbench"}]),
                                  "/evaluation/suites/0"),
    "a suite name with capitals": (with_changes("suites", evaluation__suites__1__name="Guard OCR"),
                                   "/evaluation/suites/1/name"),
    "a canary suite's relative probes path": (
        with_changes("suites", canary__suites__1__probes={"path": "guard/guard-ocr.tsv"}),
        "/canary/suites/1/probes/path"),
}


TEMPLATE_REFUSALS = {
    "TP wider than the GPU workers": (
        with_changes("h100", rayService__tensorParallelSize=2),
        "rayService.tensorParallelSize: a replica of ostrakon-vl-8b needs 2 GPUs on one node"),
    "more replicas than the GPU workers hold": (
        with_changes("h100", rayService__maxReplicas=None),  # the file's 8, on one 1-GPU worker
        "rayService.maxReplicas: 8 replicas of ostrakon-vl-8b x 1 GPUs do not fit"),
    "TP=4 replicas beyond two 4-GPU nodes": (
        with_changes("2x4-tp4", rayService__maxReplicas=3), "rayService.maxReplicas: 3 replicas"),
    "a GPU serve config without GPU workers": (
        with_changes("h100", rayService__gpuWorkerGroups=[]), "rayService.gpuWorkerGroups"),
    "TP on the CPU config": (
        with_changes("cpu-demo", rayService__tensorParallelSize=2), "serves on CPU"),
    "min replicas above max": (
        with_changes("2x4-tp4", rayService__minReplicas=2, rayService__maxReplicas=1),
        "rayService.minReplicas 2 is more than maxReplicas 1"),
    "a worker group's replicas beyond its max": (
        with_changes("2x4-tp4", rayService__gpuWorkerGroups__0__replicas=3),
        "replicas 3 must lie between minReplicas 1 and maxReplicas 2"),
    "secret variables without the Secret": (
        with_changes("h100", secrets={"env": {"CANARY_API_KEY": "key"}}), "secrets.existingSecret"),
    "a canary key variable that is not a secret": (
        with_changes("h100", canary__endpoint={"baseUrl": "https://llm.example.com/v1", "model": "m",
                                               "apiKeyEnv": "CANARY_API_KEY"}),
        "canary.endpoint.apiKeyEnv: CANARY_API_KEY is not a variable of secrets.env"),
    "no endpoint without the RayService": (
        with_changes("h100", rayService__enabled=False), "evaluation.config.engine"),
    "no dataset": (with_changes("h100", storage__datasets={"claimName": None}), "storage.datasets.claimName"),
    "suites beside a dataset path": (
        with_changes("suites", evaluation__datasetPath="/data/shopbench/manifest.jsonl"),
        "evaluation.datasetPath: with evaluation.suites, each suite names its dataset; set datasetPath: null"),
    "suites beside thresholds": (
        with_changes("suites", thresholds={"min_score": 58}),
        "thresholds: the gate of a one-dataset evaluation; with evaluation.suites, each suite has its own gate"),
    "canary suites beside a probes path": (
        with_changes("suites", canary__probesPath="/data/shopbench/manifest.jsonl"),
        "canary.probesPath: with canary.suites, each suite names its probes; set probesPath: null"),
    "neither a dataset path nor suites": (
        with_changes("h100", evaluation__datasetPath=None), "evaluation.datasetPath: the dataset to evaluate"),
}


# values.schema.json's refusals are HelmValuesError, the templates' `fail` HelmRenderError.
REFUSALS = {**{case: (*spec, helm_python.HelmValuesError) for case, spec in SCHEMA_REFUSALS.items()},
            **{case: (*spec, helm_python.HelmRenderError) for case, spec in TEMPLATE_REFUSALS.items()}}


@pytest.mark.parametrize("case", REFUSALS)
def test_bad_values_are_refused_naming_the_field(case: str) -> None:
    values, message, error = REFUSALS[case]
    with pytest.raises(error) as caught:
        render(values)
    assert message in str(caught.value)


def test_overrides_reach_the_serve_config() -> None:
    """TP and replicas from values, not the file's: TP=2 replicas on the h100 example widened to 2-GPU workers."""
    values = with_changes("h100", rayService__tensorParallelSize=2, rayService__maxReplicas=2,
                          rayService__gpuWorkerGroups__0__gpus=2, rayService__gpuWorkerGroups__0__maxReplicas=2)
    served = yaml.safe_load(only(render(values), "RayService")["spec"]["serveConfigV2"])
    llm = served["applications"][0]["args"]["llm_configs"][0]
    assert llm["engine_kwargs"]["tensor_parallel_size"] == 2
    assert llm["placement_group_config"] == {"bundles": [{"GPU": 1}, {"GPU": 1}], "strategy": "STRICT_PACK"}
    assert llm["deployment_config"]["autoscaling_config"]["max_replicas"] == 2
    assert served["applications"][0]["args"]["ingress_deployment_config"]["autoscaling_config"]["max_replicas"] == 2


def test_a_misspelt_eval_key_is_refused_by_ray_evals_own_schema(tmp_path: Path) -> None:
    """evaluation.config is checked by ray_eval.config (the one strict tree), not copied into the chart's schema:
    the rendered config fails to load, naming the key, as the job would at start (exit 2)."""
    docs = render(with_changes("h100", evaluation__config={"inference": {"actor": 4}}))
    eval_map = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-eval"))
    (tmp_path / "eval.yaml").write_text(eval_map["data"]["eval.yaml"])
    with pytest.raises(ConfigError, match=r"inference\.actor"):
        load_config(tmp_path / "eval.yaml")


def test_an_external_endpoint_replaces_the_serve_one(tmp_path: Path) -> None:
    engine = {"kind": "openai", "base_url": "https://llm.example.com/v1", "model": "ostrakon-vl-8b",
              "api_key_env": "EVAL_API_KEY"}
    values = with_changes("h100", rayService__enabled=False, evaluation__config={"engine": engine},
                          secrets={"existingSecret": "api-keys", "env": {"EVAL_API_KEY": "eval"}},
                          canary__endpoint={"baseUrl": "https://llm.example.com/v1", "model": "ostrakon-vl-8b",
                                            "apiKeyEnv": None})
    docs = render(values)
    assert not [d for d in docs if d["kind"] == "RayService"]
    eval_map = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-eval"))
    (tmp_path / "eval.yaml").write_text(eval_map["data"]["eval.yaml"])
    assert load_config(tmp_path / "eval.yaml").engine.base_url == "https://llm.example.com/v1"
    head = only(docs, "RayJob")["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert "initContainers" not in head  # nothing to wait for
    env = {e["name"]: e for e in head["containers"][0]["env"]}
    assert env["EVAL_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "api-keys", "key": "eval"}
