"""The Ray Data pipeline: read -> preprocess -> inference -> scoring, streamed to the driver's writer."""

from __future__ import annotations

import dataclasses
from typing import Any

import ray.data

from ray_eval.config import EMBEDDING_SCORER, EvalConfig
from ray_eval.engines import EngineSpec
from ray_eval.pipeline.inference import InferenceStage
from ray_eval.pipeline.judge import JudgeSetup, JudgeStage
from ray_eval.pipeline.preprocess import PreprocessStage
from ray_eval.pipeline.scoring import ScoringStage
from ray_eval.pipeline.sizing import InferenceSizing, size_inference
from ray_eval.shopbench.dataset import DatasetScan, ShopBenchDatasource


def build_pipeline(scan: DatasetScan, config: EvalConfig, engine: EngineSpec, sizing: InferenceSizing,
                   judge: JudgeSetup | None = None, skip: frozenset[str] = frozenset(),
                   watch: Any = None) -> ray.data.Dataset:
    """The lazy dataset of result rows (RESULT_SCHEMA); nothing runs until it is iterated. `sizing`: the inference
    actors' sizes (each actor's client keeps sizing.max_in_flight_per_actor requests in flight, whatever `engine`
    says); `judge` is required when a format's scorer is the judge; `skip`: sample ids a resumed run already has;
    `watch`: the run's engine watch (engine_watch.py), told of every try.

    Rows leave the inference actors a batch at a time, as soon as the batch is answered, and reach the driver in
    blocks of at most that size: a block is a checkpoint's unit and a slow request's reach. Ray Data would otherwise
    pack each stage's output into blocks of up to 128 MiB (some 70 samples with their images), one per task."""
    if config.scoring.judged_formats and judge is None:
        raise ValueError("the config routes answers to the judge, but no judge engine was given")
    dataset = ray.data.read_datasource(ShopBenchDatasource(scan, skip))
    dataset = dataset.map_batches(
        PreprocessStage(config.preprocess, blind_pass=config.diagnostics.blind_pass),
        batch_format="pyarrow",
        batch_size=config.preprocess.batch_size,
        num_cpus=config.preprocess.num_cpus,
    )
    # One inference task per batch: a task's output leaves the actor when the task ends.
    dataset = dataset.repartition(target_num_rows_per_block=sizing.batch_size)
    dataset = dataset.map_batches(
        InferenceStage,
        fn_constructor_kwargs={"engine": dataclasses.replace(engine, max_in_flight=sizing.max_in_flight_per_actor),
                               "sampling": config.inference.sampling, "watch": watch},
        compute=ray.data.ActorPoolStrategy(size=sizing.actors,
                                           max_concurrent_calls_per_actor=sizing.batches_per_actor),
        batch_format="pyarrow",
        batch_size=sizing.batch_size,
        num_cpus=config.inference.num_cpus_per_actor,
    )
    # Scoring runs on an actor of its own, so answered rows go on to the driver at once: as tasks they waited for a
    # slot behind preprocessing, seconds at a time (measured), and a killed driver lost them. An actor also loads a
    # scorer's model once (the embedding scorer's, which gets a whole CPU); the others are light.
    ScoringStage(config.scoring)  # checks the scorer names and the model folder here, before anything runs
    dataset = dataset.map_batches(
        ScoringStage,
        fn_constructor_kwargs={"config": config.scoring},
        compute=ray.data.ActorPoolStrategy(size=1),
        num_cpus=1 if EMBEDDING_SCORER in config.scoring.scorers.values() else 0.25,
        batch_format="pyarrow",
        # Larger batches would hold answered rows back, off the disk, until enough others arrive.
        batch_size=min(config.scoring.batch_size, sizing.batch_size),
    )
    if not config.scoring.judged_formats:
        return dataset
    return dataset.map_batches(
        JudgeStage,
        fn_constructor_kwargs={"setup": judge},
        compute=ray.data.ActorPoolStrategy(size=judge.config.actors),
        batch_format="pyarrow",
        batch_size=judge.config.batch_size,
        num_cpus=0.25,
    )


__all__ = ["InferenceSizing", "InferenceStage", "JudgeSetup", "JudgeStage", "PreprocessStage", "ScoringStage",
           "build_pipeline", "size_inference"]
