"""The scripted stand-in model behind `engine.kind: scripted`: a ScriptedOpenAIServer that answers from the
dataset's own reference answers, right with a set probability. It exercises the whole job (real Ray, real HTTP)
where no model can run; its scores measure nothing but the pipeline."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator

from ray_eval.config import ScriptedEngineConfig
from ray_eval.data.acceptable_answers import AnswerListError, acceptable_answers
from ray_eval.data.dataset import DatasetScan, RunScan, iter_raw_rows
from ray_eval.data.readers import SampleInvalid
from ray_eval.data.taxonomy import AnswerFormat, option_letter
from ray_eval.records import Sample
from ray_eval.testing import ChatRequestInfo, Reply, ScriptedOpenAIServer, random_choice


def _draw(seed: int, sample_id: str, purpose: str) -> float:
    """A number in [0, 1) fixed by (seed, sample, purpose): the same run gives the same answers."""
    digest = hashlib.sha256(f"{seed}:{purpose}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def oracle_answer(sample: Sample, correct: bool, seed: int) -> str:
    """What the stand-in says: the reference answer, or a plausible wrong one."""
    if sample.format is AnswerFormat.MCQ:
        if correct:
            return f"The answer is {sample.answer}."
        wrong = [option_letter(i) for i in range(len(sample.options)) if option_letter(i) != sample.answer]
        return wrong[int(_draw(seed, sample.id, "wrong") * len(wrong))]
    if sample.format is AnswerFormat.FORMAT:
        answer = dict(sample.answer)  # type: ignore[arg-type]
        if not correct and answer:
            first = sorted(answer)[0]
            answer[first] = "unknown"
        return "```json\n" + json.dumps(answer, ensure_ascii=False) + "\n```"
    return _first_acceptable(str(sample.answer)) if correct else "I cannot tell from the picture."


def _first_acceptable(answer: str) -> str:
    """An open answer as a model would say it: the first of several acceptable answers (OCR suites), else the text.
    A malformed list is said as it is: ocr_contains_any makes that row's error, and other scorers read it as text."""
    try:
        return acceptable_answers(answer)[0]
    except AnswerListError:
        return answer


SampleKey = tuple[str | None, str]  # (suite, sample id): sample ids are unique within a suite


def oracle_answers(scan: DatasetScan, config: ScriptedEngineConfig
                   ) -> tuple[dict[SampleKey, str], dict[SampleKey, str]]:
    """The stand-in's answer per (suite, sample id), with its media and without (the blind pass: an independent
    draw)."""
    answers: dict[SampleKey, str] = {}
    blind_answers: dict[SampleKey, str] = {}
    for raw in iter_raw_rows(scan.reader, scan.chunks):
        try:
            sample = scan.reader.to_sample(raw)
        except SampleInvalid:
            continue  # an invalid row never reaches the engine
        key = (scan.suite, sample.id)
        if key in answers:
            continue  # a duplicate id becomes an error row; the first row of the id is the one answered
        answers[key] = oracle_answer(sample, _draw(config.seed, sample.id, "correct") < config.accuracy, config.seed)
        if sample.media:
            blind_answers[key] = oracle_answer(
                sample, _draw(config.seed, sample.id, "blind") < config.blind_accuracy, config.seed)
    return answers, blind_answers


@contextlib.contextmanager
def scripted_server_for(config: ScriptedEngineConfig, scans: RunScan) -> Iterator[ScriptedOpenAIServer]:
    """The stand-in for a run's suites: it answers each request from its suite's (the request's header) sample."""
    if config.policy == "random":
        policy = random_choice(config.seed)
    else:
        answers: dict[SampleKey, str] = {}
        blind_answers: dict[SampleKey, str] = {}
        for scan in scans.suites:
            suite_answers, suite_blind = oracle_answers(scan, config)
            answers.update(suite_answers)
            blind_answers.update(suite_blind)

        def policy(info: ChatRequestInfo) -> Reply:
            # A request without media for a sample that has some is its blind pass: answered from the blind draw.
            key = (info.suite, info.sample_id or "")
            blind = info.image_count + info.video_count == 0 and key in blind_answers
            text = (blind_answers if blind else answers).get(key, "I do not know this question.")
            return Reply.text(text, delay_s=config.latency_s)

    with ScriptedOpenAIServer(default=policy, model=config.model, record_requests=False) as server:
        yield server
