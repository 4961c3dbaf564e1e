"""The generated guard suite (`ray-eval dataset guard`): the same bytes for a seed, balanced yes/no answers, answers
right by construction (the shapes counted back from the pixels), files the TSV reader reads without a problem, and
a scripted stand-in that answers each file from its answers so that its accuracy is the score."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from ray_eval.cli import main
from ray_eval.data.acceptable_answers import parse_answer_list
from ray_eval.data.dataset import iter_raw_rows, scan_dataset
from ray_eval.demo.guard import (
    BACKGROUND,
    GUARD_FILES,
    SHAPE_COLOURS,
    balanced_answers,
    count_question,
    guard_questions,
    write_guard_suite,
    yes_no_question,
)
from ray_eval.records import Sample
from ray_eval.scoring import ScoringTarget, get_scorer
from ray_eval.testing.oracle import oracle_answer

N = 24
SCORER = {"ocr": "ocr_contains_any", "count": "choice", "yesno": "yes_no"}
COLOUR_BY_WORD = {colour.en: colour.rgb for colour in SHAPE_COLOURS}


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in GUARD_FILES.values()}


def test_the_same_seed_writes_the_same_bytes_and_another_seed_other_files(tmp_path: Path) -> None:
    first = write_guard_suite(tmp_path / "a", N, seed=3)
    write_guard_suite(tmp_path / "b", N, seed=3)
    write_guard_suite(tmp_path / "c", N, seed=4)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert all(a != c for a, c in zip(digests(tmp_path / "a").values(), digests(tmp_path / "c").values(),
                                      strict=True))
    assert {kind: path.name for kind, path in first.files.items()} == GUARD_FILES
    assert not list((tmp_path / "a").glob("*.partial"))


@pytest.mark.parametrize("n", [1, 7, 30])
def test_yes_no_answers_are_balanced(n: int) -> None:
    answers = [question.answer for question in guard_questions("yesno", n, seed=0)]
    assert answers.count("Yes") == (n + 1) // 2 and answers.count("No") == n // 2
    assert balanced_answers(0, 30) != balanced_answers(1, 30)  # the order is the seed's, not fixed


def shapes_in(png: bytes) -> list[tuple[tuple[int, int, int], str]]:
    """(colour, kind) of every shape drawn, read back from the pixels: each connected region of one colour, its kind
    from how much of its bounding box it fills (square 1, circle pi/4, triangle 1/2)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    found = []
    for colour in SHAPE_COLOURS:
        labels, count = ndimage.label(np.all(pixels == colour.rgb, axis=-1))
        for region in ndimage.find_objects(labels):
            fill = (labels[region] > 0).mean()
            found.append((colour.rgb, "square" if fill > 0.95 else "circle" if fill > 0.7 else "triangle"))
    packed = np.unique(pixels.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.uint32))
    allowed = {(r << 16) | (g << 8) | b for r, g, b in (*COLOUR_BY_WORD.values(), BACKGROUND)}
    assert set(packed.tolist()) <= allowed  # flat fills: no pixel of a blended colour
    return found


def test_count_answers_are_right_by_construction() -> None:
    letters = set()
    for position in range(N):
        question = count_question(0, position)
        kind = question.question.removeprefix("How many ").split("s are")[0]
        counted = sum(found == kind for _, found in shapes_in(question.png))
        assert question.options[ord(question.answer) - ord("A")] == str(counted), question.index
        assert len(question.options) == 4 and question.category == kind
        letters.add(question.answer)
    assert letters == {"A", "B", "C", "D"}  # the answer is not always in one place


def test_yes_no_answers_are_right_by_construction() -> None:
    categories = set()
    for position, yes in enumerate(balanced_answers(0, N)):
        question = yes_no_question(0, position, yes)
        colour_word, kind = question.question.removeprefix("Is there a ").split(" in the picture")[0].split(" ")
        drawn = shapes_in(question.png)
        present = (COLOUR_BY_WORD[colour_word], kind) in drawn
        assert question.answer == ("Yes" if present else "No"), question.index
        assert len({colour for colour, _ in drawn}) == len(drawn)  # each shape a colour of its own
        categories.add(question.category)
    assert categories == {"present", "colour absent", "other shape"}


def test_the_files_read_cleanly_with_small_images_and_lists_of_acceptable_answers(tmp_path: Path) -> None:
    files = write_guard_suite(tmp_path, N, seed=0).files
    for kind, path in files.items():
        scan = scan_dataset(path)
        assert (scan.rows, scan.problem_count, scan.format) == (N, 0, "vlmeval_tsv")
        samples = [scan.reader.to_sample(raw) for raw in iter_raw_rows(scan.reader, scan.chunks)]
        assert {sample.format.value for sample in samples} == {"mcq" if kind == "count" else "open"}
        for sample in samples:
            image = Image.open(io.BytesIO(sample.media[0].data or b""))
            assert max(image.size) <= 448 and image.format == "PNG"
    ocr = [scan.reader.to_sample(raw) for scan in [scan_dataset(files["ocr"])]
           for raw in iter_raw_rows(scan.reader, scan.chunks)]
    lists = [parse_answer_list(str(sample.answer)) for sample in ocr]
    assert any(listed is None for listed in lists)  # some answers are one string
    assert all(len(listed) >= 2 for listed in lists if listed is not None)
    assert {sample.labels.l4 for sample in ocr} == {"name", "weight", "price", "code"}


def scored(sample: Sample, reply: str, scorer: str) -> float:
    target = ScoringTarget(sample.format.value, sample.options, sample.answer_text())
    return get_scorer(scorer)(reply, target).score


def test_the_scripted_stand_in_answers_each_file_right_or_wrong(tmp_path: Path) -> None:
    """Right: the file's answer as the stand-in says it (the first acceptable answer of a list) scores 1; wrong, 0."""
    for kind, path in write_guard_suite(tmp_path, N, seed=0).files.items():
        scan = scan_dataset(path)
        for raw in iter_raw_rows(scan.reader, scan.chunks):
            sample = scan.reader.to_sample(raw)
            assert scored(sample, oracle_answer(sample, True, 0), SCORER[kind]) == 1.0, sample.id
            assert scored(sample, oracle_answer(sample, False, 0), SCORER[kind]) == 0.0, sample.id
            listed = parse_answer_list(sample.answer_text())
            if listed is not None:
                assert oracle_answer(sample, True, 0) == listed[0]


def test_the_command_writes_the_three_files_and_refuses_a_file_in_the_way(tmp_path: Path, capsys) -> None:
    assert main(["dataset", "guard", "--out", str(tmp_path / "guard"), "--n", "5", "--seed", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote 5 questions to {tmp_path / 'guard' / name}" for name in GUARD_FILES.values()]
    assert digests(tmp_path / "guard") == digests(write_guard_suite(tmp_path / "again", 5, 1).files["ocr"].parent)
    (tmp_path / "taken").write_text("not a folder")
    assert main(["dataset", "guard", "--out", str(tmp_path / "taken" / "guard")]) == 2
    err = capsys.readouterr().err
    assert err == f"ray-eval: --out {tmp_path / 'taken' / 'guard'}: cannot write there (Not a directory: " \
                  f"{tmp_path / 'taken' / 'guard'})\n"
