"""Runs one row of the fault table (scenarios.py) and checks what a user would see: exit codes, verdict.json, the
last line printed, the rows on disk, the requests the engine got, and the finished run against an uninterrupted one."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from ray_eval.runs.layout import VOUCHED_FILES
from ray_eval.testing import ChatRequestInfo, Reply, ScriptedOpenAIServer
from tests.faults.actions import Ran, Workspace
from tests.faults.scenarios import Continue, EngineBehaviour, Scenario

MAX_RETRIES = 1  # the runs' engine.max_retries: one attempt again after an engine error


@dataclass(frozen=True)
class Dataset:
    manifest: Path
    answers: dict[str, str]  # the engine's answer per sample id (the scripted stand-in's, right 80 % of the time)

    @property
    def samples(self) -> int:
        return len(self.answers)


class Engine:
    """A scripted OpenAI-compatible server whose behaviour the scenario switches between its steps."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.behaviour = EngineBehaviour()
        self.server = ScriptedOpenAIServer(default=self._reply)

    def _reply(self, info: ChatRequestInfo) -> Reply:
        return self.behaviour.reply(info.sample_id or "", self.dataset.answers.get(info.sample_id or "", "?"))

    @property
    def requests(self) -> int:
        return len(self.server.requests)

    def samples_asked_since(self, before: int) -> Counter[str]:
        """Requests per sample id since the first `before` requests: a retry asks its sample again."""
        return Counter(info.sample_id or "" for info in self.server.requests[before:])


def write_config(workspace: Workspace, dataset: Dataset, engine: Engine) -> Path:
    """Small and quick: checkpoints every 3 rows, one attempt again after an engine error, no backoff."""
    config = workspace.root / "eval.yaml"
    config.write_text(
        f"dataset: {{path: {dataset.manifest}}}\n"
        f"engine: {{kind: openai, base_url: '{engine.server.base_url}', model: {engine.server.model}, timeout_s: 1,"
        f" max_retries: {MAX_RETRIES}, backoff_initial_s: 0, backoff_max_s: 0}}\n"
        f"run: {{out_dir: {workspace.out_dir}, run_id: {workspace.run_id}, checkpoint_rows: 3,"
        " checkpoint_interval_s: 1}\n"
        "inference: {actors: 1, max_in_flight_per_actor: 2, batch_size: 2}\n"
        "statistics: {bootstrap_resamples: 200}\n"
        "gate: {min_pass_rate: 0.5, max_error_rate: 0}\n"
        "ray: {num_cpus: 2}\n",  # a driver in a process of its own starts a local Ray of this size
        encoding="utf-8",
    )
    return config


def run_scenario(scenario: Scenario, workspace: Workspace, dataset: Dataset, calm: dict) -> None:
    engine = Engine(dataset)
    with engine.server, scenario.action.applied(workspace):
        config = write_config(workspace, dataset, engine)
        sets = [arg for item in [*scenario.overrides, *workspace.overrides] for arg in ("--set", item)]
        engine.behaviour = scenario.engine()
        ran = scenario.action.run(workspace, ["run", "-c", str(config), *sets])
        where = f"{scenario.name}: the faulted run"
        check_step(where, ran, scenario.exit_code, scenario.verdict, workspace)
        if scenario.says is not None:
            check_one_line(where, ran, scenario.says.format(run_dir=workspace.run_dir, out_dir=workspace.out_dir))
        if scenario.retried is not None:  # every failed request was tried again, and nothing else twice
            assert engine.requests == dataset.samples + scenario.retried, f"{where}: {engine.requests} requests"
        if scenario.exit_code == 2:  # refused before anything ran
            assert engine.requests == 0 and not workspace.run_dir.exists(), where
        scenario.action.clear(workspace)
        engine.behaviour = EngineBehaviour()
        for number, step in enumerate(scenario.then, 1):
            continue_run(f"{scenario.name}: step {number}, ray-eval {' '.join(step.command)}", step, workspace,
                         dataset, engine)
        final = scenario.then[-1].verdict if scenario.then else scenario.verdict
        if final is not None:
            check_rows_in_equal_rows_out(scenario.name, workspace.run_dir, dataset)
        if final in ("passed", "failed"):
            assert comparable(workspace.run_dir) == calm, f"{scenario.name}: differs from the uninterrupted run"


