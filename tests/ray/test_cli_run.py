"""`ray-eval run`, `gate` and `report` through the CLI on a local Ray, with the seed article's suite format."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ray_eval.cli import main
from tests.conftest import jpeg_bytes

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

    # Re-gating a finished run: a stricter config value fails it, and every output is rewritten.
    assert main(["gate", str(run_dir), "--set", "gate.min_score=101"]) == 2  # out of range: a config error
    assert main(["gate", str(run_dir), "--set", "gate.critical_min_pass_rate=1.0",
                 "--set", "gate.labels.l2.商品识别.min_pass_rate=1.0"]) == 0
    assert main(["gate", str(run_dir), "--set", "gate.subsets.Kitchen.min_pass_rate=0.5"]) == 1
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["failed_checks"] == ["subset Kitchen pass rate"]
    assert json.loads((run_dir / "summary.json").read_text())["verdict"]["status"] == "failed"
    assert "❌ FAILED" in (run_dir / "summary.md").read_text()
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0 and (run_dir / "report.html").stat().st_size > 1000


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
