"""Judge stage: open answers the scoring stage routed to the judge (scorer "judge", score null) are graded by an LLM
judge with a fixed rubric at temperature 0; verdicts are cached on disk. A judge failure is an error row carrying the
judge's raw reply, never a guessed score. Every other row passes through untouched."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ray_eval.config import JUDGE_SCORER, EvalConfig, JudgeConfig
from ray_eval.engines import ChatRequest, EngineError, EngineSpec, build_engine
from ray_eval.pipeline.stage import Stage, failed
from ray_eval.records import RESULT_SCHEMA
from ray_eval.scoring.judge import (
    RUBRIC_VERSION,
    JudgeVerdict,
    JudgeVerdictError,
    VerdictCache,
    cache_key,
    judge_messages,
    parse_verdict,
)
from ray_eval.scoring.text import strip_reasoning

_log = logging.getLogger(__name__)
JUDGE_SEED = 0  # with temperature 0: the same inputs get the same verdict from the same judge


@dataclass(frozen=True)
class JudgeSetup:
    """What a judge actor needs: the judge's engine (key resolved on the driver), its config, where the verdict
    cache lives, and the pass mark of a judged answer."""

    engine: EngineSpec
    config: JudgeConfig
    cache_dir: Path
    pass_threshold: float


def judge_setup(config: EvalConfig, environ: Mapping[str, str]) -> JudgeSetup | None:
    """The run's judge, when a suite's scorer is the judge (suites that use it share one: EvalConfig refuses two)."""
    scoring = config.judge_scoring
    if scoring is None or scoring.judge is None:
        return None
    judge = scoring.judge
    cache_dir = judge.cache_dir or Path(config.run.out_dir) / "judge-cache"
    return JudgeSetup(EngineSpec.of(judge.engine, environ, judge.max_in_flight_per_actor), judge, cache_dir,
                      scoring.open_pass_threshold)


class JudgeStage(Stage):
    """A callable class for `map_batches` on an actor pool; the rows of one batch are judged concurrently, the
    engine's semaphore bounding the requests in flight per actor."""

    name = "judge"
    input_columns = tuple(RESULT_SCHEMA.names)
    output_schema = RESULT_SCHEMA

    def __init__(self, setup: JudgeSetup):
        self.setup = setup
        self.model = setup.engine.config.model
        self.engine = build_engine(setup.engine)  # one client (and connection pool) per actor, made once
        self.redact = setup.engine.redactor  # the judge may echo its key: its reply is stored, cached and parsed
        self.cache = VerdictCache(setup.cache_dir)

    async def __call__(self, batch: pa.Table) -> pa.Table:
        rows = self.rows(batch)
        return self.table(await asyncio.gather(*(self.judge(row) for row in rows)))

    async def judge(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["status"] != "ok" or row["scorer"] != JUDGE_SCORER or row["score"] is not None:
            return row
        answer = strip_reasoning(row["response"] or "")
        if not answer:
            return row | {"score": 0.0, "passed": False, "unparsed": True, "extracted": None,
                          "score_details": self.details(note="empty answer (after removing any reasoning block)")}
        key = cache_key(row["question"], row["answer"], answer, self.model)
        cached = self.cached(key)
        if cached is not None:
            return self.scored(row, answer, *cached, from_cache=True)
        raw = None
        try:
            response = await self.engine.chat(self.request(row, answer))
            raw = self.redact(response.text)
            verdict = parse_verdict(raw)
        except EngineError as exc:  # the judge's engine failing (engine_fault) is no more the model's than its own
            return self.unjudged(failed(row, self.name, exc.error_type, self.redact(str(exc)),
                                        engine_fault=exc.engine_fault), answer, raw)
        except JudgeVerdictError as exc:
            return self.unjudged(failed(row, self.name, type(exc).__name__, self.redact(str(exc))), answer, raw)
        self.store(key, raw, verdict)
        return self.scored(row, answer, raw, verdict, from_cache=False)

    def unjudged(self, row: dict[str, Any], answer: str, raw: str | None) -> dict[str, Any]:
        """A failed row of the judge's: scored as a wrong answer, its reply (if any) kept."""
        return row | {"score": 0.0, "passed": False, "unparsed": False, "extracted": answer, "judge_verdict": raw,
                      "score_details": self.details(cached=False)}

    def request(self, row: dict[str, Any], answer: str) -> ChatRequest:
        return ChatRequest(
            sample_id=row["sample_id"],  # the judge's logs (and scripted test servers) tie a request to its sample
            messages=judge_messages(row["question"], row["answer"], answer),
            max_tokens=self.setup.config.max_tokens,
            temperature=0.0,
            seed=JUDGE_SEED,
        )

    def scored(self, row: dict[str, Any], answer: str, raw: str, verdict: JudgeVerdict, *,
               from_cache: bool) -> dict[str, Any]:
        return row | {
            "score": verdict.score,
            "passed": verdict.score >= self.setup.pass_threshold,
            "unparsed": False,
            "extracted": answer,
            "scorer": JUDGE_SCORER,
            "judge_verdict": raw,
            "score_details": self.details(grade=verdict.grade, reason=verdict.reason, cached=from_cache),
        }

    def details(self, **fields: Any) -> str:
        return json.dumps({"judge_model": self.model, "rubric_version": RUBRIC_VERSION, **fields}, ensure_ascii=False)

    def cached(self, key: str) -> tuple[str, JudgeVerdict] | None:
        """The cached raw reply and its verdict, re-read with today's parser; anything unreadable is a miss."""
        record = self.cache.get(key)
        raw = record.get("raw") if record else None
        if not isinstance(raw, str):
            return None
        raw = self.redact(raw)  # a cache written before replies were redacted may hold the key
        try:
            return raw, parse_verdict(raw)
        except JudgeVerdictError:
            return None

    def store(self, key: str, raw: str, verdict: JudgeVerdict) -> None:
        record = {"raw": raw, "grade": verdict.grade, "reason": verdict.reason, "judge_model": self.model,
                  "rubric_version": RUBRIC_VERSION}
        try:
            self.cache.put(key, record)
        except OSError as exc:  # a full or read-only cache disk costs a later re-judge, not this verdict
            _log.warning("judge cache: cannot store %s: %s", key, exc)
