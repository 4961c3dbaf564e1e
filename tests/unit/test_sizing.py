"""Inference sizes derived from the engine's capacity; what the config sets is kept."""

from __future__ import annotations

import pytest

from ray_eval.config import InferenceConfig, load_config
from ray_eval.errors import ConfigError
from ray_eval.pipeline.sizing import DEFAULT_CAPACITY, MAX_ACTORS, size_inference


@pytest.mark.parametrize(("capacity", "actors", "in_flight", "batch"), [
    (None, 1, 64, 16),    # an endpoint that says nothing
    (32, 1, 64, 16),      # the benchmarks' 32-slot engine: one process holds its queue
    (1, 1, 2, 1),
    (256, 8, 64, 16),     # eight replicas of 32 slots
    (1024, MAX_ACTORS, 128, 32),  # a GPU cluster: more requests per actor once the actors are capped
])
def test_sizes_follow_the_capacity(capacity, actors, in_flight, batch) -> None:
    sizing = size_inference(InferenceConfig(), capacity, "inference.engine_capacity")
    assert (sizing.actors, sizing.max_in_flight_per_actor, sizing.batch_size) == (actors, in_flight, batch)
    assert sizing.actors * sizing.max_in_flight_per_actor >= (capacity or DEFAULT_CAPACITY) * 2


@pytest.mark.parametrize("config", [InferenceConfig(), InferenceConfig(max_in_flight_per_actor=4, batch_size=2),
                                    InferenceConfig(max_in_flight_per_actor=16, batch_size=64)])
def test_an_actor_holds_enough_batches_that_one_slow_request_starves_nothing(config) -> None:
    sizing = size_inference(config, 32, "inference.engine_capacity")
    assert sizing.batches_per_actor >= 2  # a batch held by a slow request is never all the actor has
    assert sizing.batches_per_actor * sizing.batch_size >= 2 * sizing.max_in_flight_per_actor


def test_what_the_config_sets_is_kept_and_the_rest_follows() -> None:
    sizing = size_inference(InferenceConfig(actors=3), 32, "inference.engine_capacity")
    assert (sizing.actors, sizing.max_in_flight_per_actor, sizing.batch_size) == (3, 22, 6)
    sizing = size_inference(InferenceConfig(max_in_flight_per_actor=8, batch_size=3), 32, "inference.engine_capacity")
    assert (sizing.actors, sizing.max_in_flight_per_actor, sizing.batch_size) == (8, 8, 3)
    sizing = size_inference(InferenceConfig(in_flight_per_slot=4.0), 32, "inference.engine_capacity")
    assert (sizing.actors, sizing.max_in_flight_per_actor) == (2, 64)


def test_the_log_line_says_where_the_capacity_came_from() -> None:
    assert "set inference.engine_capacity" in size_inference(InferenceConfig(), None, "").describe()
    described = size_inference(InferenceConfig(), 16, "Serve deployment LLMServer:m: 1 replicas x 16").describe()
    assert described.startswith("1 inference actor(s) x 32 requests in flight, batches of 8")
    assert "LLMServer:m" in described


def test_actors_are_no_more_than_the_cluster_cpus_place() -> None:
    """Ray would leave an actor it cannot place pending, and the run waiting for it: the requests go through
    fewer actors instead, each holding more."""
    sizing = size_inference(InferenceConfig(), 256, "inference.engine_capacity", cpus=2.0)
    assert (sizing.actors, sizing.max_in_flight_per_actor) == (2, 256)
    halves = size_inference(InferenceConfig(num_cpus_per_actor=0.5), 256, "inference.engine_capacity", cpus=2.0)
    assert halves.actors == 4
    assert size_inference(InferenceConfig(actors=6), 256, "inference.engine_capacity", cpus=2.0).actors == 6  # as set


def test_a_cluster_without_cpus_for_one_actor_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"^inference.num_cpus_per_actor: 1 CPUs per inference actor, but the "
                                          r"cluster has 0.5 CPUs for them"):
        size_inference(InferenceConfig(), 32, "inference.engine_capacity", cpus=0.5)


def test_speed_settings_do_not_change_the_fingerprint(tmp_path) -> None:
    """A resumed run may go faster or slower; only what decides the results is in the fingerprint."""
    base = ["dataset.path=d.jsonl", "engine.kind=openai", "engine.base_url=http://127.0.0.1:1/v1", "engine.model=m"]
    plain = load_config(None, base)
    faster = load_config(None, [*base, "inference.engine_capacity=64", "inference.actors=4", "inference.batch_size=2",
                                "inference.max_in_flight_per_actor=32", "inference.in_flight_per_slot=2",
                                "inference.num_cpus_per_actor=0.5", "dataset.rows_per_read_task=4"])
    other_answers = load_config(None, [*base, "inference.sampling.max_tokens=7"])
    assert plain.fingerprint() == faster.fingerprint() != other_answers.fingerprint()
