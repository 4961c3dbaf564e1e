"""How many inference actors, requests in flight and samples per batch: from the engine's capacity and the CPUs.

An engine that works on C requests at once stays busy only if more than C are waiting: answers travel back, a batch
leaves an actor only when its slowest answer is in, and the next batches are still being prepared. Measured
(BENCHMARKS.md): 2 x C requests in flight kept a 32-slot engine at 0.94-0.97 of its ideal rate; 1 x C left it at
0.57; 4 x C was no better, and behind Ray Serve the requests a replica cannot take yet are retried by Serve's router,
which costs the replica CPU. An unset size follows the same rule for any capacity.

An actor is a process that reads, prepares, sends and scores its samples; one asyncio client keeps 64 requests in
flight for little CPU, and every process costs a second or more of CPU to start: so as few actors as hold the
requests, and never more than the cluster's CPUs can place (Ray would leave the rest pending and the run waiting).

Each actor works on several batches at once, holding twice its requests in flight in samples: a batch waiting on one
slow request keeps only its own few samples back, while the other batches keep every request slot busy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ray_eval.config import InferenceConfig
from ray_eval.errors import ConfigError

# An endpoint that does not say: 64 requests in flight, which any vLLM queues without harm (its own default
# max_num_seqs is larger) and which keep a 32-slot engine busy; more only lengthen the queue the latencies include.
DEFAULT_CAPACITY = 32
IN_FLIGHT_PER_ACTOR = 64  # one asyncio client holds 64 in flight at 1-2 ms of CPU per request (BENCHMARKS.md)
MAX_ACTORS = 16  # each actor is a process; past this, more requests go through each one instead
BATCHES_IN_FLIGHT = 4  # batches whose samples cover an actor's requests in flight
SAMPLES_PER_REQUEST_SLOT = 2  # samples an actor holds per request in flight: the rest wait to take a freed slot


@dataclass(frozen=True)
class InferenceSizing:
    capacity: int
    capacity_source: str  # where the capacity came from, for the run's log
    actors: int
    max_in_flight_per_actor: int
    batch_size: int
    batches_per_actor: int  # batches an actor works on at once (Ray Data's max_concurrent_calls_per_actor)

    def describe(self) -> str:
        return (f"{self.actors} inference actor(s) x {self.max_in_flight_per_actor} requests in flight, batches of "
                f"{self.batch_size} ({self.batches_per_actor} at once per actor), for an engine capacity of "
                f"{self.capacity} ({self.capacity_source})")


def size_inference(config: InferenceConfig, capacity: int | None, source: str,
                   cpus: float | None = None) -> InferenceSizing:
    """The sizes to run with: those the config sets, the rest derived from `capacity` (None: DEFAULT_CAPACITY) and
    `cpus`, the cluster's CPUs the actors may take (None: no bound). ConfigError when not one actor fits."""
    if capacity is None:
        capacity, source = DEFAULT_CAPACITY, f"the default of {DEFAULT_CAPACITY}; set inference.engine_capacity"
    fit = MAX_ACTORS if cpus is None else math.floor(cpus / config.num_cpus_per_actor + 1e-9)
    if fit < 1:
        raise ConfigError(f"inference.num_cpus_per_actor: {config.num_cpus_per_actor:g} CPUs per inference actor, but "
                          f"the cluster has {cpus:g} CPUs for them: lower it, or give Ray more CPUs (ray.num_cpus)")
    wanted = math.ceil(capacity * config.in_flight_per_slot)
    per_actor_hint = config.max_in_flight_per_actor or IN_FLIGHT_PER_ACTOR
    actors = config.actors or min(MAX_ACTORS, fit, max(1, math.ceil(wanted / per_actor_hint)))
    in_flight = config.max_in_flight_per_actor or max(1, math.ceil(wanted / actors))
    batch_size = config.batch_size or max(1, math.ceil(in_flight / BATCHES_IN_FLIGHT))
    # At least two, so that a batch held by a slow request never leaves the actor without samples to send.
    batches = max(2, math.ceil(SAMPLES_PER_REQUEST_SLOT * in_flight / batch_size))
    return InferenceSizing(capacity, source, actors, in_flight, batch_size, batches)
