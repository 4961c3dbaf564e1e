"""The chart, rendered with each tested values file: lint-clean, every object valid against Kubernetes' or
KubeRay's schema, every pod hardened and sized, and the configs it carries are the ones ray-eval loads: the eval
config (ray_eval.config), the canary's, the Serve config (Ray's own schema), the alert rules (the repository's
file, unchanged, and promtool-clean)."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from ray_eval.canary.config import load_canary_config
from ray_eval.config import load_config
from ray_eval.serving.serve_configs import check_fits, load_serve_config
from tests.k8s.conftest import (
    CHART,
    CRDS,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    ROOT,
    VALUES_FILES,
    crd_validators,
    example_values,
    only,
)

CORE_KINDS = {"ConfigMap", "Deployment", "Service"}
RAY_KINDS = {"RayService", "RayJob", "RayCronJob", "RayCluster"}
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}
RULES = ROOT / "monitoring" / "prometheus" / "ray-eval-rules.yaml"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
VENDORED_CRD_SHA256 = {  # tests/k8s/crds/README.md: the uncompressed files, unchanged from KubeRay
    "ray.io_rayclusters.yaml.gz": "c44704442eef0c6721ad40c1d66782c8bd3fdab9d3344306a5820910a679baa1",
    "ray.io_raycronjobs.yaml.gz": "31c2c753bba01f7e8e89cb8e8c504131b58ee42090ca536d87f5ac27605a568e",
    "ray.io_rayjobs.yaml.gz": "01a5cf3b17c1769fda44af7e82debcd98722f0c27b9ab84d084681c6649121f5",
    "ray.io_rayservices.yaml.gz": "0a8fc325e6e22b9231c1f282b309555e2ecf94227ca20a03df3d1d9a403907ab",
}
NAMES = list(VALUES_FILES)


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod spec) of every pod template an object holds, KubeRay's included."""
    spec = doc.get("spec", {})
    if doc["kind"] == "Deployment":
        yield "template", spec["template"]["spec"]
    elif doc["kind"] in ("RayService", "RayJob", "RayCronJob"):
        job = spec.get("jobTemplate", spec)
        cluster = spec.get("rayClusterConfig") or job.get("rayClusterSpec")
        yield "head", cluster["headGroupSpec"]["template"]["spec"]
        for group in cluster.get("workerGroupSpecs") or []:
            yield f"worker group {group['groupName']}", group["template"]["spec"]
        if "submitterPodTemplate" in job:
            yield "submitter", job["submitterPodTemplate"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


@pytest.mark.parametrize("name", NAMES)
def test_helm_lint_is_clean(name: str) -> None:
    report = helm_python.lint(str(CHART), example_values(name), strict=True, namespace=NAMESPACE,
                              kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


@pytest.mark.parametrize("name", NAMES)
def test_every_object_is_valid_against_its_schema(name: str, rendered) -> None:
    docs = rendered[name]
    kinds = {doc["kind"] for doc in docs}
    assert {"RayService", "RayJob", "ConfigMap", "Deployment", "Service"} <= kinds
    for doc in docs:
        where = f"{name}: {doc['kind']} {doc['metadata']['name']}"
        assert doc["kind"] in CORE_KINDS | RAY_KINDS | MONITORING_KINDS, f"{where}: a kind no test validates"
        if doc["kind"] in CORE_KINDS:
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{where}: {exc.message} at {list(exc.path)}")
        elif doc["kind"] in RAY_KINDS:
            errors = list(crd_validators()[(doc["apiVersion"], doc["kind"])].iter_errors(doc))
            assert not errors, f"{where}: " + "; ".join(f"{e.json_path}: {e.message}" for e in errors[:5])
        assert len(doc["metadata"]["name"]) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
                                                                    doc["metadata"]["name"]), where


def test_crd_validation_refuses_what_kuberay_would() -> None:
    """The validators have teeth: a misspelt field and a wrong type are refused (Kubernetes would prune the one
    silently, reject the other)."""
    validator = crd_validators()[("ray.io/v1", "RayJob")]
    assert not list(validator.iter_errors({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "x"},
                                           "spec": {"entrypoint": "python x.py", "backoffLimit": 0}}))
    assert list(validator.iter_errors({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "x"},
                                       "spec": {"entrypoint": "python x.py", "shutdownAfterJobFinish": True}}))
    assert list(validator.iter_errors({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "x"},
                                       "spec": {"entrypoint": "python x.py", "backoffLimit": "none"}}))


