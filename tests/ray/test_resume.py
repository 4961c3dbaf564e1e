"""Resuming and rescoring a run directory: a resume is refused under another config or outside a run directory, and
rescoring changes scores, never answers. (A killed run resumed to the uninterrupted result, and errors re-run only
with --retry-errors: the fault table, tests/faults.)"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ray_eval.cli import main
from ray_eval.demo.synth import synthesize

pytestmark = pytest.mark.ray


def write_config(tmp_path: Path, manifest: Path, latency_s: float) -> Path:
    config = tmp_path / "eval.yaml"
    config.write_text(
        f"dataset: {{path: {manifest}}}\n"
        f"engine: {{kind: scripted, accuracy: 0.7, latency_s: {latency_s}}}\n"
        f"run: {{out_dir: {tmp_path / 'runs'}, checkpoint_rows: 4, checkpoint_interval_s: 1}}\n"
        "inference: {actors: 1, max_in_flight_per_actor: 2, batch_size: 2}\n"
        "statistics: {bootstrap_resamples: 200}\n"
        "gate: {min_pass_rate: 0.5}\n"
        "ray: {num_cpus: 2}\n",
        encoding="utf-8",
    )
    return config


def test_resume_refuses_another_config_and_a_directory_that_is_not_a_run(local_ray, tmp_path: Path) -> None:
    """(A killed run resumed, errors re-run only with --retry-errors: the fault table, tests/faults.)"""
    manifest = synthesize(tmp_path / "data", 12, seed=4).manifest
    config = write_config(tmp_path, manifest, latency_s=0.0)
    run_dir = tmp_path / "runs" / "r"
    assert main(["run", "-c", str(config), "--set", "run.run_id=r"]) in (0, 1)
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
