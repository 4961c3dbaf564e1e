"""Which probes a round sends: a seeded, shuffled cycle over the pool, so that monitoring covers the whole pool
rather than a fixed handful, and two canaries with the same seed probe in the same order."""

from __future__ import annotations

import random


class Rotation:
    """Cycle c visits every probe index once, in the order of the pool shuffled with seed + c."""

    def __init__(self, pool_size: int, per_round: int, seed: int = 0):
        if pool_size < 1 or per_round < 1:
            raise ValueError(f"need a pool and a round of at least one probe; got {pool_size} and {per_round}")
        self.pool_size = pool_size
        self.per_round = min(per_round, pool_size)  # a round never sends one probe twice
        self.seed = seed
        self.cycle = 0
        self._order = self._permutation(0, taken=())
        self._next = 0
        self.probed: set[int] = set()

    def _permutation(self, cycle: int, taken: tuple[int, ...]) -> list[int]:
        order = list(range(self.pool_size))
        random.Random(self.seed + cycle).shuffle(order)
        # Probes the current round already took from the ending cycle go last, so the round has no duplicate.
        return [i for i in order if i not in taken] + [i for i in order if i in taken]

    def next_round(self) -> list[int]:
        """The pool indexes of the next round's probes."""
        chosen: list[int] = []
        while len(chosen) < self.per_round:
            if self._next == self.pool_size:
                self.cycle += 1
                self._order, self._next = self._permutation(self.cycle, tuple(chosen)), 0
            chosen.append(self._order[self._next])
            self._next += 1
        self.probed.update(chosen)
        return chosen

    @property
    def coverage(self) -> float:
        """Share of the pool probed at least once."""
        return len(self.probed) / self.pool_size
