"""A stand-in for a Ray cluster's job API (the dashboard's /api/version, /api/packages and /api/jobs routes, as Ray
2.60's ray/dashboard/modules/job/job_head.py serves them), started by tests/k8s/test_ci_submit.py on 127.0.0.1:
`python fake_ray_jobs.py PORT STATE_DIR`. Ray's own JobSubmissionClient talks to it unchanged: it uploads the
working directory as a zip package, submits, follows the log over the websocket, reads status, info and logs.

A job's package is unzipped into STATE_DIR/jobs/<submission id>/, and its entrypoint runs there. The evaluation job
(`python jobs/run_eval.py --print-bundle RUN_DIR -c CONFIG --set ... --set run.run_id=ID`) is played from the scenario
in STATE_DIR/scenario: it writes the run directory a real run of that outcome leaves under the config's run.out_dir
(its verdict made by ray_eval.verdict.gate.verdict itself) and then, as jobs/run_eval.py does unless the job was killed,
really runs `ray-eval ci pack RUN_DIR` in the job's directory. Each submission is recorded in STATE_DIR/calls.jsonl;
STATE_DIR/failing holds how many of the next status requests answer 503.
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import yaml
from aiohttp import web

from ray_eval.verdict.gate import Check, verdict

# scenario -> (verdict kwargs, or None for no run directory; job status; entrypoint exit code; whether the process
# lived to print the bundle, as jobs/run_eval.py does after the run)
SCENARIOS = {
    "passed": ({"checks": []}, "SUCCEEDED", 0, True),
    "gate_failed": ({"checks": ["min_score"]}, "FAILED", 1, True),
    "incomplete": ({"checks": [], "complete": False, "incomplete_reason": "engine unreachable"}, "FAILED", 3, True),
    "bad_config": (None, "FAILED", 2, True),
    "crashed": (None, "FAILED", 137, False),   # killed (out of memory) before any verdict
    "stopped": (None, "STOPPED", None, False),  # `ray job stop`
    # What a full disk left before verdict.json was written last: a passing verdict, its reports missing.
    "reports_missing": ({"checks": []}, "SUCCEEDED", 0, True),
}
UNWRITTEN = {"reports_missing": ("junit.xml", "report.html")}
REFUSAL = {"bad_config": "ray-eval: configs/ci.yaml: inference.actor: Extra inputs are not permitted"}


class FakeJobs:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.packages: dict[str, bytes] = {}
        self.jobs: dict[str, dict] = {}

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "4", "ray_version": "2.60.0", "ray_commit": "fake",
                                  "session_name": "fake"})

    async def get_package(self, request: web.Request) -> web.Response:
        known = request.match_info["name"] in self.packages
        return web.Response(status=200 if known else 404)

    async def put_package(self, request: web.Request) -> web.Response:
        self.packages[request.match_info["name"]] = await request.read()
        return web.Response()

    async def submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        job_id = body["submission_id"]
        with (self.state / "calls.jsonl").open("a") as calls:
            calls.write(json.dumps(body) + "\n")
        if job_id in self.jobs:
            return web.Response(status=500, text=f"Job with submission_id {job_id} already exists.")
        work = self.state / "jobs" / job_id
        package = body["runtime_env"]["working_dir"].removeprefix("gcs://")
        zipfile.ZipFile(io.BytesIO(self.packages[package])).extractall(work)
        start = int(time.time() * 1000)
        status, code, log = run(shlex.split(body["entrypoint"]), work, (self.state / "scenario").read_text().strip())
        message = {"SUCCEEDED": "Job finished successfully.", "STOPPED": "Job was intentionally stopped.",
                   "FAILED": f"Job entrypoint command failed with exit code {code}, last available logs (truncated "
                             "to 20,000 chars):\n" + "".join(log.splitlines(keepends=True)[-10:])}[status]
        self.jobs[job_id] = {"type": "SUBMISSION", "job_id": None, "submission_id": job_id, "driver_info": None,
                             "status": status, "entrypoint": body["entrypoint"], "message": message,
                             "start_time": start, "end_time": int(time.time() * 1000), "metadata": {},
                             "runtime_env": body["runtime_env"], "driver_exit_code": code, "log": log}
        return web.json_response({"job_id": job_id, "submission_id": job_id})

    def _job(self, request: web.Request) -> dict:
        job_id = request.match_info["job_id"]
        if job_id not in self.jobs:
            raise web.HTTPNotFound(text=f"Job {job_id} does not exist")
        return self.jobs[job_id]

    async def info(self, request: web.Request) -> web.Response:
        failing = self.state / "failing"  # the next N status requests fail, as a dashboard restarting does
        if failing.exists() and (left := int(failing.read_text())) > 0:
            failing.write_text(str(left - 1))
            return web.Response(status=503, text="dashboard restarting")
        return web.json_response({key: value for key, value in self._job(request).items() if key != "log"})

    async def logs(self, request: web.Request) -> web.Response:
        return web.json_response({"logs": self._job(request)["log"]})

    async def tail(self, request: web.Request) -> web.WebSocketResponse:
        job = self._job(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        lines = job["log"].splitlines(keepends=True)
        for first in range(0, len(lines), 10):  # Ray sends a log in chunks of up to 10 lines
            await ws.send_str("".join(lines[first:first + 10]))
        await ws.close()
        return ws


def run(command: list[str], work: Path, scenario: str) -> tuple[str, int | None, str]:
    """The job's end: its status, exit code and log."""
    if command[:2] != ["python", "jobs/run_eval.py"]:  # any other job really runs, as Ray runs it on the head
        done = really_run(command, work)
        return ("SUCCEEDED" if done.returncode == 0 else "FAILED"), done.returncode, done.stdout
    verdict_kwargs, status, code, printed_bundle = SCENARIOS[scenario]
    options = command[2:]
    run_dir = options[options.index("--print-bundle") + 1] if "--print-bundle" in options else None
    config = yaml.safe_load((work / options[options.index("-c") + 1]).read_text())
    sets = dict(item.split("=", 1) for item in options[options.index("-c") + 2:] if item != "--set")
    log = f"run {sets['run.run_id']}: 60 samples ...\n" + (REFUSAL[scenario] + "\n" if scenario in REFUSAL else "")
    if verdict_kwargs is not None:
        played = Path(config["run"]["out_dir"]) / sets["run.run_id"]
        played.mkdir(parents=True)
        checks = [Check(name, "score", "overall", 41.0, 58.0, ">=", False, "config", 60)
                  for name in verdict_kwargs.pop("checks")]
        (played / "verdict.json").write_text(json.dumps(verdict(checks, **verdict_kwargs).model_dump(mode="json")))
        for name, text in (("summary.md", f"# ShopBench: {scenario}\n"), ("junit.xml", "<testsuites/>\n"),
                           ("report.html", "<html></html>\n"), ("summary.json", "{}"), ("run.json", "{}"),
                           ("results.parquet", "not fetched")):
            if name not in UNWRITTEN.get(scenario, ()):
                (played / name).write_text(text)
    if run_dir is not None and printed_bundle:
        log += really_run(["python", "-m", "ray_eval.cli", "ci", "pack", run_dir], work).stdout
    return status, code, log


def really_run(command: list[str], work: Path) -> subprocess.CompletedProcess:
    python = [sys.executable] if command[0] == "python" else [command[0]]
    return subprocess.run([*python, *command[1:]], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False, env={"PYTHONPATH": str(work), "PATH": "/usr/bin:/bin"})


def main(port: int, state: Path) -> None:
    jobs = FakeJobs(state)
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.add_routes([web.get("/api/version", jobs.version),
                    web.get("/api/packages/{protocol}/{name}", jobs.get_package),
                    web.put("/api/packages/{protocol}/{name}", jobs.put_package),
                    web.post("/api/jobs/", jobs.submit),
                    web.get("/api/jobs/{job_id}", jobs.info),
                    web.get("/api/jobs/{job_id}/logs", jobs.logs),
                    web.get("/api/jobs/{job_id}/logs/tail", jobs.tail)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
