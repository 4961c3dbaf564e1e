"""The generated set and the scorers agree: a model that reads the pictures right scores full marks, a random
one scores near chance (25 % on four-option MCQ, near 0 elsewhere)."""

from __future__ import annotations

import json
import random

import pytest

from ray_eval.data.dataset import iter_raw_rows, scan_dataset
from ray_eval.demo.synth import synthesize
from ray_eval.scoring import ScoringTarget, get_scorer


@pytest.fixture(scope="module")
def synth_samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, 240, seed=11)
    scan = scan_dataset(out / "manifest.jsonl")
    assert scan.problem_count == 0
    return [scan.reader.to_sample(raw) for raw in iter_raw_rows(scan.reader, scan.chunks)]


def score(sample, response: str) -> float:
    name = {"mcq": "choice", "format": "structured", "open": "token_f1"}[sample.format.value]
    target = ScoringTarget(format=sample.format.value, options=sample.options, answer=sample.answer_text(),
                           answer_schema=sample.answer_schema)
    return get_scorer(name)(response, target).score


def test_right_answers_in_a_models_words_score_full_marks(synth_samples) -> None:
    for sample in synth_samples:
        if sample.format.value == "mcq":
            response = f"The answer is {sample.answer}."
        elif sample.format.value == "format":
            response = "Here is the JSON:\n```json\n" + json.dumps(sample.answer, ensure_ascii=False) + "\n```"
        else:
            response = str(sample.answer)
        assert score(sample, response) == 1.0, (sample.id, response)


def test_a_random_model_scores_near_chance(synth_samples) -> None:
    rng = random.Random(5)
    by_format: dict[str, list[float]] = {"mcq": [], "format": [], "open": []}
    for sample in synth_samples:
        if sample.format.value == "mcq":
            response = rng.choice("ABCD"[: len(sample.options)])
        elif sample.format.value == "format":
            response = json.dumps({key: rng.choice(["yes", 3, "red", None]) for key in sample.answer})
        else:
            response = rng.choice(["I am not sure.", "blue", "3", "不知道", "open"])
        by_format[sample.format.value].append(score(sample, response))
    mean = {fmt: sum(values) / len(values) for fmt, values in by_format.items()}
    assert len(by_format["mcq"]) >= 60
    assert 0.1 <= mean["mcq"] <= 0.4, mean
    assert mean["format"] <= 0.3 and mean["open"] <= 0.2, mean
