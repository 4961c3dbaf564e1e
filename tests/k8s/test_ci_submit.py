"""`ray-eval ci submit`, the step both CI pipelines run, against a stand-in `ray` on PATH (fake_ray.py: Ray 2.60's
job CLI's output and exit statuses; the evaluation job played, the fetch job really run): each way a job can end
maps to the README's exit codes, and only a finished gate's failure is reported as a gate failure."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from ray_eval.ci import BUNDLE_BEGIN, BUNDLE_END, OUTCOME_FILE, PACKED_FILES, STATUS_NAMES, unpack_bundle, wait_ready
from ray_eval.cli import main
from ray_eval.errors import EngineUnavailable, UsageError
from ray_eval.testing import ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
FAKE_RAY = Path(__file__).resolve().parent / "fake_ray.py"
JOB = "shopbench-4711-1"


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory as CI has it (the package and a config), a `ray` on PATH, a results volume."""
    work = tmp_path / "checkout"
    (work / "configs").mkdir(parents=True)
    (work / "ray_eval").symlink_to(ROOT / "ray_eval")
    config = yaml.safe_load((ROOT / "configs" / "ci-kuberay.yaml").read_text())
    config["run"]["out_dir"] = str(tmp_path / "results")  # the cluster's results volume
    (work / "configs" / "ci.yaml").write_text(yaml.safe_dump(config))
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    (bin_dir / "ray").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_RAY}" "$@"\n')
    (bin_dir / "ray").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("FAKE_RAY_STATE", str(state))
    monkeypatch.chdir(work)
    return work


