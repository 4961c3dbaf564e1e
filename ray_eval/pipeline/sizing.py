"""How many inference actors, requests in flight and samples per batch: from the engine's capacity.

An engine that works on C requests at once stays busy only if more than C are waiting: answers travel back, a batch
leaves an actor only when its slowest answer is in, and the next batches are still being prepared. Measured
(BENCHMARKS.md): 2 x C requests in flight, 16 per actor, in batches of half that, kept a 32-slot engine at 0.94-0.97
of its ideal rate; 1 x C left it at 0.57; 4 x C was no better, cost more actors to start, and behind Ray Serve the
requests a replica cannot take yet are retried by Serve's router, which costs the replica CPU. An unset size follows
the same rule for any capacity.

Each actor works on several batches at once, holding twice its requests in flight in samples: a batch waiting on one
slow request keeps only its own few samples back, while the other batches keep every request slot busy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ray_eval.config import InferenceConfig

DEFAULT_CAPACITY = 16  # an endpoint that does not say: the sizes ray-eval always had (2 actors x 16 in flight)
IN_FLIGHT_PER_ACTOR = 16  # an async client holds many more; more actors stagger the gaps between their batches
MAX_ACTORS = 16  # each actor is a process; past this, more requests go through each one instead
BATCHES_IN_FLIGHT = 2  # batches whose samples cover an actor's requests in flight
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


def size_inference(config: InferenceConfig, capacity: int | None, source: str) -> InferenceSizing:
    """The sizes to run with: those the config sets, the rest derived from `capacity` (None: DEFAULT_CAPACITY)."""
    if capacity is None:
        capacity, source = DEFAULT_CAPACITY, f"the default of {DEFAULT_CAPACITY}; set inference.engine_capacity"
    wanted = math.ceil(capacity * config.in_flight_per_slot)
    per_actor_hint = config.max_in_flight_per_actor or IN_FLIGHT_PER_ACTOR
    actors = config.actors or min(MAX_ACTORS, max(1, math.ceil(wanted / per_actor_hint)))
    in_flight = config.max_in_flight_per_actor or max(1, math.ceil(wanted / actors))
    batch_size = config.batch_size or max(1, math.ceil(in_flight / BATCHES_IN_FLIGHT))
    # At least two, so that a batch held by a slow request never leaves the actor without samples to send.
    batches = max(2, math.ceil(SAMPLES_PER_REQUEST_SLOT * in_flight / batch_size))
    return InferenceSizing(capacity, source, actors, in_flight, batch_size, batches)
