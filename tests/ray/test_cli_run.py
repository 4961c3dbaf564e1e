"""`ray-eval run`, `gate` and `report` through the CLI on a local Ray, with the seed article's suite format."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ray_eval.cli import main
from ray_eval.runs.store import RunStore
from ray_eval.testing.prometheus import wait_until
from ray_eval.verdict.summary_model import SCHEMA_VERSION
from tests.conftest import jpeg_bytes
from tests.unit.test_summary_model import as_written

pytestmark = pytest.mark.ray


@pytest.fixture
def seed_suite(tmp_path: Path) -> Path:
    """A test-suite file as someone who followed the seed article has it, images relative to its parent folder."""
    (tmp_path / "tests" / "images").mkdir(parents=True)
    for name in ("food_products_001.jpg", "store_layout_001.jpg"):
        (tmp_path / "tests" / "images" / name).write_bytes(jpeg_bytes())
    cases = []
    for i in range(6):
        cases.append({"id": f"TC{i:03d}", "category": "商品识别" if i % 2 else "场景理解", "subcategory": "x",
                      "image_path": "tests/images/store_layout_001.jpg", "question": "这家店的商品陈列存在什么问题？",
                      "options": ["A. 通道太窄", "B. 商品分类混乱", "C. 照明不足", "D. 所有以上"],
                      "expected_answer": "D", "test_type": "mcq", "weight": 1.0 + i % 2, "critical": i == 0})
    cases.append({"id": "TC100", "category": "商品识别", "image_path": "tests/images/food_products_001.jpg",
                  "question": "图片中有哪些食品商品？", "expected_answer": "苹果、香蕉、牛奶", "test_type": "open_qa"})
    suite = {"test_suite": {"name": "ShopBench零售场景测试套件", "version": "1.0.0"}, "test_cases": cases,
             "thresholds": {"overall_pass_rate": 0.85, "category_pass_rate": {"商品识别": 0.9, "场景理解": 0.85},
                            "minimum_score": 0.8}}
    path = tmp_path / "tests" / "shopbench_config.json"
    path.write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    return path


def test_seed_suite_run_applies_its_thresholds_then_regate_and_report(local_ray, seed_suite: Path, tmp_path: Path,
                                                                      capsys) -> None:
    config = tmp_path / "eval.yaml"
    config.write_text(
        f"dataset: {{path: {seed_suite}, root: {tmp_path}}}\n"
        "engine: {kind: scripted, policy: oracle, accuracy: 1.0}\n"
        f"run: {{out_dir: {tmp_path / 'runs'}, run_id: seed}}\n"
    )
    assert main(["run", "-c", str(config)]) == 0
    run_dir = tmp_path / "runs" / "seed"
    verdict = json.loads((run_dir / "verdict.json").read_text())
    suite_checks = {c["name"]: c for c in verdict["checks"] if c["source"] == "suite"}
    assert set(suite_checks) == {"overall pass rate", "overall score", "category 商品识别 pass rate",
                                 "category 场景理解 pass rate"}
    assert suite_checks["overall score"]["threshold"] == pytest.approx(80.0) and verdict["status"] == "passed"
    results = pq.read_table(run_dir / "results.parquet").to_pandas()
    assert sorted(results["sample_id"]) == [f"TC{i:03d}" for i in range(6)] + ["TC100"]
    assert results["passed"].all() and set(results["l2"]) == {"商品识别", "场景理解"}
    assert "✅ PASSED" in capsys.readouterr().out
    assert_summary_round_trips(run_dir)  # a seed suite's summary: its suite thresholds too

    # Re-gating a finished run: a stricter config value fails it, and every output is rewritten.
    assert main(["gate", str(run_dir), "--set", "gate.min_score=101"]) == 2  # out of range: a config error
    assert capsys.readouterr().err.startswith("ray-eval: --set gate.min_score=101: gate.min_score: Input should be")
    assert main(["gate", str(run_dir), "--set", "gate.critical_min_pass_rate=1.0",
                 "--set", "gate.labels.l2.商品识别.min_pass_rate=1.0"]) == 0
    assert main(["gate", str(run_dir), "--set", "gate.subsets.Kitchen.min_pass_rate=0.5"]) == 1
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["failed_checks"] == ["subset Kitchen pass rate"]
    assert json.loads((run_dir / "summary.json").read_text())["verdict"]["status"] == "failed"
    assert_summary_round_trips(run_dir)
    assert "❌ FAILED" in (run_dir / "summary.md").read_text()
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0 and (run_dir / "report.html").stat().st_size > 1000


def assert_summary_round_trips(run_dir: Path) -> None:
    """summary.json carries its schema version and its model gives it back byte for byte."""
    text = (run_dir / "summary.json").read_text(encoding="utf-8")
    summary = RunStore(run_dir).read_summary()
    assert summary.schema_version == SCHEMA_VERSION and as_written(summary.model_dump(mode="json")) == text


def test_invalid_rows_can_be_evaluated_as_error_rows(local_ray, media_dir: Path, tmp_path: Path) -> None:
    from tests.conftest import mcq_row, write_jsonl

    manifest = write_jsonl(media_dir / "m.jsonl", [mcq_row("a", answer="A"), mcq_row("b", image="media/gone.jpg"),
                                                   "not json", mcq_row("a")])
    (media_dir / "media" / "zero.jpg").write_bytes(b"")
    config = tmp_path / "eval.yaml"
    config.write_text(f"dataset: {{path: {manifest}, invalid_rows: error_row}}\n"
                      "engine: {kind: scripted, accuracy: 1.0}\n"
                      f"run: {{out_dir: {tmp_path / 'runs'}, run_id: r}}\n")
    assert main(["run", "-c", str(config), "--set", "gate.max_error_rate=0.5"]) == 1
    results = pq.read_table(tmp_path / "runs" / "r" / "results.parquet").to_pandas().set_index("row_number")
    assert list(results.sort_index()["status"]) == ["ok", "error", "error", "error"]
    assert results.loc[2, "error"].startswith("media.0: media file 'media/gone.jpg' does not exist")
    assert results.loc[4, "sample_id"] == "a#line4" and results.loc[4, "error_stage"] == "read"


# ---- the console of a real `ray-eval run` process --------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
RAY_EVAL = Path(sys.executable).parent / "ray-eval"


def _scripted_config(tmp_path: Path, media_dir: Path, samples: int, latency_s: float = 0.0,
                     checkpoint_rows: int = 500) -> Path:
    from tests.conftest import mcq_row, write_jsonl

    manifest = write_jsonl(media_dir / "m.jsonl", [mcq_row(f"s{i}") for i in range(samples)])
    config = tmp_path / "eval.yaml"
    config.write_text(f"dataset: {{path: {manifest}}}\n"
                      f"engine: {{kind: scripted, accuracy: 1.0, latency_s: {latency_s}}}\n"
                      "inference: {actors: 1, max_in_flight_per_actor: 1}\n"
                      f"run: {{out_dir: {tmp_path / 'runs'}, run_id: r, checkpoint_rows: {checkpoint_rows}}}\n"
                      "ray: {num_cpus: 2}\n")
    return config


def _ray_eval(*args: str, cwd: Path, **popen) -> subprocess.Popen:
    """`ray-eval ARGS` as a person runs it, with this checkout's code."""
    return subprocess.Popen([str(RAY_EVAL), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, **popen)


@pytest.mark.parametrize("ray_logs", [False, True])
def test_rays_own_lines_stay_off_the_console_unless_asked_for_and_the_last_line_is_the_report(
        tmp_path: Path, media_dir: Path, ray_logs: bool) -> None:
    config = _scripted_config(tmp_path, media_dir, samples=3)
    process = _ray_eval("run", "-c", str(config), *(["--ray-logs"] if ray_logs else []), cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    run_dir = tmp_path / "runs" / "r"
    assert stdout.splitlines()[-1] == f"report: {run_dir / 'report.html'}"
    assert (run_dir / "report.html").is_file()
    assert "[ray-eval] 3/3 samples (100%)" in stderr  # the run's own progress is always there
    # The core worker's line on every Ray Data actor pool, and Ray Data's hint on the progress bars the run turns off.
    noise = ["core_worker.cc", "has constructor arguments in the object store and max_restarts > 0",
             "Progress bars disabled", "Execution plan of Dataset"]
    assert [line for line in noise if line in stderr] == (noise if ray_logs else [])


def test_ctrl_c_says_how_to_resume_and_the_command_finishes_the_run(tmp_path: Path, media_dir: Path, capsys) -> None:
    # One answer a second, one at a time, each written to disk as it comes: the interrupt is sent once the first
    # answer is on disk, so it reaches a run that is answering (sent when run.json appeared, it could land while Ray
    # was still starting, on a loaded machine, and the run then finished unharmed).
    config = _scripted_config(tmp_path, media_dir, samples=12, latency_s=1.0, checkpoint_rows=1)
    run_dir = tmp_path / "runs" / "r"
    process = _ray_eval("run", "-c", str(config), cwd=tmp_path)
    try:
        wait_until(lambda: list((run_dir / "results.parts").glob("part-*.parquet")), 120, "a first answer on disk")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, stderr
    resume = f"ray-eval run --resume {run_dir}"
    assert stderr.splitlines()[-1] == f"ray-eval: interrupted; resume with: {resume}"
    assert "Traceback" not in stderr and not (run_dir / "verdict.json").exists()

    assert main(["runs", str(tmp_path / "runs")]) == 0
    (listed,) = capsys.readouterr().out.splitlines()[1:]
    assert "no verdict (running, or interrupted)" in listed and listed.endswith(f"resume: {resume}")

    resumed = _ray_eval(*resume.split()[1:], cwd=tmp_path)  # the printed command, word for word
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert stdout.splitlines()[-1] == f"report: {run_dir / 'report.html'}"
    assert main(["runs", str(tmp_path / "runs")]) == 0
    (listed,) = capsys.readouterr().out.splitlines()[1:]
    assert listed.split()[2:4] == ["complete", "passed"] and "resume" not in listed
