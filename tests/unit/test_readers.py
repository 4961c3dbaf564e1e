"""The three readers: rows become the same typed samples; every bad row is named with its line and reason."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ray_eval.data.dataset import iter_raw_rows, read_rows, scan_dataset
from ray_eval.data.readers import open_reader
from ray_eval.errors import DatasetError
from ray_eval.records import READ_SCHEMA
from ray_eval.verdict.summary_model import SuiteThresholdsInfo
from tests.conftest import b64, jpeg_bytes, mcq_row, write_jsonl


def samples(path: Path, **kwargs):
    scan = scan_dataset(path, **kwargs)
    return scan, [scan.reader.to_sample(raw) for raw in iter_raw_rows(scan.reader, scan.chunks)]


def test_jsonl_manifest_reads_typed_samples(media_dir: Path) -> None:
    rows = [
        mcq_row("s1"),
        {"id": "s2", "subset": "MultiImg", "format": "open", "question": "哪个商品被拿走了？", "answer": "红色",
         "media": [{"type": "image", "path": "media/a.jpg"}, {"type": "image", "path": "media/b.jpg"}],
         "weight": 2.5, "critical": True},
        {"id": "s3", "format": "format", "question": "Fields?", "answer": {"open": True, "phone": "123"},
         "schema": {"type": "object", "required": ["open"]}, "media": [{"type": "image", "bytes": b64(jpeg_bytes())}]},
    ]
    scan, read = samples(write_jsonl(media_dir / "m.jsonl", rows))
    assert scan.rows == 3 and scan.problem_count == 0 and scan.format == "manifest"
    assert [s.id for s in read] == ["s1", "s2", "s3"]
    assert read[0].answer == "B" and read[0].labels.l4 == "Shop Name" and read[0].input_type.value == "single"
    assert read[1].input_type.value == "multi" and read[1].weight == 2.5 and read[1].critical
    assert read[1].media[1].path == str((media_dir / "media" / "b.jpg").resolve())
    assert read[2].answer == {"open": True, "phone": "123"} and read[2].media[0].data == jpeg_bytes()


def test_every_bad_row_is_listed_with_its_line_and_reason(media_dir: Path) -> None:
    rows = [
        mcq_row("ok"),
        mcq_row("escape", image="../../etc/passwd"),
        mcq_row("ok"),  # duplicate id
        mcq_row("bad-letter", answer="E"),
        "{not json",
        mcq_row("missing", image="media/nope.jpg"),
        {**mcq_row("subset"), "subset": "Garage"},
        {**mcq_row("video-in-front"), "media": [{"type": "video", "path": "media/a.jpg"}]},
        {**mcq_row("extra"), "colour": "red"},
    ]
    path = write_jsonl(media_dir / "m.jsonl", rows)
    (media_dir / "m.jsonl").write_bytes(path.read_bytes() + b'{"id": "\xff\xfe"}\n')
    scan = scan_dataset(path)
    found = {p.row_number: (p.sample_id, p.field, p.reason) for p in scan.problems}
    assert scan.rows == 10 and scan.problem_count == 9
    assert "leaves the dataset root" in found[2][2] and found[2][1] == "media.0"
    assert found[3][1] == "id" and "first used at line 1" in found[3][2]
    assert "not one of the option letters A, B, C, D" in found[4][2]
    assert "not valid JSON" in found[5][2]
    assert "does not exist" in found[6][2]
    assert found[7][1] == "subset"
    assert "needs exactly one image" in found[8][2] or "holds single questions" in found[8][2]
    assert "unknown field" in found[9][2] and "colour" in found[9][2]
    assert "not valid UTF-8" in found[10][2]
    assert str(scan.problems[0]).startswith("m.jsonl line 2 (id 'escape'): media.0:")


def test_symlink_out_of_the_root_is_refused(media_dir: Path, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.jpg"
    outside.write_bytes(jpeg_bytes())
    (media_dir / "media" / "link.jpg").symlink_to(outside)
    scan = scan_dataset(write_jsonl(media_dir / "m.jsonl", [mcq_row("s", image="media/link.jpg")]))
    assert scan.problem_count == 1 and "leaves the dataset root" in scan.problems[0].reason


def test_error_rows_keep_every_input_row(media_dir: Path) -> None:
    path = write_jsonl(media_dir / "m.jsonl", [mcq_row("a"), mcq_row("a"), "[1, 2]", mcq_row("c")])
    scan = scan_dataset(path, rows_per_chunk=2)
    rows = [row for chunk in scan.chunks for row in read_rows(scan.suite, scan.reader, chunk, scan.duplicate_rows)]
    pa.Table.from_pylist(rows, schema=READ_SCHEMA)  # the rows fit the declared schema
    assert [r["status"] for r in rows] == ["ok", "error", "error", "ok"]
    assert rows[1]["sample_id"] == "a#line2" and "duplicate id" in rows[1]["error"]
    assert rows[2]["sample_id"] == "m.jsonl:3" and "must be a JSON object" in rows[2]["error"]
    assert len({r["sample_id"] for r in rows}) == 4


def test_chunks_cover_every_line_once_and_limit_cuts(media_dir: Path) -> None:
    path = write_jsonl(media_dir / "m.jsonl", [mcq_row(f"s{i}") for i in range(10)])
    path.write_text(path.read_text() + "\n\n")  # trailing blank lines are not samples
    scan = scan_dataset(path, rows_per_chunk=3)
    assert [c.rows for c in scan.chunks] == [3, 3, 3, 1] and scan.rows == 10
    limited = scan_dataset(path, rows_per_chunk=3, limit=5)
    assert limited.rows == 5
    assert [r.sample_id for r in iter_raw_rows(limited.reader, limited.chunks)] == [f"s{i}" for i in range(5)]
    assert (limited.coverage.evaluated_rows, limited.coverage.dataset_rows, limited.coverage.partial) == (5, 10, True)
    assert scan.coverage.partial is False and scan_dataset(path, rows_per_chunk=3, limit=10).coverage.partial is False


def test_parquet_manifest_with_hf_image_column(media_dir: Path) -> None:
    table = pa.table({
        "id": ["p1", "p2"],
        "format": ["mcq", "format"],
        "question": ["Which?", "Fields?"],
        "options": [["x", "y"], None],
        "answer": ["A", json.dumps({"count": 3})],
        "image": [{"bytes": jpeg_bytes(), "path": None}, {"bytes": None, "path": "media/a.jpg"}],
    })
    path = media_dir / "m.parquet"
    pq.write_table(table, path, row_group_size=1)
    scan, read = samples(path, rows_per_chunk=1)
    assert scan.problem_count == 0 and [c.first_row for c in scan.chunks] == [1, 2]
    assert read[0].media[0].data == jpeg_bytes() and read[1].answer == {"count": 3}
    assert read[1].media[0].path.endswith("media/a.jpg")


def test_seed_suite_reads_cases_and_thresholds(media_dir: Path, monkeypatch) -> None:
    suite = {
        "test_suite": {"name": "ShopBench零售场景测试套件", "version": "1.0.0"},
        "test_cases": [
            {"id": "TC001", "category": "商品识别", "subcategory": "食品识别", "image_path": "media/a.jpg",
             "question": "图片中有哪些食品商品？", "expected_answer": "苹果、香蕉", "test_type": "open_qa",
             "weight": 1.0},
            {"id": "TC003", "category": "场景理解", "subcategory": "店面布局", "image_path": "media/b.jpg",
             "question": "这家店的商品陈列存在什么问题？",
             "options": ["A. 通道太窄", "B. 商品分类混乱", "C. 照明不足", "D. 所有以上"],
             "expected_answer": "D", "test_type": "mcq", "weight": 1.5, "critical": True},
            {"id": "TC004", "category": "合规检查", "image_path": "media/a.jpg", "question": "Fields?",
             "expected_answer": '{"gloves": false}', "test_type": "structured"},
        ],
        "thresholds": {"overall_pass_rate": 0.85, "category_pass_rate": {"商品识别": 0.9}, "minimum_score": 0.8},
    }
    path = media_dir / "suite.json"
    path.write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    monkeypatch.chdir(media_dir)  # the article's image paths are relative to where its scripts ran
    scan, read = samples(path)
    assert scan.format == "seed_json" and scan.problem_count == 0
    assert read[0].format.value == "open" and read[0].labels.l2 == "商品识别" and read[0].labels.l3 == "食品识别"
    assert read[1].options == ("通道太窄", "商品分类混乱", "照明不足", "所有以上") and read[1].answer == "D"
    assert read[1].weight == 1.5 and read[1].critical and read[1].subset is None
    assert read[2].format.value == "format" and read[2].answer == {"gloves": False}
    thresholds = scan.suite_thresholds
    assert thresholds.min_pass_rate == 0.85 and thresholds.min_score == pytest.approx(80.0)
    assert thresholds.category_pass_rates == (("商品识别", 0.9),)


def test_seed_suite_null_category_rate_sets_no_threshold(media_dir: Path, monkeypatch) -> None:
    """A null rate is no threshold, as a null overall_pass_rate is: left out, so summary.json (whose rates are
    numbers) can store the suite's other thresholds at the end of the run."""
    suite = {
        "test_cases": [{"id": "TC001", "category": "商品识别", "image_path": "media/a.jpg", "question": "Which?",
                        "expected_answer": "apples", "test_type": "open_qa"}],
        "thresholds": {"overall_pass_rate": None, "category_pass_rate": {"商品识别": None, "场景理解": 0.7}},
    }
    path = media_dir / "suite.json"
    path.write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    monkeypatch.chdir(media_dir)
    thresholds = scan_dataset(path).suite_thresholds
    assert thresholds.min_pass_rate is None and thresholds.category_pass_rates == (("场景理解", 0.7),)
    stored = SuiteThresholdsInfo(**asdict(thresholds))
    assert stored.category_pass_rates == [("场景理解", 0.7)]


