"""The whole job on a local Ray against a real scripted OpenAI-compatible server: every input sample ends as
exactly one result row, failures of the engine become error rows (the engine's own never counted against the model),
and the outputs agree with each other."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ray_eval.config import load_config
from ray_eval.runs.run import run_evaluation
from ray_eval.testing import Reply, ScriptedOpenAIServer, from_answers
from ray_eval.verdict.gate import EXIT_INCOMPLETE
from tests.ray.conftest import correct_answer

pytestmark = pytest.mark.ray


def config_for(server: ScriptedOpenAIServer, manifest: Path, tmp_path: Path, *overrides: str):
    return load_config(None, [
        f"dataset.path={manifest}", "engine.kind=openai", f"engine.base_url={server.base_url}",
        f"engine.model={server.model}", "engine.timeout_s=2", "engine.max_retries=2", "engine.backoff_initial_s=0",
        f"run.out_dir={tmp_path / 'runs'}", "run.run_id=test", "inference.actors=2",
        "inference.max_in_flight_per_actor=8", "inference.batch_size=4", "dataset.rows_per_read_task=5",
        "preprocess.max_pixels=50000", *overrides,
    ])


def test_whole_job_with_engine_faults(local_ray, mixed_dataset, tmp_path: Path) -> None:
    manifest, rows = mixed_dataset
    answers = {row["id"]: correct_answer(row) for row in rows}
    # "A store" must not read as option A.
    answers["mcq-1"] = "A store sign is visible above the door, so the answer is B."
    script = {
        "mcq-0": [Reply.status(429, retry_after=0), Reply.text("A")],  # rate limited once
        "mcq-2": [Reply.status(500), Reply.status(503), Reply.text("C")],  # recovers on the last retry
        "mcq-3": [Reply.status(500)],  # never recovers: an error row, the engine's
        "open-en": [Reply.hang(10)],  # longer than the timeout on every attempt
        "extra-0": [Reply.malformed("not_json")],  # an answer that is no chat completion: the sample's own error
        "extra-1": [Reply.disconnect()],
        "extra-2": [Reply.text("555-0102", delay_s=0.5)],  # slow but in time
    }
    with ScriptedOpenAIServer(default=from_answers(answers), script=script) as server:
        outcome = run_evaluation(config_for(server, manifest, tmp_path, "gate.min_pass_rate=0.5",
                                            "gate.max_error_rate=0.2", "run.max_engine_error_rate=0.5"))
        assert server.max_concurrent > 1  # requests really overlap
        assert server.attempts("mcq-3") == 3 and server.attempts("mcq-2") == 3
        video_request = next(r for r in server.requests if r.sample_id == "video-1")
        multi_request = next(r for r in server.requests if r.sample_id == "multi-1")
        assert video_request.video_count == 1 and multi_request.image_count == 2

    results = pq.read_table(outcome.run_dir / "results.parquet").to_pandas()
    assert sorted(results["sample_id"]) == sorted(row["id"] for row in rows)  # each sample exactly once
    by_id = results.set_index("sample_id")
    retried = by_id.loc["mcq-0"]
    assert retried["passed"] and retried["extracted"] == "A" and retried["attempts"] == 2
    assert by_id.loc["mcq-1", "passed"] and by_id.loc["mcq-1", "extracted"] == "B"
    assert by_id.loc["mcq-2", "passed"] and by_id.loc["mcq-2", "attempts"] == 3
    assert by_id.loc["mcq-3", "status"] == "error" and by_id.loc["mcq-3", "error_type"] == "HTTP 500"
    assert by_id.loc["open-en", "error_type"] == "EngineTimeout"
    assert by_id.loc["extra-0", "error_type"] == "EngineBadResponse"
    assert by_id.loc["extra-1", "error_type"] == "EngineConnectionError"
    assert by_id.loc["extra-2", "passed"] and by_id.loc["extra-2", "latency_s"] >= 0.5
    engine_faults = set(results.loc[results["engine_fault"].eq(True), "sample_id"])
    assert engine_faults == {"mcq-3", "open-en", "extra-1"}  # 5xx, timeout, dropped connection; not the bad reply
    assert by_id.loc["open-zh", "passed"] and by_id.loc["format-1", "score"] == 1.0
    assert by_id.loc["video-1", "passed"] and by_id.loc["multi-1", "passed"]
    assert (results.loc[results["status"] == "ok", "prompt_tokens"] > 0).all()
    assert results["thumbnails"].notna().sum() == (results["status"] == "ok").sum() + 4  # error rows kept theirs
    assert len(by_id.loc["multi-1", "thumbnails"]) == 2 and len(by_id.loc["video-1", "thumbnails"]) == 1  # a strip

    summary = json.loads((outcome.run_dir / "summary.json").read_text())
    verdict = json.loads((outcome.run_dir / "verdict.json").read_text())
    assert summary["counts"] == {"samples": 12, "results": 12, "passed": 8, "errors": 4, "unparsed": 0}
    assert summary["suites"][0]["scores"]["errors"]["by_type"] == {
        "EngineBadResponse": 1, "EngineConnectionError": 1, "EngineTimeout": 1, "HTTP 500": 1}
    assert set(summary["suites"][0]["scores"]["by_subset"]) == {
        "ShopFront", "ShopInterior", "Kitchen", "MultiImg", "Video"}
    # The engine's errors leave the run incomplete (exit 3), never a failed model; resuming asks them again.
    assert verdict["status"] == "incomplete" and outcome.exit_code == EXIT_INCOMPLETE
    assert verdict["reason"].startswith("3 sample(s) failed at the engine")
    assert f"ray-eval run --resume {outcome.run_dir} --retry-errors" in verdict["reason"]
    suites = ET.parse(outcome.run_dir / "junit.xml").getroot()
    assert sum(int(s.get("tests")) for s in suites if s.get("name") != "gate") == 12
    assert (outcome.run_dir / "summary.md").read_text().startswith("## ShopBench gate: ⚠️ COULD NOT COMPLETE")
    assert (outcome.run_dir / "report.html").stat().st_size > 0
    assert not (outcome.run_dir / "results.parts").exists()


def test_engine_that_keeps_failing_stops_the_run_as_incomplete(local_ray, mixed_dataset, tmp_path: Path) -> None:
    manifest, rows = mixed_dataset
    with ScriptedOpenAIServer(default=lambda info: Reply.status(503)) as server:
        outcome = run_evaluation(config_for(server, manifest, tmp_path, "engine.max_retries=0",
                                            "run.abort_after_consecutive_failures=3"))
    assert outcome.exit_code == EXIT_INCOMPLETE
    decision = outcome.summary.verdict
    assert decision.status == "incomplete" and "in a row failed at the engine" in decision.reason
    assert json.loads((outcome.run_dir / "summary.json").read_text())["status"] == "incomplete"


def test_error_budget_makes_a_finished_run_incomplete(local_ray, mixed_dataset, tmp_path: Path) -> None:
    manifest, rows = mixed_dataset
    answers = {row["id"]: correct_answer(row) for row in rows}
    script = {row["id"]: [Reply.status(500)] for row in rows[:4]}
    with ScriptedOpenAIServer(default=from_answers(answers), script=script) as server:
        outcome = run_evaluation(config_for(server, manifest, tmp_path, "engine.max_retries=0",
                                            "run.max_engine_error_rate=0.25"))
    assert outcome.exit_code == EXIT_INCOMPLETE and "over the error budget" in outcome.summary.verdict.reason
    results = pq.read_table(outcome.run_dir / "results.parquet", columns=["sample_id", "status"]).to_pandas()
    assert len(results) == 12 and (results["status"] == "error").sum() == 4
