"""Nothing lost when the driver dies: `ray-eval run` killed (SIGKILL) mid-run, then resumed, ends with exactly one
row per sample and the same scores and verdict as an uninterrupted run; errors are re-run only when asked."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ray_eval.cli import main
from ray_eval.shopbench.synth import synthesize
from ray_eval.testing.prometheus import wait_until
from tests.conftest import kill_driver_when

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, manifest: Path, latency_s: float) -> Path:
    config = tmp_path / "eval.yaml"
    config.write_text(
        f"dataset: {{path: {manifest}}}\n"
        f"engine: {{kind: scripted, accuracy: 0.7, latency_s: {latency_s}}}\n"
        f"run: {{out_dir: {tmp_path / 'runs'}, checkpoint_rows: 4, checkpoint_interval_s: 1}}\n"
        "inference: {actors: 1, max_in_flight_per_actor: 2, batch_size: 2}\n"
        "preprocess: {batch_size: 2}\n"
        "scoring: {batch_size: 2}\n"
        "statistics: {bootstrap_resamples: 200}\n"
        "gate: {min_pass_rate: 0.5}\n"
        "ray: {num_cpus: 2}\n",
        encoding="utf-8",
    )
    return config


def comparable(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    verdict = json.loads((run_dir / "verdict.json").read_text())
    return {"scores": {k: v for k, v in summary["scores"].items() if k != "latency_s"},
            "counts": summary["counts"], "verdict": {k: verdict[k] for k in ("status", "exit_code", "failed_checks")}}


def test_a_killed_run_resumes_to_the_uninterrupted_result(local_ray, tmp_path: Path) -> None:
    manifest = synthesize(tmp_path / "data", 24, seed=3).manifest
    config = write_config(tmp_path, manifest, latency_s=0.25)
    whole_code = main(["run", "-c", str(config), "--set", "run.run_id=whole"])

    # The same run in a process of its own, killed once some results are on disk.
    killed = tmp_path / "runs" / "killed"
    kill_driver_when(["run", "-c", str(config), "--set", "run.run_id=killed"], cwd=REPO, ready=lambda: wait_until(
        lambda: list((killed / "results.parts").glob("part-*.parquet")), 180, "a first checkpoint"))
    assert not (killed / "results.parquet").exists() and not (killed / "verdict.json").exists()
    written = sum(pq.read_metadata(part).num_rows for part in (killed / "results.parts").glob("part-*.parquet"))
    assert 0 < written < 24

    assert main(["run", "--resume", str(killed)]) == whole_code
    results = pq.read_table(killed / "results.parquet").to_pandas()
    assert len(results) == 24 and results["sample_id"].is_unique
    assert not (killed / "results.parts").exists()
    assert comparable(killed) == comparable(tmp_path / "runs" / "whole")


def test_resume_reruns_errors_only_when_asked_and_refuses_another_config(local_ray, tmp_path: Path) -> None:
    manifest = synthesize(tmp_path / "data", 12, seed=4).manifest
    config = write_config(tmp_path, manifest, latency_s=0.0)
    run_dir = tmp_path / "runs" / "r"
    assert main(["run", "-c", str(config), "--set", "run.run_id=r"]) in (0, 1)
    # Two samples failed, as an engine outage would have left them.
    table = pq.read_table(run_dir / "results.parquet")
    broken = table.to_pandas()
    broken.loc[:1, ["status", "error_stage", "error_type", "error"]] = ["error", "inference", "HTTP 500", "boom"]
    broken.loc[:1, ["score", "passed"]] = [0.0, False]
    pq.write_table(pa.Table.from_pandas(broken, schema=table.schema, preserve_index=False), run_dir / "results.parquet")

    assert main(["run", "--resume", str(run_dir)]) in (0, 1)
    kept = pq.read_table(run_dir / "results.parquet").to_pandas()
    assert len(kept) == 12 and (kept["status"] == "error").sum() == 2  # errors are kept unless asked
    assert main(["run", "--resume", str(run_dir), "--retry-errors"]) in (0, 1)
    retried = pq.read_table(run_dir / "results.parquet").to_pandas()
    assert len(retried) == 12 and retried["sample_id"].is_unique and (retried["status"] == "ok").all()

    # Another config cannot continue this run; a directory that is not a run cannot be resumed.
    assert main(["run", "--resume", str(run_dir), "-c", str(config), "--set", "engine.accuracy=0.1"]) == 2
    assert main(["run", "--resume", str(tmp_path / "runs" / "nowhere")]) == 2


def test_rescore_changes_scores_not_answers_and_refuses_what_would_change_answers(local_ray, tmp_path: Path) -> None:
    manifest = synthesize(tmp_path / "data", 12, seed=5).manifest
    config = write_config(tmp_path, manifest, latency_s=0.0)
    run_dir = tmp_path / "runs" / "s"
    assert main(["run", "-c", str(config), "--set", "run.run_id=s"]) in (0, 1)
    before = pq.read_table(run_dir / "results.parquet").to_pandas().set_index("sample_id").sort_index()
    assert (before.loc[before["format"] == "open", "scorer"] == "token_f1").all()

    # No engine runs now (the scripted one lives only during a run): the answers can only come from the run dir.
    assert main(["rescore", str(run_dir), "--set", "scoring.scorers.open=exact_match",
                 "--set", "gate.min_pass_rate=0.99"]) == 1
    after = pq.read_table(run_dir / "results.parquet").to_pandas().set_index("sample_id").sort_index()
    assert list(after.index) == list(before.index)
    assert (after["response"] == before["response"]).all() and (after["latency_s"] == before["latency_s"]).all()
    open_rows = after["format"] == "open"
    assert (after.loc[open_rows, "scorer"] == "exact_match").all()
    assert (after.loc[~open_rows, "score"] == before.loc[~open_rows, "score"]).all()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["config"]["scoring"]["scorers"]["open"] == "exact_match"
    assert json.loads((run_dir / "verdict.json").read_text())["failed_checks"] == ["overall pass rate"]

    assert main(["rescore", str(run_dir), "--set", "engine.accuracy=0.1"]) == 2  # would change the answers