def test_vendored_crds_are_kuberays_unchanged() -> None:
    assert {path.name for path in CRDS.glob("*.gz")} == set(VENDORED_CRD_SHA256)
    for name, digest in VENDORED_CRD_SHA256.items():
        assert hashlib.sha256(gzip.decompress((CRDS / name).read_bytes())).hexdigest() == digest, name


@pytest.mark.parametrize("name", NAMES)
def test_every_pod_is_hardened_and_sized(name: str, rendered) -> None:
    pods = [(f"{doc['kind']} {where}", pod) for doc in rendered[name] for where, pod in pod_specs(doc)]
    assert len(pods) >= 5
    for where, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] > 0, where
        assert pod["automountServiceAccountToken"] is False, where
        mounts_needed = {"/tmp"}
        for container in containers(pod):
            at = f"{where}, container {container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, at
            assert security["readOnlyRootFilesystem"] is True, at
            assert security["capabilities"]["drop"] == ["ALL"], at
            assert security["runAsNonRoot"] is True, at
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][part]), at
            # A read-only root needs somewhere to write: /tmp (Ray's session dir, HOME) is an emptyDir.
            assert mounts_needed <= {m["mountPath"] for m in container["volumeMounts"]}, at
            assert {"name": "HOME", "value": "/tmp/home"} in container["env"], at
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes["scratch"], where


