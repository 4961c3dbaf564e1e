"""A stand-in for the `ray` CLI's `job submit` and `job status`, put on PATH by tests/k8s/test_ci_submit.py.

It answers as Ray 2.60's job CLI does (ray/dashboard/modules/job/cli.py): `submit` streams the job's log, then
prints the job's end ("Job 'ID' succeeded" / "failed" with "Status message: Job entrypoint command failed with exit
code N") and exits 1 only when the job FAILED (a STOPPED job exits 0); `status` prints the same end and exits 0.

The evaluation job (`python jobs/run_eval.py -c CONFIG --set run.run_id=ID`) is played from FAKE_RAY_SCENARIO:
it writes the run directory a real run of that outcome leaves under the config's run.out_dir (its verdict made by
ray_eval.gate.verdict itself). Any other job (`ray-eval ci pack`) really runs, in the working directory, as Ray
would run it on the head. FAKE_RAY_STATE is a folder for the jobs' ends between calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from ray_eval.gate import Check, verdict

# scenario -> (verdict kwargs, or None for no run directory; job status; entrypoint exit code)
SCENARIOS = {
    "passed": ({"checks": []}, "SUCCEEDED", 0),
    "gate_failed": ({"checks": ["min_score"]}, "FAILED", 1),
    "incomplete": ({"checks": [], "complete": False, "incomplete_reason": "engine unreachable"}, "FAILED", 3),
    "bad_config": (None, "FAILED", 2),
    "crashed": (None, "FAILED", 137),
    "stopped": (None, "STOPPED", None),
    # What a full disk left before verdict.json was written last: a passing verdict, its reports missing.
    "reports_missing": ({"checks": []}, "SUCCEEDED", 0),
}
UNWRITTEN = {"reports_missing": ("junit.xml", "report.html")}


def main(argv: list[str]) -> int:
    state = Path(os.environ["FAKE_RAY_STATE"])
    scenario = os.environ["FAKE_RAY_SCENARIO"]
    with (state / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps(argv) + "\n")
    if scenario == "unreachable":
        print("ConnectionError: Failed to connect to Ray at address: http://head:8265.", file=sys.stderr)
        return 1
    if argv[:2] == ["job", "status"]:
        return report_end(state, argv[-1], exit_on_failure=False)
    if argv[:2] != ["job", "submit"]:
        print(f"fake ray: unsupported command {argv}", file=sys.stderr)
        return 2
    options, command = argv[2:argv.index("--")], argv[argv.index("--") + 1:]
    job_id = options[options.index("--submission-id") + 1]
    working_dir = options[options.index("--working-dir") + 1]
    if "jobs/run_eval.py" in command:
        play_evaluation(state, job_id, command, scenario)
    else:
        run = [sys.executable if command[0] == "python" else command[0], *command[1:]]
        done = subprocess.run(run, cwd=working_dir, capture_output=True, text=True, check=False,
                              env={**os.environ, "PYTHONPATH": working_dir})
        print(done.stdout, end="")
        print(done.stderr, end="", file=sys.stderr)
        end = ("SUCCEEDED", None) if done.returncode == 0 else ("FAILED", done.returncode)
        (state / f"{job_id}.json").write_text(json.dumps(end))
    return report_end(state, job_id, exit_on_failure=True)


def play_evaluation(state: Path, job_id: str, command: list[str], scenario: str) -> None:
    config = yaml.safe_load(Path(command[command.index("-c") + 1]).read_text())
    sets = dict(item.split("=", 1) for item in command[command.index("-c") + 2:] if item != "--set")
    verdict_kwargs, status, code = SCENARIOS[scenario]
    print(f"run {sets['run.run_id']}: 60 samples ...")
    if verdict_kwargs is not None:
        run_dir = Path(config["run"]["out_dir"]) / sets["run.run_id"]
        run_dir.mkdir(parents=True)
        checks = [Check(name, "score", "overall", 41.0, 58.0, ">=", False, "config", 60)
                  for name in verdict_kwargs.pop("checks")]
        (run_dir / "verdict.json").write_text(json.dumps(verdict(checks, **verdict_kwargs)))
        for name, text in (("summary.md", f"# ShopBench: {scenario}\n"), ("junit.xml", "<testsuites/>\n"),
                           ("report.html", "<html></html>\n"), ("summary.json", "{}"), ("run.json", "{}"),
                           ("results.parquet", "not fetched")):
            if name not in UNWRITTEN.get(scenario, ()):
                (run_dir / name).write_text(text)
    (state / f"{job_id}.json").write_text(json.dumps([status, code]))


def report_end(state: Path, job_id: str, exit_on_failure: bool) -> int:
    path = state / f"{job_id}.json"
    if not path.exists():
        print(f"RuntimeError: Job {job_id} does not exist", file=sys.stderr)
        return 1
    status, code = json.loads(path.read_text())
    if status == "SUCCEEDED":
        print(f"Job '{job_id}' succeeded")
    elif status == "STOPPED":
        print(f"Job '{job_id}' was stopped")
    else:
        print(f"Job '{job_id}' failed")
        print(f"Status message: Job entrypoint command failed with exit code {code}, last available logs ...")
    return 1 if exit_on_failure and status == "FAILED" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