def submit(scenario: str, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    monkeypatch.setenv("FAKE_RAY_SCENARIO", scenario)
    return main(["ci", "submit", "-c", "configs/ci.yaml", "--address", "http://head:8265", "--submission-id", JOB,
                 "--out", "ci-out", *extra])


def calls(checkout: Path) -> list[list[str]]:
    path = checkout.parent / "state" / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(("scenario", "exit_code", "status"), [
    ("passed", 0, "passed"),
    ("gate_failed", 1, "gate_failed"),
    ("incomplete", 3, "infrastructure"),   # a verdict of exit 3: the run could not complete
    ("bad_config", 2, "bad_input"),        # the job refused its config: no verdict, Ray reports exit code 2
    ("crashed", 3, "infrastructure"),      # killed (exit 137) before any verdict
    ("stopped", 3, "infrastructure"),      # `ray job submit` exits 0 for a stopped job: still no verdict
    ("unreachable", 3, "infrastructure"),  # nothing answers at the address
    ("reports_missing", 3, "infrastructure"),  # a passing verdict.json without its reports is not trusted
])
def test_each_end_of_the_job_maps_to_its_exit_code(scenario, exit_code, status, checkout, monkeypatch, capsys):
    assert submit(scenario, monkeypatch) == exit_code
    recorded = json.loads((checkout / "ci-out" / OUTCOME_FILE).read_text())
    assert (recorded["status"], recorded["exit_code"]) == (status, exit_code)
    assert f"ray-eval ci: {status.replace('_', ' ')} (exit {exit_code})" in capsys.readouterr().err
    fetched = checkout / "ci-out" / JOB
    if scenario in ("passed", "gate_failed", "incomplete"):
        assert recorded["run_dir"] == "ci-out/" + JOB
        assert sorted(p.name for p in fetched.iterdir()) == sorted(PACKED_FILES)  # not results.parquet
        verdict = json.loads((fetched / "verdict.json").read_text())
        assert verdict["exit_code"] == exit_code
        assert (fetched / "summary.md").read_text() == f"# ShopBench: {scenario}\n"
    else:
        assert recorded["run_dir"] is None and not fetched.exists()
    if scenario == "gate_failed":
        assert "min_score" in recorded["reason"]
    if scenario == "reports_missing":
        assert "holds verdict.json without junit.xml, report.html" in recorded["reason"]


def test_the_job_is_the_jobs_script_with_the_submission_id_as_run_id(checkout, monkeypatch) -> None:
    assert submit("passed", monkeypatch, "--set", "inference.actors=8") == 0
    submitted, status, fetch = calls(checkout)
    assert submitted == ["job", "submit", "--address", "http://head:8265", "--submission-id", JOB,
                         "--working-dir", ".", "--", "python", "jobs/run_eval.py", "-c", "configs/ci.yaml",
                         "--set", "inference.actors=8", "--set", f"run.run_id={JOB}"]
    assert status == ["job", "status", "--address", "http://head:8265", JOB]
    assert fetch[:6] == ["job", "submit", "--address", "http://head:8265", "--submission-id", f"{JOB}-fetch"]
    assert fetch[-4:] == ["ray_eval.cli", "ci", "pack", f"{checkout.parent}/results/{JOB}"]


def test_a_bad_config_is_refused_before_the_cluster_is_asked(checkout, monkeypatch) -> None:
    assert submit("passed", monkeypatch, "--set", "inference.actor=8") == 2
    assert calls(checkout) == []
    assert "inference.actor" in json.loads((checkout / "ci-out" / OUTCOME_FILE).read_text())["reason"]


def test_a_config_outside_the_checkout_is_refused(checkout, monkeypatch, tmp_path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text((checkout / "configs" / "ci.yaml").read_text())
    monkeypatch.setenv("FAKE_RAY_SCENARIO", "passed")
    assert main(["ci", "submit", "-c", str(outside), "--address", "http://head:8265", "--submission-id", JOB]) == 2
    assert calls(checkout) == []


def test_the_ray_beside_ray_evals_interpreter_is_used_when_path_has_none(checkout, monkeypatch, capsys) -> None:
    """A virtualenv that was not activated: its bin/ holds ray-eval's python and ray, and is not on PATH."""
    venv_bin = checkout.parent / "bin"  # the fixture's stand-in `ray` is there
    monkeypatch.setenv("PATH", str(checkout.parent / "state"))  # a folder without ray
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    assert submit("passed", monkeypatch) == 0
    assert [call[:2] for call in calls(checkout)] == [["job", "submit"], ["job", "status"], ["job", "submit"]]

    monkeypatch.setattr(sys, "executable", str(checkout / "python"))  # neither on PATH nor beside the interpreter
    assert submit("passed", monkeypatch) == 3
    reason = json.loads((checkout / "ci-out" / OUTCOME_FILE).read_text())["reason"]
    assert reason == f"cannot find the `ray` executable on PATH or beside {checkout / 'python'}: install ray[default] there"
    assert len(calls(checkout)) == 3, "nothing more reached the cluster"


def test_a_bundle_carrying_other_paths_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../verdict.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    log = f"noise\n{BUNDLE_BEGIN}\n{base64.encodebytes(buffer.getvalue()).decode()}{BUNDLE_END}\n"
    with pytest.raises(UsageError, match=r"\.\./verdict\.json"):
        unpack_bundle(log, tmp_path / "out")
    assert not (tmp_path / "verdict.json").exists()
    assert unpack_bundle("a log without a bundle", tmp_path / "none") is None


def test_ci_exit_codes_are_the_readmes() -> None:
    section = (ROOT / "README.md").read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    codes = {int(code) for code in re.findall(r"^\| (\d) \|", section, flags=re.M)}
    assert codes == set(STATUS_NAMES) == {0, 1, 2, 3}


def test_wait_ready_returns_once_the_model_is_listed_and_times_out_naming_it() -> None:
    with ScriptedOpenAIServer(model="ostrakon-vl-8b") as server:
        wait_ready(server.base_url, "ostrakon-vl-8b", timeout_s=5)
        with pytest.raises(EngineUnavailable, match="did not list model 'other-model'"):
            wait_ready(server.base_url, "other-model", timeout_s=0.2, poll_s=0.05)


def test_wait_ready_names_the_endpoint_without_its_credentials() -> None:
    with ScriptedOpenAIServer(model="ostrakon-vl-8b") as server:
        with_credentials = server.base_url.replace("http://", "http://ci:pw-Zq8rT2vX9@", 1)
        with pytest.raises(EngineUnavailable) as caught:
            wait_ready(with_credentials, "other-model", timeout_s=0.2, poll_s=0.05)
    assert str(caught.value).startswith(f"{server.base_url} did not list model 'other-model' within 0.2 s (HTTP 200")
    assert "pw-Zq8rT2vX9" not in str(caught.value)
