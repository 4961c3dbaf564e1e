"""Engine trouble as an operator's engine gives it, each scenario a row: the verdict is the model's only when the
engine answered every sample; otherwise the run is incomplete (exit 3), says so, and a resume with --retry-errors
ends where an undisturbed run ends, asking again only what had no answer. Also: one slow request holds nothing
back, and a driver killed mid-run loses about a checkpoint's answers, not everything so far.

The engine is a ScriptedOpenAIServer on a fixed port (`ScriptedEngine`), so an outage is real refused connections:
the server stopped, and a new one started at the same address when the outage is over.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from ray_eval.cli import main
from ray_eval.config import InferenceConfig
from ray_eval.outputs.summary import md_cell
from ray_eval.pipeline.sizing import size_inference
from ray_eval.testing import ChatRequestInfo, Reply, ScriptedOpenAIServer
from tests.conftest import free_port, jpeg_bytes, kill_driver_when, mcq_row, write_jsonl
from tests.faults.harness import comparable as outcome
from tests.faults.scenarios import ENGINE_STOPS, PAST_THE_WINDOW, RIDDEN_OUT

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[2]

SAMPLES = 40
LATENCY_S = 0.2  # each answer's: slow enough that a fault lands mid-run
SIZES = {"actors": 1, "max_in_flight_per_actor": 4, "batch_size": 2}
SIZING = size_inference(InferenceConfig(**SIZES), None, "")
# What an actor holds at once: the rows of the batches it works on (answered, asked or waiting for a request slot).
HELD_PER_ACTOR = SIZING.batches_per_actor * SIZING.batch_size
# Answered rows on their way to disk: those an actor holds, a block at the scoring actor, one the driver prefetched.
IN_TRANSIT = SIZING.actors * HELD_PER_ACTOR + 2 * SIZING.batch_size
CHECKPOINT_ROWS = 5
# Right answers per ten samples: the good model passes the gate (min_pass_rate 0.7), the poor one fails it.
MODELS = {"good": 8, "poor": 4}


class ScriptedEngine:
    """The scripted model at a fixed address through every fault, logging each request it takes (over restarts)."""

    def __init__(self, answers: dict[str, str], latency_s: float = LATENCY_S):
        self.answers = answers
        self.latency_s = latency_s
        self.port = free_port()
        self.fault: Callable[[ChatRequestInfo], Reply | None] = lambda info: None  # None: answer normally
        self.replies: list[tuple[str, str, float, float]] = []  # sample id, "text" or not, start, end (monotonic)
        self._lock = threading.Condition()
        self.server = ScriptedOpenAIServer(default=self._reply, port=self.port, record_requests=False).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _reply(self, info: ChatRequestInfo) -> Reply:
        reply = self.fault(info) or Reply.text(self.answers[info.sample_id], delay_s=self.latency_s)
        started = time.monotonic()
        with self._lock:
            self.replies.append((info.sample_id, reply.kind, started, started + reply.delay_s))
            self._lock.notify_all()
        return reply

    def wait_for_requests(self, count: int, timeout_s: float = 120) -> None:
        with self._lock:
            assert self._lock.wait_for(lambda: len(self.replies) >= count, timeout_s), f"{count} requests never came"

    def asked(self, since: int = 0) -> list[str]:
        """Sample ids of the requests taken, from the `since`-th on."""
        with self._lock:
            return [sample_id for sample_id, *_ in self.replies[since:]]

    def outage(self, seconds: float) -> None:
        """Refuse every connection for `seconds` (open ones are dropped), then answer again at the same address."""
        self.server.stop()
        threading.Event().wait(seconds)  # the outage itself, not a synchronisation
        self.server = ScriptedOpenAIServer(default=self._reply, port=self.port, record_requests=False).start()

    def stop(self) -> None:
        self.server.stop()


# ---- faults: each starts when the run has taken `after` requests -------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """Something the engine does to the run, started on a thread of its own; `join` waits until it is over."""

    describe: str
    start: Callable[[ScriptedEngine], threading.Thread]


def _after(requests: int, act: Callable[[ScriptedEngine], None]) -> Callable[[ScriptedEngine], threading.Thread]:
    def start(engine: ScriptedEngine) -> threading.Thread:
        def run() -> None:
            engine.wait_for_requests(requests)
            act(engine)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread
    return start


def outage(seconds: float, after: int = 10) -> Fault:
    return Fault(f"{seconds:g} s of refused connections", _after(after, lambda engine: engine.outage(seconds)))


def burst_of_429(seconds: float, retry_after_s: int = 1, after: int = 10) -> Fault:
    def act(engine: ScriptedEngine) -> None:
        until = time.monotonic() + seconds
        engine.fault = lambda info: (Reply.status(429, retry_after=retry_after_s, message="rate limited")
                                     if time.monotonic() < until else None)
    return Fault(f"{seconds:g} s of 429 with Retry-After: {retry_after_s}", _after(after, act))


def every_request_hangs() -> Fault:
    def act(engine: ScriptedEngine) -> None:
        engine.fault = lambda info: Reply.hang(600)  # answered only when the server stops
    return Fault("an engine that accepts every request and never answers", _after(0, act))


@dataclass(frozen=True)
class Scenario:
    name: str
    trouble: Fault
    fault: str  # the "Exit codes" row (docs/reference/cli.md) it is an instance of
    model: str = "good"
    settings: tuple[str, ...] = ()  # --set overrides of the scenario's config
    incomplete: str | None = None  # None: complete, with the undisturbed run's verdict; else a piece of its reason
    exit_code: int | None = None  # of the faulted run; None: the undisturbed run's (the model's)
    within_s: float | None = None  # the run stops this soon after its first request
    resent_at_most: int = 0  # samples answered before the fault that a resume with --retry-errors asks again


SCENARIOS = [
    # Short trouble, within the default 60 s retry window: ridden out, the model alone decides (exit 0 or 1).
    Scenario("429-burst-4s", burst_of_429(4), RIDDEN_OUT),
    Scenario("429-burst-4s-poor-model", burst_of_429(4), RIDDEN_OUT, model="poor"),
    Scenario("outage-5s", outage(5), RIDDEN_OUT),
    Scenario("outage-5s-poor-model", outage(5), RIDDEN_OUT, model="poor"),
    # An outage longer than the window: the samples it hit are the engine's errors, never the model's.
    Scenario("outage-past-the-window", outage(8), PAST_THE_WINDOW, exit_code=3, settings=("engine.retry_window_s=2",
                                                            "run.abort_after_consecutive_failures=1000"),
             incomplete="sample(s) failed at the engine"),
    Scenario("outage-past-the-window-poor-model", outage(8), PAST_THE_WINDOW, exit_code=3, model="poor",
             settings=("engine.retry_window_s=2", "run.abort_after_consecutive_failures=1000"),
             incomplete="sample(s) failed at the engine"),
    # ... and with a run of failures long enough, the watch stops the run early (what was answered is kept).
    Scenario("outage-stops-the-run", outage(8), ENGINE_STOPS, exit_code=3, settings=("engine.retry_window_s=2",
                                                          "run.abort_after_consecutive_failures=8"),
             incomplete="tries in a row failed at the engine", resent_at_most=HELD_PER_ACTOR),
    # A hanging engine: stopped within (failures x timeout), not after every sample's every try.
    Scenario("every-request-hangs", every_request_hangs(), ENGINE_STOPS, exit_code=3,
             settings=("engine.timeout_s=1", "engine.retry_window_s=2", "run.abort_after_consecutive_failures=10"),
             incomplete="tries in a row failed at the engine", within_s=10 * 1.0),
]


# ---- the runs ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict[str, dict[str, str]]]:
    """SAMPLES mcq samples on one image, and each model's answers to them."""
    root = tmp_path_factory.mktemp("engine-faults")
    (root / "media").mkdir()
    (root / "media" / "a.jpg").write_bytes(jpeg_bytes("red"))
    rows = [mcq_row(f"q-{index:02d}", answer="ABCD"[index % 4]) for index in range(SAMPLES)]
    manifest = write_jsonl(root / "manifest.jsonl", rows)
    answers = {model: {row["id"]: row["answer"] if index % 10 < right else "ABCD"[(index + 1) % 4]
                       for index, row in enumerate(rows)} for model, right in MODELS.items()}
    return manifest, answers