def test_vlmeval_tsv_with_shared_and_multi_images(media_dir: Path) -> None:
    image = b64(jpeg_bytes("green"))
    lines = [
        "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\tl2-category\timage",
        f"10\tWhat colour?\t\tred\tgreen\tblue\t\tB\tAttribute Recognition\tFine-grained\t{image}",
        "11\t\"Is it\nopen?\"\tLook at the sign\tyes\tno\t\t\tA\tBusiness Status\tCoarse Perception\t10",
        f"12\tCompare\t\tsame\tdifferent\t\t\tB\tAttribute Comparison\tCross-instance\t{json.dumps([image, image])}",
        "13\tBroken\t\tx\t\tz\t\tA\tOCR\tFine\t10",
        "14\tDangling\t\tx\ty\t\t\tA\tOCR\tFine\t99",
    ]
    path = media_dir / "bench.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scan = scan_dataset(path, rows_per_chunk=2)
    problems = {p.row_number: p for p in scan.problems}
    assert scan.rows == 5 and set(problems) == {6, 7}
    assert "gap" in problems[6].reason and "holds no image" in problems[7].reason
    ok = [scan.reader.to_sample(raw) for raw in iter_raw_rows(scan.reader, scan.chunks) if raw.row_number < 6]
    assert [s.id for s in ok] == ["10", "11", "12"]
    assert ok[0].options == ("red", "green", "blue") and ok[0].labels.l4 == "Attribute Recognition"
    assert ok[1].question == "Look at the sign\nIs it\nopen?" and ok[1].media[0].data == jpeg_bytes("green")
    assert ok[2].input_type.value == "multi" and len(ok[2].media) == 2


def test_auto_detection_and_clear_refusals(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DatasetError, match="cannot tell the format"):
        open_reader(tmp_path / "x.csv")
    with pytest.raises(DatasetError, match="does not exist"):
        open_reader(tmp_path / "missing.jsonl")
    (tmp_path / "t.tsv").write_text("index\tquestion\n1\tq\n")
    with pytest.raises(DatasetError, match="lacks column"):
        open_reader(tmp_path / "t.tsv")
