"""Through the CLI on a local Ray with the scripted stand-in: a run with the blind pass (diagnostics in the same
job), open answers graded by a scripted judge server, and runs gated against a baseline run."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ray_eval.cli import main
from ray_eval.scoring import visual_diagnostics
from ray_eval.testing import Reply, ScriptedOpenAIServer

pytestmark = pytest.mark.ray


def write_config(tmp_path: Path, manifest: Path, name: str, extra: str = "", accuracy: float = 1.0) -> Path:
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        f"dataset: {{path: {manifest}}}\n"
        f"engine: {{kind: scripted, accuracy: {accuracy}, blind_accuracy: 0.0}}\n"
        f"run: {{out_dir: {tmp_path / 'runs'}, run_id: {name}}}\n"
        "statistics: {bootstrap_resamples: 200}\n" + extra,
        encoding="utf-8",
    )
    return config


def test_blind_pass_writes_its_own_rows_and_the_diagnostics(local_ray, mixed_dataset, tmp_path: Path) -> None:
    manifest, rows = mixed_dataset
    assert main(["run", "-c", str(write_config(tmp_path, manifest, "blind", "diagnostics: {blind_pass: true}\n"))]) == 0
    run_dir = tmp_path / "runs" / "blind"
    results = pq.read_table(run_dir / "results.parquet").to_pandas()
    blind = pq.read_table(run_dir / "blind_results.parquet").to_pandas()
    # results.parquet keeps exactly one row per sample; every sample with media was asked once more, blind.
    assert sorted(results["sample_id"]) == sorted(row["id"] for row in rows)
    assert set(results["variant"]) == {"standard"} and set(blind["variant"]) == {"blind"}
    assert sorted(blind["sample_id"]) == sorted(row["id"] for row in rows if row.get("media"))
    paired = results.merge(blind, on="sample_id", suffixes=("", "_blind"))
    assert (paired["prompt"] == paired["prompt_blind"]).all() and paired["thumbnails_blind"].isna().all()

    summary = json.loads((run_dir / "summary.json").read_text())
    diagnostics = summary["suites"][0]["diagnostics"]["overall"]
    expected = visual_diagnostics(paired["passed"].tolist(), paired["passed_blind"].tolist())
    assert {key: diagnostics[key] for key in expected} == pytest.approx(expected)
    # The stand-in is always right with the media and never without: every right answer needed the image.
    assert diagnostics["MG"] == pytest.approx(1.0) and diagnostics["VNR"] == pytest.approx(1.0)
    assert diagnostics["VIF"] is None and diagnostics["n"] == len(blind)
    assert set(summary["suites"][0]["diagnostics"]["by_subset"]) == set(results["subset"])
    assert summary["suites"][0]["scores"]["overall"]["score_ci"] is not None
    assert "Visual diagnostics" in (run_dir / "summary.md").read_text()


def test_baseline_gate_passes_equal_fails_worse_and_is_undecided_on_few_samples(local_ray, mixed_dataset,
                                                                                tmp_path: Path) -> None:
    manifest, _ = mixed_dataset
    assert main(["run", "-c", str(write_config(tmp_path, manifest, "base"))]) == 0
    baseline = f"gate: {{baseline: {{run_dir: {tmp_path / 'runs' / 'base'}, min_paired_samples: 5}}}}\n"

    assert main(["run", "-c", str(write_config(tmp_path, manifest, "same", baseline))]) == 0
    same = json.loads((tmp_path / "runs" / "same" / "summary.json").read_text())
    assert same["suites"][0]["comparison"]["overall"]["delta"] == 0.0
    assert same["suites"][0]["comparison"]["flipped_total"] == {"gained": 0, "lost": 0}

    assert main(["run", "-c", str(write_config(tmp_path, manifest, "worse", baseline, accuracy=0.0))]) == 1
    worse = json.loads((tmp_path / "runs" / "worse" / "verdict.json").read_text())
    assert worse["status"] == "failed" and worse["failed_checks"] == ["no regression against baseline"]
    worse = json.loads((tmp_path / "runs" / "worse" / "summary.json").read_text())
    flips = worse["suites"][0]["comparison"]["flipped_total"]
    assert flips["lost"] > 0 and flips["gained"] == 0

    few = baseline.replace("min_paired_samples: 5", "min_paired_samples: 500")
    assert main(["run", "-c", str(write_config(tmp_path, manifest, "few", few))]) == 1
    run_dir = tmp_path / "runs" / "few"
    undecided = json.loads((run_dir / "verdict.json").read_text())
    assert undecided["status"] == "undecided" and "too few samples to decide" in undecided["reason"]
    assert "UNDECIDED" in (run_dir / "summary.md").read_text()
    assert 'message="undecided: too few samples to decide' in (run_dir / "junit.xml").read_text()
    # Re-gating with a reachable minimum recomputes the comparison and decides.
    assert main(["gate", str(run_dir), "--set", "gate.baseline.min_paired_samples=5"]) == 0
    assert json.loads((run_dir / "verdict.json").read_text())["status"] == "passed"


def test_open_answers_graded_by_a_judge_server_failures_are_error_rows(local_ray, mixed_dataset,
                                                                        tmp_path: Path) -> None:
    manifest, rows = mixed_dataset
    verdicts = {"open-zh": '{"grade": 2, "reason": "颜色正确"}', "open-en": '{"grade": 1, "reason": "partly"}',
                "extra-0": "I think it is fine."}  # the last one is no verdict at all

    def judge(info) -> Reply:
        return Reply.text(verdicts.get(info.sample_id, '{"grade": 0, "reason": "wrong"}'))

    with ScriptedOpenAIServer(default=judge, model="judge-model") as server:
        extra = ("scoring:\n  scorers: {open: judge}\n  judge:\n"
                 f"    engine: {{kind: openai, base_url: '{server.base_url}', model: judge-model, max_retries: 0}}\n"
                 f"    cache_dir: {tmp_path / 'cache'}\n")
        code = main(["run", "-c", str(write_config(tmp_path, manifest, "judged", extra))])
        judged_requests = len(server.requests)
    assert code == 0
    results = pq.read_table(tmp_path / "runs" / "judged" / "results.parquet").to_pandas().set_index("sample_id")
    assert len(results) == len(rows)
    open_ids = [row["id"] for row in rows if row["format"] == "open"]
    assert judged_requests == len(open_ids)  # one judge call per open answer, none for the others
    assert set(results.loc[open_ids, "scorer"]) == {"judge"}
    assert results.loc["open-zh", "score"] == 1.0 and results.loc["open-en", "score"] == 0.5
    assert results.loc["open-en", "judge_verdict"] == verdicts["open-en"]
    failed = results.loc["extra-0"]
    assert failed["status"] == "error" and failed["error_stage"] == "judge"
    assert failed["judge_verdict"] == verdicts["extra-0"]
    assert results.loc[[r["id"] for r in rows if r["format"] != "open"], "judge_verdict"].isna().all()
    assert results.loc["mcq-0", "scorer"] == "choice"


def test_open_answers_scored_with_token_f1_and_a_local_embedding_model(local_ray, mixed_dataset,
                                                                        tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from ray_eval.scoring.embedding import build_tiny_embedding_model

    manifest, rows = mixed_dataset
    model = build_tiny_embedding_model(tmp_path / "embedder")
    extra = f"scoring: {{scorers: {{open: token_f1_cosine}}, embedding_model: {model}}}\n"
    assert main(["run", "-c", str(write_config(tmp_path, manifest, "cosine", extra))]) == 0
    results = pq.read_table(tmp_path / "runs" / "cosine" / "results.parquet").to_pandas().set_index("sample_id")
    open_rows = results[results["format"] == "open"]
    assert len(results) == len(rows) and set(open_rows["scorer"]) == {"token_f1_cosine"}
    details = [json.loads(text) for text in open_rows["score_details"]]
    # The stand-in answers every open question with its reference: both halves of the score are full.
    assert all(d["token_f1"] == 1.0 and d["cosine"] == pytest.approx(1.0, abs=1e-5) for d in details)
    assert open_rows["passed"].all()
