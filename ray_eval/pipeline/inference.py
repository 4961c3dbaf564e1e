"""Inference: an actor per client, many requests in flight per actor; a failed request is a row, not a crash."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pyarrow as pa

from ray_eval.config import SamplingConfig
from ray_eval.engines import ChatRequest, EngineError, EngineSpec, build_engine
from ray_eval.pipeline.stage import CARRIED, Stage, failed
from ray_eval.records import INFERRED_SCHEMA, PREPARED_SCHEMA, PROMPT_COLUMNS

PASSED_ON = CARRIED + [field.name for field in PROMPT_COLUMNS]


class InferenceStage(Stage):
    """A callable class for `map_batches` on an actor pool. Ray Data runs several batches of one actor at once
    (its async UDF support); the engine's own semaphore bounds the requests in flight per actor."""

    name = "inference"
    input_columns = tuple(PREPARED_SCHEMA.names)
    output_schema = INFERRED_SCHEMA

    def __init__(self, engine: EngineSpec, sampling: SamplingConfig):
        self.engine = build_engine(engine)  # one client (and connection pool) per actor, made once
        self.sampling = sampling

    async def __call__(self, batch: pa.Table) -> pa.Table:
        rows = self.rows(batch)
        return self.table(await asyncio.gather(*(self.infer(row) for row in rows)))

    async def infer(self, row: dict[str, Any]) -> dict[str, Any]:
        carried = {name: row[name] for name in PASSED_ON}
        if row["status"] != "ok":
            return carried
        request = ChatRequest(
            sample_id=row["sample_id"],
            messages=json.loads(row["messages_json"]),
            max_tokens=self.sampling.max_tokens,
            temperature=self.sampling.temperature,
            top_p=self.sampling.top_p,
            seed=self.sampling.seed,
            extra=json.loads(row["request_json"]) if row["request_json"] else {},
        )
        try:
            response = await self.engine.chat(request)
        except EngineError as exc:
            return failed(carried, self.name, exc.error_type, str(exc), engine_fault=exc.engine_fault) | {
                "attempts": exc.attempts, "latency_s": exc.latency_s, "answered_at": time.time()}
        return carried | {
            "answered_at": time.time(),
            "response": response.text,
            "finish_reason": response.finish_reason,
            "response_model": response.model,
            "latency_s": response.latency_s,
            "prompt_tokens": response.prompt_tokens,
            "completion_tokens": response.completion_tokens,
            "attempts": response.attempts,
        }
