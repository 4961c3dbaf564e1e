"""The Ray Data pipeline: read -> preprocess -> inference -> scoring (-> judge), streamed to the driver's writer.

Reading, preprocessing, inference and scoring run in one actor pool (SampleStage), and Ray Data fuses the read tasks
into it too: measured on 2 cores (BENCHMARKS.md), every operator and every hop between them cost start-up and
CPU per sample (an operator's tasks, a process per actor, each block serialised through the object store), and
kept the engine waiting. The judge keeps actors of its own: it waits on another engine. Preprocessing's own parts sit
beside the stages: media decoding (media.py), the chat messages (prompts.py) and the prompt's token estimate
(tokens.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import ray.data

from ray_eval.config import EvalConfig
from ray_eval.data.dataset import RunScan, ShopBenchDatasource
from ray_eval.engines import EngineSpec
from ray_eval.pipeline.inference import InferenceStage
from ray_eval.pipeline.judge import JudgeSetup, JudgeStage
from ray_eval.pipeline.preprocess import PreprocessStage
from ray_eval.pipeline.sample_stage import SampleStage
from ray_eval.pipeline.scoring import ScoringStage, SuiteScoring
from ray_eval.pipeline.sizing import InferenceSizing, size_inference

JUDGE_ACTOR_CPUS = 0.25  # a judge actor waits on its engine


def build_pipeline(scan: RunScan, config: EvalConfig, engine: EngineSpec, sizing: InferenceSizing,
                   judge: JudgeSetup | None = None, skip: Mapping[str, frozenset[str]] | None = None,
                   watch: Any = None) -> ray.data.Dataset:
    """The lazy dataset of result rows (RESULT_SCHEMA); nothing runs until it is iterated. `sizing`: the inference
    actors' sizes (each actor's client keeps sizing.max_in_flight_per_actor requests in flight, whatever `engine`
    says); `judge` is required when a format's scorer is the judge; `skip`: sample ids a resumed run already has,
    by suite;
    `watch`: the run's engine watch (ray_eval/cluster/engine_watch.py), told of every try.

    Rows leave the inference actors a batch at a time, as soon as the batch is answered, and reach the driver in
    blocks of that size: a block is a checkpoint's unit and a slow request's reach. The read tasks make the blocks
    (ShopBenchDatasource: one block per task), since Ray Data merges what a task yields into one block."""
    suites = config.evaluated_suites()
    judged = config.judge_scoring is not None  # a suite's answers the judge's own stage scores
    if judged and judge is None:
        raise ValueError("the config routes answers to the judge, but no judge engine was given")
    source = ShopBenchDatasource(scan, skip or {}, {suite.name: suite.dataset.rows_per_read_task or sizing.batch_size
                                                    for suite in suites})
    # As many blocks as read tasks: Ray Data would otherwise split each task's block to reach its own parallelism.
    # The same CPUs as the actors: Ray Data fuses the read into them only then.
    dataset = ray.data.read_datasource(source, override_num_blocks=source.read_task_count,
                                       num_cpus=config.inference.num_cpus_per_actor)
    scoring = {suite.name: suite.scoring for suite in suites}
    SuiteScoring(scoring)  # checks the scorer names and the model folders here, before anything runs
    dataset = dataset.map_batches(
        SampleStage,
        fn_constructor_kwargs={"preprocess": config.preprocess, "blind_pass": config.diagnostics.blind_pass,
                               "engine": dataclasses.replace(engine, max_in_flight=sizing.max_in_flight_per_actor),
                               "sampling": config.inference.sampling, "scoring": scoring, "watch": watch},
        compute=ray.data.ActorPoolStrategy(size=sizing.actors,
                                           max_concurrent_calls_per_actor=sizing.batches_per_actor),
        batch_format="pyarrow",
        batch_size=None,  # a whole read task's block, one batch: its rows leave the actor together
        num_cpus=config.inference.num_cpus_per_actor,
    )
    if not judged:
        return dataset
    assert judge is not None  # judged formats without a judge were refused above
    return dataset.map_batches(
        JudgeStage,
        fn_constructor_kwargs={"setup": judge},
        compute=ray.data.ActorPoolStrategy(size=judge.config.actors),
        batch_format="pyarrow",
        batch_size=judge.config.batch_size,
        num_cpus=JUDGE_ACTOR_CPUS,
    )


def pipeline_cpus_besides_inference(config: EvalConfig) -> float:
    """The CPUs the pipeline's other actors hold (the judge's): the inference actors must leave them free."""
    scoring = config.judge_scoring
    return scoring.judge.actors * JUDGE_ACTOR_CPUS if scoring is not None and scoring.judge is not None else 0.0


__all__ = ["InferenceSizing", "InferenceStage", "JudgeSetup", "JudgeStage", "PreprocessStage", "ScoringStage",
           "build_pipeline", "pipeline_cpus_besides_inference", "size_inference"]
