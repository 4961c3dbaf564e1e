"""The Ray Data pipeline: read -> preprocess -> inference -> scoring, streamed to the driver's writer."""

from __future__ import annotations

import dataclasses

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
                   judge: JudgeSetup | None = None, skip: frozenset[str] = frozenset()) -> ray.data.Dataset:
    """The lazy dataset of result rows (RESULT_SCHEMA); nothing runs until it is iterated. `sizing`: the inference
    actors' sizes (each actor's client keeps sizing.max_in_flight_per_actor requests in flight, whatever `engine`
    says); `judge` is required when a format's scorer is the judge; `skip`: sample ids a resumed run already has."""
    if config.scoring.judged_formats and judge is None:
        raise ValueError("the config routes answers to the judge, but no judge engine was given")
    dataset = ray.data.read_datasource(ShopBenchDatasource(scan, skip))
    dataset = dataset.map_batches(
        PreprocessStage(config.preprocess, blind_pass=config.diagnostics.blind_pass),
        batch_format="pyarrow",
        batch_size=config.preprocess.batch_size,
        num_cpus=config.preprocess.num_cpus,
    )
    dataset = dataset.map_batches(
        InferenceStage,
        fn_constructor_kwargs={"engine": dataclasses.replace(engine, max_in_flight=sizing.max_in_flight_per_actor),
                               "sampling": config.inference.sampling},
        compute=ray.data.ActorPoolStrategy(size=sizing.actors),
        batch_format="pyarrow",
        batch_size=sizing.batch_size,
        num_cpus=config.inference.num_cpus_per_actor,
    )
    if EMBEDDING_SCORER in config.scoring.scorers.values():
        # A scorer holding a model: actors load it once, where tasks would load it for every batch.
        ScoringStage(config.scoring)  # checks the scorer names and the model folder here, before anything runs
        scoring = {"fn": ScoringStage, "fn_constructor_kwargs": {"config": config.scoring},
                   "compute": ray.data.ActorPoolStrategy(size=1), "num_cpus": 1}
    else:
        # Scoring is light; it must not wait for a whole CPU behind preprocessing.
        scoring = {"fn": ScoringStage(config.scoring), "num_cpus": 0.25}
    dataset = dataset.map_batches(**scoring, batch_format="pyarrow", batch_size=config.scoring.batch_size)
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
