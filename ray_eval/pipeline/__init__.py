"""The Ray Data pipeline: read -> preprocess -> inference -> scoring, streamed to the driver's writer."""

from __future__ import annotations

import ray.data

from ray_eval.config import EvalConfig
from ray_eval.engines import EngineSpec
from ray_eval.pipeline.inference import InferenceStage
from ray_eval.pipeline.preprocess import PreprocessStage
from ray_eval.pipeline.scoring import ScoringStage
from ray_eval.shopbench.dataset import DatasetScan, ShopBenchDatasource


def build_pipeline(scan: DatasetScan, config: EvalConfig, engine: EngineSpec) -> ray.data.Dataset:
    """The lazy dataset of result rows (RESULT_SCHEMA); nothing runs until it is iterated."""
    dataset = ray.data.read_datasource(ShopBenchDatasource(scan))
    dataset = dataset.map_batches(
        PreprocessStage(config.preprocess),
        batch_format="pyarrow",
        batch_size=config.preprocess.batch_size,
        num_cpus=config.preprocess.num_cpus,
    )
    dataset = dataset.map_batches(
        InferenceStage,
        fn_constructor_kwargs={"engine": engine, "sampling": config.inference.sampling},
        compute=ray.data.ActorPoolStrategy(size=config.inference.actors),
        batch_format="pyarrow",
        batch_size=config.inference.batch_size,
        num_cpus=config.inference.num_cpus_per_actor,
    )
    return dataset.map_batches(
        ScoringStage(config.scoring),
        batch_format="pyarrow",
        batch_size=config.scoring.batch_size,
        num_cpus=0.25,  # scoring is light; it must not wait for a whole CPU behind preprocessing
    )


__all__ = ["InferenceStage", "PreprocessStage", "ScoringStage", "build_pipeline"]
