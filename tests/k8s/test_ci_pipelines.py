"""The CI pipelines: the GitHub Actions workflow is valid against the workflow schema (check-jsonschema's vendored
copy of SchemaStore's github-workflow schema, offline) and its shell steps, run by bash as a runner runs them with a
stand-in `ray-eval`, fail exactly as the exit code says; the Jenkinsfile is checked for its structure only (no
Groovy or Jenkins here): the same step, the same exit-code mapping, JUnit, the HTML report and the archive."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "shopbench-eval.yml"
JENKINSFILE = ROOT / "Jenkinsfile"
SUBMIT = "ray-eval ci submit"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps() -> dict[str, dict]:
    job = workflow()["jobs"]["evaluate"]
    return {step.get("name", step.get("uses")): step for step in job["steps"]}


def test_workflow_is_valid_against_the_github_workflow_schema() -> None:
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(WORKFLOW)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_runs_on_push_pull_request_nightly_and_by_hand() -> None:
    triggers = workflow()[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"push", "pull_request", "schedule", "workflow_dispatch"}
    assert triggers["schedule"] == [{"cron": "0 2 * * *"}]


def test_workflow_publishes_junit_report_and_summary_whatever_the_outcome() -> None:
    by_name = steps()
    junit, upload = by_name["Publish JUnit"], by_name["Upload the run's reports"]
    assert junit["if"] == upload["if"] == by_name["Step summary"]["if"] == "always()"
    assert junit["with"]["report_paths"] == "ci-out/${{ env.SUBMISSION_ID }}/junit.xml"
    assert junit["with"]["fail_on_failure"] is False  # failing is the Gate step's, once
    assert upload["with"]["path"] == "ci-out/"
    assert by_name["Gate"]["if"] == "steps.evaluate.outputs.exit_code == '1'"
    assert SUBMIT in by_name["Evaluate"]["run"]


def run_step(name: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A step's `run:` script as a runner runs it (bash --noprofile --norc -eo pipefail), `ray-eval` a stand-in."""
    (tmp_path / "step.sh").write_text(steps()[name]["run"])
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(tmp_path / "step.sh")],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "GITHUB_OUTPUT": str(tmp_path / "out"),
                               "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"), "SUBMISSION_ID": "s-1",
                               "EVAL_CONFIG": "configs/ci-kuberay.yaml", "GITHUB_SHA": "0123456789abcdef", **env})


@pytest.mark.parametrize(("code", "step_exit", "annotation"), [
    (0, 0, None), (1, 0, None),  # a verdict: the Gate step decides
    (2, 2, "::error title=Bad config or dataset::"),
    (3, 3, "::error title=Infrastructure failure::"), (137, 3, "::error title=Infrastructure failure::"),
])
def test_evaluate_step_fails_for_bad_input_and_infrastructure_only(code, step_exit, annotation, tmp_path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "ray-eval").write_text(f'#!/bin/sh\necho "$@" > args\nexit {code}\n')
    (tmp_path / "bin" / "ray-eval").chmod(0o755)
    done = run_step("Evaluate", tmp_path, {"RAY_ADDRESS": "http://head:8265"})
    assert done.returncode == step_exit, done.stdout + done.stderr
    assert (tmp_path / "out").read_text() == f"exit_code={code}\n"
    assert (annotation in done.stdout) if annotation else "::error" not in done.stdout
    assert (tmp_path / "args").read_text().split() == [
        "ci", "submit", "-c", "configs/ci-kuberay.yaml", "--submission-id", "s-1", "--out", "ci-out",
        "--set", "run.model_label=0123456789ab"]


def test_evaluate_step_without_a_cluster_address_is_an_infrastructure_failure(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    done = run_step("Evaluate", tmp_path, {"RAY_ADDRESS": ""})
    assert done.returncode == 3 and "Infrastructure failure" in done.stdout
    assert (tmp_path / "out").read_text() == "exit_code=3\n"


def test_step_summary_is_the_runs_summary_md_or_the_outcome(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "ci-out" / "s-1").mkdir(parents=True)
    (tmp_path / "ci-out" / "outcome.json").write_text('{"status": "infrastructure"}\n')
    assert run_step("Step summary", tmp_path, {}).returncode == 0
    assert '{"status": "infrastructure"}' in (tmp_path / "summary").read_text()
    (tmp_path / "summary").unlink()
    (tmp_path / "ci-out" / "s-1" / "summary.md").write_text("# ShopBench: gate passed\n")
    assert run_step("Step summary", tmp_path, {}).returncode == 0
    assert (tmp_path / "summary").read_text() == "# ShopBench: gate passed\n"


def test_jenkinsfile_has_the_same_step_and_mapping() -> None:
    text = JENKINSFILE.read_text(encoding="utf-8")
    code = re.sub(r"//[^\n]*", "", text)  # comments out: they must not satisfy the checks
    for opening, closing in ("{}", "()", "[]"):
        assert code.count(opening) == code.count(closing), f"unbalanced {opening}{closing}"
    assert code.count("'") % 2 == 0 and code.count('"') % 2 == 0
    assert re.findall(r"stage\('([^']+)'\)", code) == ["Setup", "Evaluate", "Gate"]
    assert "cron(" in code and "pipeline {" in code
    evaluate = code.split("stage('Evaluate')", 1)[1].split("stage('Gate')", 1)[0]
    assert SUBMIT in evaluate and "returnStatus: true" in evaluate
    assert "if (code == 2)" in evaluate and "if (code != 0 && code != 1)" in evaluate
    assert "infrastructure failure" in evaluate
    gate = code.split("stage('Gate')", 1)[1].split("post {", 1)[0]
    assert "if (env.EVAL_EXIT == '1')" in gate and "error('gate failed" in gate
    post = code.split("post {", 1)[1]
    assert "always {" in post
    assert 'junit(testResults: "ci-out/${env.SUBMISSION_ID}/junit.xml"' in post
    assert "publishHTML(" in post and "reportFiles: 'report.html'" in post
    assert "archiveArtifacts(artifacts: 'ci-out/**'" in post