def continue_run(where: str, step: Continue, workspace: Workspace, dataset: Dataset, engine: Engine) -> None:
    """The command as the user types it: a resumed run takes its config from the run directory."""
    expected = step.resent.expected(workspace.run_dir, dataset.samples)
    before = engine.requests
    ran = workspace.run_cli(step.argv(workspace.run_dir))
    check_step(where, ran, step.exit_code, step.verdict, workspace)
    # Counted by sample, not by request: on a loaded machine a request can outlive the config's 1 s timeout and be
    # retried once (engine.max_retries: 1), which asks the same sample again and is no resent sample.
    asked = engine.samples_asked_since(before)
    assert len(asked) == expected, f"{where}: {len(asked)} samples asked again, not {expected}"
    assert max(asked.values(), default=0) <= 1 + MAX_RETRIES, f"{where}: a sample asked more than a retry explains"


def check_step(where: str, ran: Ran, exit_code: int, verdict: str | None, workspace: Workspace) -> None:
    run_dir = workspace.run_dir
    assert ran.exit_code == exit_code, f"{where}: exit {ran.exit_code}, not {exit_code}\n{ran.stderr[-3000:]}"
    assert "Traceback" not in ran.stderr, f"{where}: a traceback\n{ran.stderr[-3000:]}"
    if run_dir.exists():
        assert not list(run_dir.rglob("*.tmp")), f"{where}: a temporary file was left"
    written = json.loads((run_dir / "verdict.json").read_text()) if (run_dir / "verdict.json").is_file() else None
    assert (written or {}).get("status") == verdict, f"{where}: verdict.json says {written and written['status']}"
    if written is None:
        return
    assert written["exit_code"] == exit_code, f"{where}: verdict.json's exit code {written['exit_code']}"
    missing = [name for name in VOUCHED_FILES if not (run_dir / name).is_file()]
    assert not missing, f"{where}: verdict.json without {missing}"
    if verdict == "incomplete":  # it says how to continue, as the user reads it
        summary = json.loads((run_dir / "summary.json").read_text())
        command = summary["resume_command"]
        assert command.startswith(f"ray-eval run --resume {run_dir}"), command
        assert command.endswith("--retry-errors") == (summary["counts"]["errors"] > 0), command
        assert f"Continue it with: `{command}`" in (run_dir / "summary.md").read_text(), where


def check_one_line(where: str, ran: Ran, says: str) -> None:
    """The run's last line is `ray-eval: ...` saying `says`, and it is one line."""
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("ray-eval: ") and says in lines[-1], f"{where}: ended with {lines[-1:]}"


def check_rows_in_equal_rows_out(where: str, run_dir: Path, dataset: Dataset) -> None:
    ids = pq.read_table(run_dir / "results.parquet", columns=["sample_id"])["sample_id"].to_pylist()
    assert sorted(ids) == sorted(dataset.answers), f"{where}: {len(ids)} rows for {dataset.samples} samples"
    assert not (run_dir / "results.parts").exists(), f"{where}: parts left after the merge"


def comparable(run_dir: Path) -> dict:
    """What an interrupted and resumed run must share with an uninterrupted one: scores (but timings and retries),
    the verdict, every answer."""
    summary = json.loads((run_dir / "summary.json").read_text())
    verdict = json.loads((run_dir / "verdict.json").read_text())
    results = pq.read_table(run_dir / "results.parquet", columns=["sample_id", "extracted", "passed"]).to_pandas()
    scores = {key: value for key, value in summary["suites"][0]["scores"].items()
              if key not in ("latency_s", "retries")}
    return {"scores": scores, "counts": summary["counts"],
            "verdict": {key: verdict[key] for key in ("status", "exit_code", "failed_checks")},
            "answers": dict(zip(results["sample_id"], zip(results["extracted"], results["passed"], strict=True),
                                strict=True))}