def write_config(where: Path, manifest: Path, engine: ScriptedEngine, run_id: str) -> Path:
    config = where / f"{run_id}.yaml"
    settings = {
        "dataset": {"path": str(manifest), "rows_per_read_task": 8},  # blocks of 8, as Ray Data's of ~70 samples
        "engine": {"kind": "openai", "base_url": engine.base_url, "model": "scripted-model", "timeout_s": 5,
                   "backoff_max_s": 1},
        "run": {"out_dir": str(where / "runs"), "run_id": run_id, "checkpoint_rows": CHECKPOINT_ROWS,
                "checkpoint_interval_s": 1, "progress_interval_s": 0.5},
        "inference": SIZES,
        "statistics": {"bootstrap_resamples": 200}, "gate": {"min_pass_rate": 0.7, "max_error_rate": 0},
    }
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def undisturbed(dataset, tmp_path_factory) -> Callable[[str], tuple[int, dict]]:
    """Each model's run without any fault: its exit code and outcome."""
    manifest, answers = dataset
    done: dict[str, tuple[int, dict]] = {}

    def run(model: str) -> tuple[int, dict]:
        if model not in done:
            where = tmp_path_factory.mktemp(f"undisturbed-{model}")
            engine = ScriptedEngine(answers[model])
            try:
                code = main(["run", "-c", str(write_config(where, manifest, engine, "calm"))])
            finally:
                engine.stop()
            done[model] = code, outcome(where / "runs" / "calm")
        return done[model]
    return run


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_engine_trouble_is_never_the_models(scenario: Scenario, local_ray, dataset, undisturbed, tmp_path: Path,
                                            capsys) -> None:
    manifest, answers = dataset
    calm_code, calm = undisturbed(scenario.model)
    assert calm_code == (0 if scenario.model == "good" else 1)  # the model alone decides an undisturbed run
    run_dir = tmp_path / "runs" / scenario.name
    engine = ScriptedEngine(answers[scenario.model])
    try:
        config = write_config(tmp_path, manifest, engine, scenario.name)
        fault = scenario.trouble.start(engine)
        code = main(["run", "-c", str(config), *[f"--set={setting}" for setting in scenario.settings]])
        ended = time.monotonic()
        printed = capsys.readouterr()
        fault.join(timeout=60)  # the fault is over (an outage has ended) before anything is resumed
        first_session = len(engine.replies)
        results = pq.read_table(run_dir / "results.parquet").to_pandas()

        if scenario.incomplete is None:
            assert code == calm_code, printed.out[-2000:]
            assert (results["status"] == "ok").all() and not results["engine_fault"].eq(True).any()
            assert outcome(run_dir) == calm
            return

        assert (run_dir / "verdict.json").exists(), f"exit {code}:\n{printed.err[-6000:]}\n{printed.out[-2000:]}"
        verdict = json.loads((run_dir / "verdict.json").read_text())
        assert code == scenario.exit_code == 3 and verdict["status"] == "incomplete" and verdict["exit_code"] == 3
        # What the operator reads (summary.md, printed): why, and the command that finishes the run.
        command = f"ray-eval run --resume {run_dir} --retry-errors"
        assert scenario.incomplete in verdict["reason"] and command in verdict["reason"]
        assert md_cell(verdict["reason"]) in printed.out
        failed = results[results["status"] != "ok"]
        assert failed["engine_fault"].eq(True).all()  # every error the fault caused is the engine's
        if scenario.within_s is not None:
            first_request = min(start for *_, start, _ in engine.replies)
            assert ended - first_request < scenario.within_s
            waiting = [line for line in printed.err.splitlines() if line.startswith("[ray-eval] 0/")]
            # Lines while it waits, saying what the engine does (the last one, once stopped, may not).
            assert len(waiting) >= 2 and any("tries in a row failed" in line for line in waiting), printed.err[-2000:]

        engine.fault = lambda info: None
        answered_before = set(results.loc[results["status"] == "ok", "sample_id"])
        assert main(["run", "--resume", str(run_dir), "--retry-errors"]) == calm_code
        resent = answered_before & set(engine.asked(since=first_session))
        assert len(resent) <= scenario.resent_at_most, sorted(resent)
    finally:
        engine.stop()
    final = pq.read_table(run_dir / "results.parquet", columns=["sample_id"]).to_pandas()
    assert len(final) == SAMPLES and final["sample_id"].is_unique  # rows in = rows out
    assert outcome(run_dir) == calm


