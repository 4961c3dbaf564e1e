"""`ray-eval run` on each file of the generated guard suite with the scripted stand-in right every time: every
question is read, asked and scored by its file's scorer, and the score is 100 (accuracy 1.0)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ray_eval.cli import main
from ray_eval.demo.guard import write_guard_suite

pytestmark = pytest.mark.ray

QUESTIONS = 12
SCORER = {"ocr": "ocr_contains_any", "count": "choice", "yesno": "yes_no"}


def test_a_scripted_run_of_each_guard_file_scores_its_accuracy(local_ray, tmp_path: Path, capsys) -> None:
    files = write_guard_suite(tmp_path / "guard", QUESTIONS, seed=0).files
    for kind, path in files.items():
        config = tmp_path / f"guard-{kind}.yaml"
        config.write_text(
            f"dataset: {{path: {path}}}\n"
            f"scoring: {{scorers: {{{'mcq' if kind == 'count' else 'open'}: {SCORER[kind]}}}}}\n"
            "engine: {kind: scripted, policy: oracle, accuracy: 1.0}\n"
            f"run: {{out_dir: {tmp_path / 'runs'}, run_id: {kind}}}\n"
            "gate: {min_score: 100}\n"
            "ray: {num_cpus: 2}\n"
        )
        assert main(["run", "-c", str(config)]) == 0, capsys.readouterr().err[-2000:]
        assert f"run directory: {tmp_path / 'runs' / kind}" in capsys.readouterr().out.splitlines()
        run_dir = tmp_path / "runs" / kind
        rows = pq.read_table(run_dir / "results.parquet",
                             columns=["sample_id", "status", "scorer", "score", "unparsed"]).to_pylist()
        assert len(rows) == QUESTIONS and {row["sample_id"].split("-")[0] for row in rows} == {kind}
        assert all((row["status"], row["scorer"], row["score"], row["unparsed"]) == ("ok", SCORER[kind], 1.0, False)
                   for row in rows)
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        assert summary["suites"][0]["scores"]["overall"]["score"] == pytest.approx(100.0)
        assert json.loads((run_dir / "verdict.json").read_text(encoding="utf-8"))["status"] == "passed"
