"""The TSV reader on the guard suites users already have (VLMEvalKit's offline form): MCQ (MMStar, MMBench), yes/no
(MME, POPE) and OCR with several acceptable answers (OCRBench). A bad row is an error row naming its line and field;
every input row ends as exactly one row."""

from __future__ import annotations

import json
from pathlib import Path

from ray_eval.data.dataset import iter_raw_rows, read_rows, scan_dataset
from tests.conftest import b64, jpeg_bytes

IMAGE = b64(jpeg_bytes("red"))


def write_tsv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_all(path: Path) -> tuple[dict[int, str], list[dict]]:
    """(reason of each bad row by line number, every READ_SCHEMA row the run would read)."""
    scan = scan_dataset(path, rows_per_chunk=2)
    rows = [row for chunk in scan.chunks for row in read_rows(scan.suite, scan.reader, chunk, scan.duplicate_rows)]
    return {problem.row_number: str(problem) for problem in scan.problems}, rows


def test_mcq_suite_mmstar_style(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "mmstar.tsv", [
        "index\tquestion\tA\tB\tC\tD\tanswer\tcategory\tl2-category\timage",
        f"0\tHow many shapes?\t1\t2\t3\t4\tC\tcounting\tfine-grained perception\t{IMAGE}",
        f"1\tWhich colour?\tred\tgreen\tblue\tgrey\tA\tcolour\tcoarse perception\t{IMAGE}",
        f"2\tWhich shape?\tcircle\tsquare\ttriangle\tstar\tE\tshape\tcoarse perception\t{IMAGE}",
    ])
    problems, rows = read_all(path)
    assert len(rows) == 3 and list(problems) == [4]
    assert "mmstar.tsv line 4" in problems[4] and "answer" in problems[4] and "'E'" in problems[4]
    assert [row["format"] for row in rows[:2]] == ["mcq", "mcq"] and rows[0]["options"] == ["1", "2", "3", "4"]
    assert [row["status"] for row in rows] == ["ok", "ok", "error"] and rows[2]["sample_id"] == "2"


def test_yes_no_suite_mme_style(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "mme.tsv", [
        "index\tcategory\timage\tquestion\tanswer",
        f"0\texistence\t{IMAGE}\tIs there a red circle in the image? Please answer yes or no.\tYes",
        f"1\texistence\t{IMAGE}\tIs there a blue square in the image? Please answer yes or no.\tNo",
        "2\texistence\t\tIs there a dog? Please answer yes or no.\tNo",
    ])
    problems, rows = read_all(path)
    assert len(rows) == 3 and list(problems) == [4] and "image" in problems[4]
    assert [(row["format"], row["answer"], row["options"]) for row in rows[:2]] == [
        ("open", "Yes", []), ("open", "No", [])]
    assert rows[0]["l4"] == "existence" and rows[2]["status"] == "error"


def test_ocr_suite_ocrbench_style_lists_and_strings(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "ocrbench.tsv", [
        "index\timage\tquestion\tanswer\tcategory",
        f"0\t{IMAGE}\twhat is written in the image?\t['Centre', 'centre']\tRegular Text Recognition",
        f"1\t{IMAGE}\tWhat weight is printed?\t[\"350 g\", \"350g\"]\tKey Information Extraction",
        f"2\t{IMAGE}\tWhat is written?\tFRESH MILK\tRegular Text Recognition",
        f"3\t{IMAGE}\tWhat is written?\t[closed\"]\tRegular Text Recognition",
        f"4\t{IMAGE}\tWhat is written?\t[]\tRegular Text Recognition",
    ])
    problems, rows = read_all(path)
    assert len(rows) == 5 and list(problems) == [5, 6]
    assert "ocrbench.tsv line 5" in problems[5] and "answer" in problems[5]
    assert "neither a JSON nor a Python list" in problems[5]
    assert "line 6" in problems[6] and "must be a non-empty list" in problems[6]
    # Lists travel as one canonical JSON list in the answer text; a plain string stays as it is.
    assert [row["answer"] for row in rows[:3]] == ['["Centre", "centre"]', '["350 g", "350g"]', "FRESH MILK"]
    assert json.loads(rows[0]["answer"]) == ["Centre", "centre"]
    assert [row["status"] for row in rows] == ["ok", "ok", "ok", "error", "error"]
    assert rows[3]["error"].startswith("answer: ") and rows[3]["sample_id"] == "3"


def test_a_list_answer_is_only_read_for_open_questions(tmp_path: Path) -> None:
    """An MCQ answer is a letter and a format answer JSON: neither is taken for a list of acceptable answers."""
    path = write_tsv(tmp_path / "mixed.tsv", [
        "index\tquestion\tA\tB\tanswer\tformat\timage",
        f"0\tWhich?\tx\ty\tA\tmcq\t{IMAGE}",
        f"1\tFields?\t\t\t{{\"open\": true}}\tformat\t{IMAGE}",
    ])
    scan = scan_dataset(path)
    samples = [scan.reader.to_sample(raw) for raw in iter_raw_rows(scan.reader, scan.chunks)]
    assert [sample.answer for sample in samples] == ["A", {"open": True}]