def test_one_slow_request_holds_no_other_back(local_ray, dataset, tmp_path: Path) -> None:
    manifest, answers = dataset
    engine = ScriptedEngine(answers["good"])
    slow = "q-03"
    engine.fault = lambda info: Reply.text(answers["good"][slow], delay_s=8) if info.sample_id == slow else None
    try:
        # Slow, not failed: its answer comes within the request timeout.
        config = write_config(tmp_path, manifest, engine, "slow")
        assert main(["run", "-c", str(config), "--set=engine.timeout_s=30"]) == 0
    finally:
        engine.stop()
    spans = {sample_id: (start, end) for sample_id, _, start, end in engine.replies}
    slow_start, slow_end = spans.pop(slow)
    others_done = max(end for _, end in spans.values())
    assert others_done < slow_end  # every other sample was answered while the slow one was still out
    # While it was out and others were left, the engine had as many requests as the sizing says.
    moments = [start for start, _ in spans.values() if slow_start <= start < others_done]
    in_flight = max(1 + sum(1 for start, end in spans.values() if start <= moment < end) for moment in moments)
    assert in_flight == SIZING.actors * SIZING.max_in_flight_per_actor


@pytest.mark.parametrize("killed_at", [0.3])
def test_a_killed_driver_loses_about_a_checkpoint_of_answers(killed_at: float, local_ray, tmp_path: Path) -> None:
    samples = 100
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.jpg").write_bytes(jpeg_bytes("navy"))
    manifest = write_jsonl(tmp_path / "manifest.jsonl", [mcq_row(f"k-{index:03d}") for index in range(samples)])
    engine = ScriptedEngine({f"k-{index:03d}": "B" for index in range(samples)}, latency_s=0.5)
    run_dir = tmp_path / "runs" / "killed"
    try:
        config = write_config(tmp_path, manifest, engine, "killed")
        kill_driver_when(["run", "-c", str(config), "--set", "ray.num_cpus=4"], cwd=REPO,
                         ready=lambda: engine.wait_for_requests(int(samples * killed_at)))
        first_session = len(engine.replies)
        assert main(["run", "--resume", str(run_dir)]) == 0
    finally:
        engine.stop()
    asked_before = set(engine.asked()[:first_session])
    resent = asked_before & set(engine.asked(since=first_session))
    # Lost: the rows not yet in a checkpoint, and those on their way there (or still asked) when the driver died.
    assert len(resent) <= CHECKPOINT_ROWS + IN_TRANSIT < int(samples * killed_at), (len(asked_before), sorted(resent))
    final = pq.read_table(run_dir / "results.parquet", columns=["sample_id", "status"]).to_pandas()
    assert len(final) == samples and final["sample_id"].is_unique and (final["status"] == "ok").all()
