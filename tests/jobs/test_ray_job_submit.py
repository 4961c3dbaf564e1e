"""The CI path: `ray job submit --working-dir . -- python jobs/run_eval.py ...` to a `ray start --head`
cluster; the job's exit status is the gate's result; `ray-eval ci submit` fetches the reports from that job's log."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from ray_eval.ci import BUNDLE_BEGIN, OUTCOME_FILE, PACKED_FILES
from ray_eval.demo.synth import synthesize
from tests.conftest import free_port

pytestmark = pytest.mark.jobs

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def wait_until_ready(url: str, token: str, process: subprocess.Popen, deadline_s: float = 120.0) -> None:
    """Poll the dashboard until it answers (a readiness probe with a deadline, not a fixed sleep)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"ray start exited with {process.returncode}")
        try:
            headers = {"Authorization": f"Bearer {token}"}
            if httpx.get(f"{url}/api/version", timeout=2, headers=headers).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the Ray dashboard at {url} did not come up in {deadline_s} s")


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    temp_dir = tmp_path_factory.mktemp("ray-head")
    dashboard = f"http://127.0.0.1:{(dashboard_port := free_port())}"
    # Ray's token authentication, with a token of this test's own: hermetic whatever ~/.ray holds.
    token = secrets.token_hex(32)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "RAY_ADDRESS": "",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    process = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={free_port()}", "--num-cpus=2",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", f"--temp-dir={temp_dir}",
         "--disable-usage-stats", "--object-store-memory=200000000",
         # Ports of our own: another Ray on this machine (the tests' local_ray) holds the default agent ports,
         # and a head whose job agent cannot bind never accepts a job.
         f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
         f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
         f"--ray-client-server-port={free_port()}"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_ready(dashboard, token, process)
        yield dashboard, env
    finally:
        # Stop what this fixture started: its own process group, by id, and nothing else.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                continue
        leftovers = [p for p in psutil.process_iter(["cmdline"])
                     if p.pid != os.getpid() and str(temp_dir) in " ".join(p.info["cmdline"] or [])]
        for leftover in leftovers:
            leftover.kill()
        assert not leftovers, f"Ray processes outlived the head: {leftovers}"


def submit(head, config: Path, *overrides: str) -> subprocess.CompletedProcess:
    dashboard, env = head
    command = [str(BIN / "ray"), "job", "submit", "--address", dashboard, "--working-dir", str(REPO), "--",
               "python", "jobs/run_eval.py", "-c", str(config)]
    for override in overrides:
        command += ["--set", override]
    # The dashboard answers before the head's job agent has registered; Ray itself then says to try again later.
    deadline = time.monotonic() + 120
    while True:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if "No available agent to submit job" not in result.stderr or time.monotonic() > deadline:
            return result


def scripted_eval(config: Path, out_dir: Path) -> Path:
    """A config of 15 synthetic samples (written beside out_dir) against the scripted engine, always right; the gate
    asks for a 90 % pass rate."""
    data = out_dir.parent / "data"
    synthesize(data, 15, seed=1)
    config.write_text(f"dataset: {{path: {data / 'manifest.jsonl'}}}\n"
                      "engine: {kind: scripted, accuracy: 1.0}\n"
                      f"run: {{out_dir: {out_dir}}}\n"
                      "gate: {min_pass_rate: 0.9}\n")
    return config


def test_job_exit_status_follows_the_gate(head, tmp_path: Path) -> None:
    config = scripted_eval(tmp_path / "eval.yaml", tmp_path / "runs")
    passed = submit(head, config, "run.run_id=pass")
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "ShopBench gate: ✅ PASSED" in passed.stdout
    summary = json.loads((tmp_path / "runs" / "pass" / "summary.json").read_text())
    assert summary["counts"]["results"] == 15 and summary["verdict"]["status"] == "passed"

    failed = submit(head, config, "run.run_id=fail", "engine.accuracy=0.0")
    assert failed.returncode != 0, failed.stdout[-3000:]
    verdict = json.loads((tmp_path / "runs" / "fail" / "verdict.json").read_text())
    assert verdict["status"] == "failed" and verdict["failed_checks"] == ["overall pass rate"]


def ci_submit(head, checkout: Path, submission_id: str, *overrides: str) -> subprocess.CompletedProcess:
    """`ray-eval ci submit` as CI runs it, in the checkout, against the head's dashboard."""
    dashboard, env = head
    command = [sys.executable, "-m", "ray_eval.cli", "ci", "submit", "-c", "configs/eval.yaml", "--address",
               dashboard, "--submission-id", submission_id, "--out", "ci-out"]
    for override in overrides:
        command += ["--set", override]
    deadline = time.monotonic() + 120  # the dashboard answers before the head's job agent has registered
    while True:
        result = subprocess.run(command, cwd=checkout, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True,
                                text=True, timeout=600)
        if "No available agent to submit job" not in result.stderr or time.monotonic() > deadline:
            return result


def test_ci_submit_reads_the_reports_from_the_evaluation_jobs_own_log(head, tmp_path: Path) -> None:
    """One job per evaluation: its log ends with the reports' bundle, which `ci submit` unpacks and does not show."""
    checkout = tmp_path / "checkout"
    (checkout / "configs").mkdir(parents=True)
    for name in ("ray_eval", "jobs"):
        (checkout / name).symlink_to(REPO / name)
    scripted_eval(checkout / "configs" / "eval.yaml", tmp_path / "results")
    passed = ci_submit(head, checkout, "ci-pass")
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "ShopBench gate: ✅ PASSED" in passed.stdout and BUNDLE_BEGIN not in passed.stdout
    assert passed.stderr.rstrip().endswith("ray-eval ci: passed (exit 0): verdict passed")
    fetched = checkout / "ci-out" / "ci-pass"
    assert sorted(path.name for path in fetched.iterdir()) == sorted(PACKED_FILES)
    assert json.loads((fetched / "verdict.json").read_text()) == json.loads(
        (tmp_path / "results" / "ci-pass" / "verdict.json").read_text())

    failed = ci_submit(head, checkout, "ci-fail", "engine.accuracy=0.0")
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    outcome = json.loads((checkout / "ci-out" / OUTCOME_FILE).read_text())
    assert (outcome["status"], outcome["reason"]) == ("gate_failed", "verdict failed: overall pass rate")
    assert json.loads((checkout / "ci-out" / "ci-fail" / "verdict.json").read_text())["status"] == "failed"
    dashboard, env = head
    jobs = httpx.get(f"{dashboard}/api/jobs/", headers={"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"}).json()
    assert sorted(job["submission_id"] for job in jobs if job["submission_id"].startswith("ci-")) == [
        "ci-fail", "ci-pass"], "no second job fetched the reports"
