"""The Helm chart, rendered offline by Helm's own Go SDK (helm-python-sdk: no helm binary, no cluster), once per
values file per session; and the schemas the rendered objects are checked against, all offline: Kubernetes' own
(kubernetes-validate, at a pinned version) and KubeRay's CRDs (vendored in crds/)."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "ray-eval"
EXAMPLES = CHART / "examples"
CRDS = Path(__file__).resolve().parent / "crds"
RELEASE, NAMESPACE = "shopbench", "evals"
# The Kubernetes version the core objects are validated at: the oldest the chart supports (Chart.yaml kubeVersion),
# so nothing newer slips in.
KUBE_VERSION = "1.29.0"
# Every values file the tests render: the chart's defaults and the four examples docs/operations/kuberay.md walks
# through.
VALUES_FILES = {"defaults": None, "cpu-demo": EXAMPLES / "cpu-demo.yaml", "h100": EXAMPLES / "h100.yaml",
                "2x4-tp4": EXAMPLES / "2x4-tp4.yaml", "suites": EXAMPLES / "suites.yaml"}


@cache
def chart():
    import helm_python

    return helm_python.Chart.load(str(CHART))


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart's objects for these values (merged over values.yaml, as `helm template -f` does)."""
    manifests = chart().render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]


def example_values(name: str) -> dict[str, Any]:
    path = VALUES_FILES[name]
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path else {}


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(example_values(name)) for name in VALUES_FILES}


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


# ---- KubeRay's CRD schemas -------------------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused, as the API server's strict field validation (kubectl's default)
    does: Kubernetes prunes them silently otherwise, so a misspelt field would vanish."""
    if isinstance(schema, dict):
        out = {key: _strict(value) for key, value in schema.items()}
        if (out.get("type") == "object" and "properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    """(apiVersion, kind) -> validator of that served version's openAPIV3Schema."""
    validators = {}
    for path in sorted(CRDS.glob("*.yaml.gz")):
        crd = yaml.safe_load(gzip.decompress(path.read_bytes()))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schema = _strict(version["schema"]["openAPIV3Schema"])
                validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return validators
