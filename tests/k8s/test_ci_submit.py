"""`ray-eval ci submit`, the step both CI pipelines run, against a stand-in for a Ray cluster's job API
(fake_ray_jobs.py, a server on 127.0.0.1 that Ray's own JobSubmissionClient talks to: Ray 2.60's routes, statuses
and messages; the evaluation job played, the bundle it prints at the end of its log really made by `ci pack`): each
way a job can end maps to the exit codes of docs/reference/cli.md, and only a finished gate's failure is reported as
a gate failure."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
import pytest
import yaml

from ray_eval.ci import (
    BUNDLE_BEGIN,
    BUNDLE_END,
    OUTCOME_FILE,
    PACKED_FILES,
    STATUS_NAMES,
    LogEcho,
    unpack_bundle,
    wait_ready,
)
from ray_eval.cli import main
from ray_eval.cluster.ray_job import EchoedLog
from ray_eval.errors import EngineUnavailable, UsageError
from ray_eval.testing import ScriptedOpenAIServer
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
FAKE_RAY_JOBS = Path(__file__).resolve().parent / "fake_ray_jobs.py"
JOB = "shopbench-4711-1"


@pytest.fixture
def cluster(tmp_path: Path) -> str:
    """The stand-in job API, as a process of its own; its address. Stopped by process id."""
    state = tmp_path / "state"
    state.mkdir()
    address = f"http://127.0.0.1:{(port := free_port())}"
    server = subprocess.Popen([sys.executable, str(FAKE_RAY_JOBS), str(port), str(state)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while True:  # a readiness probe with a deadline
            assert server.poll() is None, f"fake_ray_jobs.py exited with {server.returncode}"
            try:
                if httpx.get(f"{address}/api/version", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "fake_ray_jobs.py did not answer within 60 s"
                time.sleep(0.1)
        yield address
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: str) -> Path:
    """A working directory as CI has it (the package, the job script and a config), a results volume; no `ray`
    executable anywhere on PATH: Ray's job API is reached from ray-eval's own Python."""
    work = tmp_path / "checkout"
    (work / "configs").mkdir(parents=True)
    (work / "jobs").mkdir()
    (work / "ray_eval").symlink_to(ROOT / "ray_eval")
    (work / "jobs" / "run_eval.py").write_text((ROOT / "jobs" / "run_eval.py").read_text())
    (work / ".gitignore").write_text("__pycache__/\n")
    config = yaml.safe_load((ROOT / "configs" / "ci-kuberay.yaml").read_text())
    config["run"]["out_dir"] = str(tmp_path / "results")  # the cluster's results volume
    (work / "configs" / "ci.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("PATH", str(tmp_path / "state"))  # a folder without ray
    monkeypatch.chdir(work)
    return work


def submit(scenario: str, cluster: str, *extra: str) -> int:
    (Path.cwd().parent / "state" / "scenario").write_text(scenario)
    address = f"http://127.0.0.1:{free_port()}" if scenario == "unreachable" else cluster  # nothing listens there
    return main(["ci", "submit", "-c", "configs/ci.yaml", "--address", address, "--submission-id", JOB,
                 "--out", "ci-out", *extra])


def submitted(checkout: Path) -> list[dict]:
    """The jobs the stand-in cluster was sent (Ray's JobSubmitRequest bodies)."""
    path = checkout.parent / "state" / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(("scenario", "exit_code", "status"), [
    ("passed", 0, "passed"),
    ("gate_failed", 1, "gate_failed"),
    ("incomplete", 3, "infrastructure"),   # a verdict of exit 3: the run could not complete
    ("bad_config", 2, "bad_input"),        # the job refused its config: no verdict, Ray reports exit code 2
    ("crashed", 3, "infrastructure"),      # killed (exit 137) before any verdict
    ("stopped", 3, "infrastructure"),      # a stopped job: no exit code, no verdict
    ("unreachable", 3, "infrastructure"),  # nothing answers at the address
    ("reports_missing", 3, "infrastructure"),  # a passing verdict.json without its reports is not trusted
])
def test_each_end_of_the_job_maps_to_its_exit_code(scenario, exit_code, status, checkout, cluster, capsys):
    assert submit(scenario, cluster) == exit_code
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
    if scenario == "bad_config":  # the run's own refusal, not the bundle's "no verdict" after it
        assert recorded["reason"] == ("the job refused its config or dataset (exit 2): ray-eval: configs/ci.yaml: "
                                      "inference.actor: Extra inputs are not permitted")
    if scenario == "crashed":
        assert recorded["reason"].startswith(f"no verdict from job {JOB} (job exit code 137; Job entrypoint command "
                                             "failed with exit code 137")
    if scenario == "stopped":
        assert recorded["reason"] == (f"no verdict from job {JOB} (job exit code unknown; Job was intentionally "
                                      "stopped.)")
    if scenario == "unreachable":
        assert recorded["reason"].startswith(f"cannot submit job {JOB} to http://127.0.0.1:")
        assert submitted(checkout) == []


def test_one_job_runs_the_jobs_script_with_the_submission_id_as_run_id(checkout, cluster) -> None:
    """The evaluation job prints its own reports at the end of its log: nothing else is submitted to fetch them."""
    assert submit("passed", cluster, "--set", "inference.actors=8") == 0
    [job] = submitted(checkout)
    assert job["submission_id"] == JOB
    assert job["entrypoint"] == (f"python jobs/run_eval.py --print-bundle {checkout.parent}/results/{JOB} "
                                 f"-c configs/ci.yaml --set inference.actors=8 --set run.run_id={JOB}")
    assert job["runtime_env"]["working_dir"].startswith("gcs://_ray_pkg_")


def test_the_console_shows_the_jobs_log_but_not_the_bundle(checkout, cluster, capsys) -> None:
    assert submit("passed", cluster) == 0
    out = capsys.readouterr().out
    assert f"run {JOB}: 60 samples ...\n" in out
    assert BUNDLE_BEGIN not in out and BUNDLE_END not in out
    assert re.search(r"^\[the run's reports: \d+ lines of base64, not shown; fetched from the job's log\]$", out, re.M)


def test_earlier_reports_in_the_working_directory_are_not_uploaded(checkout, cluster) -> None:
    """A CI workspace kept between builds (Jenkins) holds the earlier builds' ci-out/: it stays on the CI machine."""
    (checkout / "ci-out" / "earlier-build").mkdir(parents=True)
    (checkout / "ci-out" / "earlier-build" / "report.html").write_text("<html>an earlier build</html>")
    assert submit("passed", cluster) == 0
    uploaded = checkout.parent / "state" / "jobs" / JOB
    assert (uploaded / "configs" / "ci.yaml").is_file() and (uploaded / "jobs" / "run_eval.py").is_file()
    assert not (uploaded / "ci-out").exists()


def test_a_job_id_already_taken_is_an_infrastructure_failure_naming_it(checkout, cluster) -> None:
    assert submit("passed", cluster) == 0
    assert submit("passed", cluster) == 3
    reason = json.loads((checkout / "ci-out" / OUTCOME_FILE).read_text())["reason"]
    assert reason.startswith(f"cannot submit job {JOB} to http://127.0.0.1:")
    assert f"Job with submission_id {JOB} already exists" in reason


def test_an_unreachable_cluster_is_named_without_the_addresss_credentials(checkout, cluster) -> None:
    port = free_port()  # nothing listens there
    assert main(["ci", "submit", "-c", "configs/ci.yaml", "--address", f"http://ci:pw-Zq8rT2vX9@127.0.0.1:{port}",
                 "--submission-id", JOB]) == 3
    reason = json.loads((checkout / "ci-out" / OUTCOME_FILE).read_text())["reason"]
    assert reason.startswith(f"cannot submit job {JOB} to http://127.0.0.1:{port}: ")
    assert "pw-Zq8rT2vX9" not in reason


def test_a_job_api_failing_for_a_while_is_ridden_out(checkout, cluster) -> None:
    (checkout.parent / "state" / "failing").write_text("2")  # two status requests answer 503
    assert submit("passed", cluster) == 0
    assert (checkout.parent / "state" / "failing").read_text() == "0"


def test_a_job_api_failing_for_longer_loses_the_job(checkout, cluster, monkeypatch) -> None:
    monkeypatch.setattr("ray_eval.cluster.ray_job.LOST_AFTER_S", 0.5)
    (checkout.parent / "state" / "failing").write_text("1000")
    assert submit("passed", cluster) == 3
    reason = json.loads((checkout / "ci-out" / OUTCOME_FILE).read_text())["reason"]
    assert reason.startswith(f"lost job {JOB} on http://127.0.0.1:")
    assert "status code 503" in reason and reason.endswith("it may still be running there (`ray job status`)")


def test_a_log_read_again_from_its_start_is_echoed_once() -> None:
    """A log stream that broke starts again at the log's start, and the whole log is read at the end."""
    shown: list[str] = []
    echoed = EchoedLog(shown.append)
    echoed.add("line 1\nline", at=0)
    echoed.add("line 1\n", at=0)       # the stream again, from the start
    echoed.add(" 2\nline 3\n", at=7 + 4)  # ... past what was shown
    echoed.add("line 1\nline 2\nline 3\nline 4\n", at=0)  # the whole log
    assert "".join(shown) == "line 1\nline 2\nline 3\nline 4\n"


def test_a_bad_config_is_refused_before_the_cluster_is_asked(checkout, cluster) -> None:
    assert submit("passed", cluster, "--set", "inference.actor=8") == 2
    assert submitted(checkout) == []
    assert "inference.actor" in json.loads((checkout / "ci-out" / OUTCOME_FILE).read_text())["reason"]


def test_a_config_outside_the_checkout_is_refused(checkout, cluster, tmp_path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text((checkout / "configs" / "ci.yaml").read_text())
    (tmp_path / "state" / "scenario").write_text("passed")
    assert main(["ci", "submit", "-c", str(outside), "--address", cluster, "--submission-id", JOB]) == 2
    assert submitted(checkout) == []


def test_the_log_echo_passes_lines_whole_and_leaves_the_bundle_out() -> None:
    out = io.StringIO()
    echo = LogEcho(out)
    for chunk in ("first li", "ne\nsecond\n", f"{BUNDLE_BEGIN}\nQUJD\nREVG\n{BUNDLE_END}\nla", "st"):
        echo.write(chunk)
    echo.close()
    assert out.getvalue().splitlines() == [
        "first line", "second", "[the run's reports: 2 lines of base64, not shown; fetched from the job's log]", "last"]


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
    section = (ROOT / "docs" / "reference" / "cli.md").read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
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
