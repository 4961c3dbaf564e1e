"""Inference: an actor per client, many requests in flight per actor; a failed request is a row, not a crash."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from ray_eval.cluster.engine_watch import WatchReporter
from ray_eval.config import SamplingConfig
from ray_eval.engines import ChatRequest, EngineError, EngineSpec, build_engine
from ray_eval.pipeline.stage import CARRIED, Stage, failed
from ray_eval.records import INFERRED_SCHEMA, PREPARED_SCHEMA, PROMPT_COLUMNS, STOPPED

PASSED_ON = CARRIED + [field.name for field in PROMPT_COLUMNS]


class InferenceStage(Stage):
    """A callable class for `map_batches` on an actor pool. Each actor runs several batches at once (the pipeline's
    max_concurrent_calls_per_actor), so one slow request holds back only its own small batch; the engine's own
    semaphore bounds the requests in flight per actor. With a `watch` (ray_eval/cluster/engine_watch.py) every try
    is reported, and once the watch stops the run, the batches still waiting are cut short: what came back is kept,
    the rest become STOPPED rows that the driver leaves out."""

    name = "inference"
    input_columns = tuple(PREPARED_SCHEMA.names)
    output_schema = INFERRED_SCHEMA

    def __init__(self, engine: EngineSpec, sampling: SamplingConfig, watch: Any = None):
        self.reporter = WatchReporter(watch) if watch is not None else None
        self.engine = build_engine(engine, self.reporter)  # one client (and connection pool) per actor, made once
        self.redact = engine.redactor  # a server may echo its key in an error or an answer: never kept
        self.sampling = sampling

    async def __call__(self, batch: pa.Table) -> pa.Table:
        return self.table(await self.answer(self.rows(batch)))

    async def answer(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every row's request sent at once (the engine client bounds those in flight); the rows with answers."""
        requests = [asyncio.ensure_future(self.infer(row)) for row in rows]
        if self.reporter is None:
            return list(await asyncio.gather(*requests))
        await _until_stopped(requests, self.reporter.stopped)
        return [request.result() if not request.cancelled() else self.cut_short(row)
                for request, row in zip(requests, rows, strict=True)]

    async def infer(self, row: dict[str, Any]) -> dict[str, Any]:
        # A row that failed before (read, preprocess) lacks the prompt columns: None, as in its Arrow row.
        carried = {name: row.get(name) for name in PASSED_ON}
        if row["status"] != "ok":
            return carried
        request = ChatRequest(
            sample_id=row["sample_id"],
            suite=row["suite"],
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
            return failed(carried, self.name, exc.error_type, self.redact(str(exc)), engine_fault=exc.engine_fault) | {
                "attempts": exc.attempts, "latency_s": exc.latency_s, "answered_at": time.time()}
        return carried | {
            "answered_at": time.time(),
            "response": self.redact(response.text),
            "finish_reason": response.finish_reason,
            "response_model": response.model,
            "latency_s": response.latency_s,
            "prompt_tokens": response.prompt_tokens,
            "completion_tokens": response.completion_tokens,
            "attempts": response.attempts,
        }

    def cut_short(self, row: dict[str, Any]) -> dict[str, Any]:
        """A row whose request the run's stop cut short: no result, only the sample (the driver drops it)."""
        return {name: row.get(name) for name in PASSED_ON} | {"status": STOPPED}


async def _until_stopped(requests: Sequence[asyncio.Future[Any]], stopped: asyncio.Event) -> None:
    """Wait until every request is done, or until `stopped` is set: then cancel those still running (their slots of
    the engine's semaphore and their connections are let go before this returns)."""
    everything = asyncio.gather(*requests, return_exceptions=True)  # a request's own exception is re-raised by result()
    stop = asyncio.ensure_future(stopped.wait())
    either: set[asyncio.Future[Any]] = {everything, stop}
    try:
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    for request in requests:
        request.cancel()
    await everything
