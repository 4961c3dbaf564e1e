"""Preprocess, inference and scoring of a batch in one actor: no hop through the object store between them, no
operator of their own to schedule, and requests go out as soon as their batch is prepared."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from ray_eval.config import PreprocessConfig, SamplingConfig, ScoringConfig
from ray_eval.engines import EngineSpec
from ray_eval.pipeline.inference import InferenceStage
from ray_eval.pipeline.preprocess import PreprocessStage
from ray_eval.pipeline.scoring import SuiteScoring
from ray_eval.pipeline.stage import Stage
from ray_eval.records import READ_SCHEMA, RESULT_SCHEMA


class SampleStage(Stage):
    """A callable class for `map_batches` on an actor pool: each batch goes through PreprocessStage, InferenceStage
    and each row's suite's ScoringStage in turn, as rows (one conversion from and to Arrow per batch). Preprocessing
    (in one thread of its own) and scoring run off the event loop, so that the actor's other batches keep their
    requests moving. With a `watch`, rows the run's stop cut short come back as STOPPED rows (InferenceStage), which
    scoring passes through."""

    name = "sample"
    input_columns = tuple(READ_SCHEMA.names)
    output_schema = RESULT_SCHEMA

    def __init__(self, preprocess: PreprocessConfig, blind_pass: bool, engine: EngineSpec, sampling: SamplingConfig,
                 scoring: Mapping[str, ScoringConfig], watch: Any = None):
        self.preprocess = PreprocessStage(preprocess, blind_pass=blind_pass)
        # One thread prepares the batches: decoding turns Pillow's bomb warning into an error with a warnings filter,
        # which is process-wide state that concurrent threads would set and reset under each other.
        self.preparing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ray-eval-prepare")
        self.inference = InferenceStage(engine, sampling, watch)
        self.scoring = SuiteScoring(scoring)  # by suite name

    async def __call__(self, batch: pa.Table) -> pa.Table:
        prepared = await asyncio.get_running_loop().run_in_executor(self.preparing, self.preprocess.prepare_rows,
                                                                    self.rows(batch))
        answered = await self.inference.answer(prepared)
        return self.table(await asyncio.to_thread(self.scoring.score_rows, answered))