@pytest.mark.parametrize("name", ["defaults", "h100", "2x4-tp4"])
def test_gpu_workers_ask_for_gpus_on_gpu_nodes_only(name: str, rendered) -> None:
    service = only(rendered[name], "RayService")
    groups = example_values(name).get("rayService", {}).get("gpuWorkerGroups") or \
        yaml.safe_load((CHART / "values.yaml").read_text())["rayService"]["gpuWorkerGroups"]
    specs = {g["groupName"]: g for g in service["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
    for group in groups:
        pod = specs[group["name"]]["template"]["spec"]
        resources = pod["containers"][0]["resources"]
        assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == group["gpus"]
        assert pod["nodeSelector"] == group["nodeSelector"] and pod["nodeSelector"]
        assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
        assert "/models" in {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    head = service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in head["containers"][0]["resources"]["limits"]


@pytest.mark.parametrize("name", NAMES)
def test_serve_config_is_the_repositorys_and_fits_the_gpu_workers(name: str, rendered, tmp_path: Path) -> None:
    service = only(rendered[name], "RayService")
    values = example_values(name).get("rayService", {})
    source = yaml.safe_load((ROOT / "serve_configs" / values.get("serveConfig", "ostrakon-8b-h100-tp1.yaml"))
                            .read_text())
    served = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert served["http_options"] == {"host": "0.0.0.0", "port": 8000}
    # The same application as the file, apart from the values' overrides.
    llm, file_llm = (config["applications"][0]["args"]["llm_configs"][0] for config in (served, source))
    assert served["applications"][0]["import_path"] == source["applications"][0]["import_path"]
    assert llm["engine_kwargs"] | {"tensor_parallel_size": None} == \
        file_llm["engine_kwargs"] | {"tensor_parallel_size": None}
    assert llm["model_loading_config"]["model_id"] == file_llm["model_loading_config"]["model_id"]
    # Ray's own schema and LLMConfig accept it, and max_replicas fit the worker groups' largest size.
    path = tmp_path / "serve.yaml"
    path.write_text(service["spec"]["serveConfigV2"])
    plan = load_serve_config(path)
    nodes = [int(g["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu", 0))
             for g in service["spec"]["rayClusterConfig"]["workerGroupSpecs"] for _ in range(g["maxReplicas"])]
    assert check_fits(plan, nodes) == []
    if "tensorParallelSize" in values:
        assert plan.deployments[0].tensor_parallel_size == values["tensorParallelSize"]
        assert len(plan.deployments[0].bundles) == values["tensorParallelSize"]
    if "maxReplicas" in values:
        assert plan.deployments[0].max_replicas == values["maxReplicas"]


@pytest.mark.parametrize("name", NAMES)
def test_eval_and_canary_configs_load_and_point_at_the_serve_endpoint(name: str, rendered, tmp_path: Path) -> None:
    docs = rendered[name]
    eval_map = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-eval"))
    canary_map = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-canary"))
    (tmp_path / "eval.yaml").write_text(eval_map["data"]["eval.yaml"])
    (tmp_path / "canary.yaml").write_text(canary_map["data"]["canary.yaml"])
    config = load_config(tmp_path / "eval.yaml")
    canary = load_canary_config(tmp_path / "canary.yaml")
    serve_url = f"http://{RELEASE}-ray-eval-serve-svc.{NAMESPACE}.svc.cluster.local:8000/v1"
    served = yaml.safe_load(only(docs, "RayService")["spec"]["serveConfigV2"])
    model_id = served["applications"][0]["args"]["llm_configs"][0]["model_loading_config"]["model_id"]
    assert (config.engine.kind, config.engine.base_url, config.engine.model) == ("openai", serve_url, model_id)
    # The evaluation keeps as many requests in flight as the deployment can take (ray_eval.pipeline.sizing).
    deployment = served["applications"][0]["args"]["llm_configs"][0]["deployment_config"]
    assert config.inference.engine_capacity == \
        deployment["max_ongoing_requests"] * deployment["autoscaling_config"]["max_replicas"]
    assert str(config.run.out_dir) == "/results"
    assert all(str(suite.dataset.path).startswith("/data/") for suite in config.evaluated_suites())
    if "suites" not in example_values(name).get("evaluation", {}):  # the suites example: test_suites_...
        assert config.gate.model_dump(exclude_none=True, exclude_defaults=True) == \
            {k: v for k, v in (example_values(name).get("thresholds") or {"min_score": 58, "min_pass_rate": 0.55,
                                                                        "max_error_rate": 0.01}).items()
             if v is not None}
    assert (canary.engine.base_url, canary.engine.model) == (serve_url, model_id)
    assert canary.server.host == "0.0.0.0"
    assert all(str(suite.probes.path).startswith("/data/") for suite in canary.probe_suites())


def test_the_suites_example_renders_an_eval_config_of_both_suites_each_with_its_gate(rendered, tmp_path: Path) -> None:
    """evaluation.suites becomes the eval config's `suites:` (no `dataset`, no thresholds' gate), each suite with its
    own gate and the run-wide serving check beside them; canary.suites the canary's pool of both."""
    docs = rendered["suites"]
    maps = {d["metadata"]["name"].rsplit("-", 1)[-1]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    (tmp_path / "eval.yaml").write_text(maps["eval"]["eval.yaml"])
    (tmp_path / "canary.yaml").write_text(maps["canary"]["canary.yaml"])
    config, canary = load_config(tmp_path / "eval.yaml"), load_canary_config(tmp_path / "canary.yaml")
    assert config.dataset is None and "dataset:" not in maps["eval"]["eval.yaml"].split("suites:")[0]
    values = example_values("suites")["evaluation"]["suites"]
    assert [suite.name for suite in config.evaluated_suites()] == ["shopbench", "guard-ocr"]
    for suite, given in zip(config.evaluated_suites(), values, strict=True):
        assert str(suite.dataset.path) == given["dataset"]["path"]
        assert suite.gate.model_dump(exclude_none=True, exclude_defaults=True) == given["gate"]
    assert config.evaluated_suites()[1].scoring.scorers["open"] == "ocr_contains_any"
    assert config.gate.model_dump(exclude_none=True, exclude_defaults=True) == \
        {"serving": {"max_engine_error_rate": 0.01}}
    assert [(suite.name, suite.probes.critical_only) for suite in canary.probe_suites()] == \
        [("shopbench", True), ("guard-ocr", False)]
    assert canary.probes.per_round == 8 and canary.probes.path is None


@pytest.mark.parametrize("name", NAMES)
def test_rayjob_runs_the_jobs_script_with_the_job_limits(name: str, rendered) -> None:
    docs = rendered[name]
    job = only(docs, "RayJob")["spec"]
    values = {**yaml.safe_load((CHART / "values.yaml").read_text())["evaluation"]["job"],
              **example_values(name).get("evaluation", {}).get("job", {})}
    assert job["entrypoint"] == "python /app/jobs/run_eval.py -c /config/eval.yaml"
    assert {key: job[key] for key in values} == values
    head = job["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in head["containers"][0]["volumeMounts"]}
    assert mounts["/config"]["readOnly"] and mounts["/data"]["readOnly"] and not mounts["/results"].get("readOnly")
    config_volume = next(v for v in head["volumes"] if v["name"] == "config")
    assert config_volume["configMap"]["name"] == f"{RELEASE}-ray-eval-eval"
    wait = next(c for c in head["initContainers"] if c["name"] == "wait-for-serve")
    assert wait["command"][:3] == ["ray-eval", "ci", "wait-ready"]
    crons = [d for d in docs if d["kind"] == "RayCronJob"]
    if crons:  # the nightly run is the same job on a schedule
        assert crons[0]["spec"]["jobTemplate"] == job
        assert crons[0]["spec"]["schedule"] == "0 2 * * *"


@pytest.mark.parametrize("name", ["defaults", "h100", "2x4-tp4"])
def test_prometheus_rule_is_the_rules_file_unchanged_and_promtool_clean(name: str, rendered, tmp_path: Path) -> None:
    rule = only(rendered[name], "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    done = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    if name == "h100":
        assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"


@pytest.mark.parametrize("name", ["defaults", "h100", "2x4-tp4"])
def test_service_monitor_scrapes_the_canary_service_with_model_and_environment(name: str, rendered) -> None:
    docs = rendered[name]
    monitor, service, deployment = (only(docs, kind) for kind in ("ServiceMonitor", "Service", "Deployment"))
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    endpoint = monitor["spec"]["endpoints"][0]
    port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert port["targetPort"] in {p["name"] for p in container["ports"]} and endpoint["path"] == "/metrics"
    assert {r["targetLabel"] for r in endpoint["relabelings"]} == {"model", "environment"}
    assert container["command"] == ["ray-eval", "canary", "-c", "/config/canary.yaml"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_cpu_demo_builds_its_model_and_dataset_and_needs_no_gpu(rendered) -> None:
    docs = rendered["cpu-demo"]
    assert not [doc for doc in docs if doc["kind"] in MONITORING_KINDS | {"RayCronJob"}]
    text = yaml.safe_dump_all(docs)
    assert "nvidia.com/gpu" not in text
    service = only(docs, "RayService")
    worker = service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]
    assert [c["command"][:3] for c in worker["initContainers"]] == [["ray-eval", "model", "tiny"]]
    head = only(docs, "RayJob")["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert ["ray-eval", "dataset", "synth"] in [c["command"][:3] for c in head["initContainers"]]
    served = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert served["applications"][0]["args"]["llm_configs"][0]["model_loading_config"]["model_source"] == \
        "/models/tiny-qwen3-vl"


def test_every_example_is_tested_and_in_the_readme() -> None:
    readme = (ROOT / "docs" / "operations" / "kuberay.md").read_text(encoding="utf-8")
    examples = {path.name for path in (CHART / "examples").glob("*.yaml")}
    assert examples == {path.name for path in VALUES_FILES.values() if path}
    for name in examples:
        assert f"-f helm/ray-eval/examples/{name}" in readme, name
