"""False alarms and power of the release decision's regression tests over several suites, by simulation.

A decision over k suites holds k no-regression tests against the baseline (gate.baseline_checks). Each test alone
fails at most alpha = (1 - confidence) / 2 of the time when its suite is at the margin; uncorrected, the chance that
any of k fails grows with k. The gate corrects "failed" with Holm's step-down. This script measures what the whole
decision does, through the real code: synthetic paired result rows -> compare.compare (the paired cluster bootstrap,
as a run does it) -> gate.baseline_checks -> gate.verdict, for k = 1, 3 and 6 suites, with Holm and, for contrast,
uncorrected (each test at alpha alone).

Each suite: `--samples` right-or-wrong multiple-choice answers in media clusters of CLUSTER_SIZE (samples that share
an image); a cluster's accuracy is drawn from Beta(3, 2) (mean BASE_ACCURACY = 0.6), each baseline answer from it.
The candidate gets CHURN of the baseline's wrong answers right and loses the share of its right ones that makes the
true change of the suite's score exactly the scenario's (E[candidate - baseline] = 0.4 * CHURN - 0.6 * loss).

Scenarios, each suite's true change in score points:
- every suite at -margin: the least favourable point of the null hypothesis "no suite regressed beyond the margin";
  a "failed" decision here is a false alarm, and its rate is the family-wise error rate;
- no change on any suite: false alarms ("failed") and how often the decision passes;
- one suite down 5 or 10 points, the others unchanged: power (the rate of "failed").

    python benchmarks/false_alarms.py --repetitions 1000 --samples 400 --seed 0

prints a markdown table of rates with 95 % Clopper-Pearson intervals (docs/concepts/gate.md holds a measured one).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import beta

from ray_eval.config import BaselineConfig, StatisticsConfig
from ray_eval.verdict.compare import RunResults, compare
from ray_eval.verdict.gate import BaselineTest, baseline_checks, verdict
from ray_eval.verdict.summary_model import Comparison, RunIdentity

BASE_ACCURACY = 0.6  # the mean of Beta(3, 2), from which each cluster's accuracy is drawn
CLUSTER_SIZE = 3
CHURN = 0.05  # share of the baseline's wrong answers the candidate gets right
SUITE_COUNTS = (1, 3, 6)
DROPS = (5.0, 10.0)  # power: one suite's true change, score points below the baseline
METHODS = ("Holm", "uncorrected")


@dataclass(frozen=True)
class Row:
    """One line of the table: a scenario at a number of suites, and which decision status it counts."""

    suites: int
    scenario: str
    counted: str  # the measure's words
    status: str  # the verdict status counted


@dataclass
class Tally:
    """Verdict statuses per (suites, scenario) and method, over the repetitions."""

    repetitions: int = 0
    statuses: dict[tuple[int, str, str], Counter[str]] = field(default_factory=dict)

    def add(self, suites: int, scenario: str, method: str, status: str) -> None:
        self.statuses.setdefault((suites, scenario, method), Counter())[status] += 1

    def rate(self, row: Row, method: str) -> tuple[int, int]:
        counts = self.statuses.get((row.suites, row.scenario, method), Counter())
        return counts[row.status], sum(counts.values())


def suite_pair(rng: np.random.Generator, samples: int, change_points: float) -> tuple[RunResults, RunResults]:
    """(candidate, baseline) result rows of one suite whose true change is `change_points`."""
    change = change_points / 100.0
    loss = (CHURN * (1 - BASE_ACCURACY) - change) / BASE_ACCURACY
    if not 0 <= loss <= 1:
        raise ValueError(f"a true change of {change_points} points is out of reach with churn {CHURN}")
    cluster = np.arange(samples) // CLUSTER_SIZE
    accuracy = rng.beta(3.0, 2.0, cluster[-1] + 1)[cluster]
    baseline = rng.random(samples) < accuracy
    flip = rng.random(samples) < np.where(baseline, loss, CHURN)
    candidate = baseline ^ flip
    return _results(candidate, cluster, "candidate"), _results(baseline, cluster, "baseline")


def _results(correct: np.ndarray, cluster: np.ndarray, run_id: str) -> RunResults:
    frame = pd.DataFrame({
        "sample_id": [f"q{i:06d}" for i in range(len(correct))], "subset": "ShopFront", "format": "mcq",
        "l1": None, "l2": None, "l3": None, "l4": None, "weight": 1.0, "status": "ok",
        "score": correct.astype(float), "passed": correct, "extracted": np.where(correct, "A", "B"),
        "media_digests": [[f"image-{c}"] for c in cluster],
    })
    return RunResults(frame, RunIdentity(run_dir=f"runs/{run_id}", run_id=run_id, model=run_id),
                      {"synthetic": "synthetic"})


def decisions(comparisons: Sequence[Comparison], baseline: BaselineConfig) -> dict[str, str]:
    """The decision's status over these suites' comparisons: Holm over the family, and each test alone."""
    tests = [BaselineTest(f"suite {i + 1}", comparison, baseline) for i, comparison in enumerate(comparisons)]
    return {
        "Holm": verdict(baseline_checks(tests)).status,
        "uncorrected": verdict([check for test in tests for check in baseline_checks([test])]).status,
    }


def simulate(repetitions: int, samples: int, seed: int, margin: float) -> tuple[Tally, list[Row]]:
    rng = np.random.default_rng(seed)
    statistics = StatisticsConfig()  # the run's defaults: 1000 resamples at 95 %
    baseline = BaselineConfig(run_dir=Path("runs/baseline"), max_regression=margin)
    widest = max(SUITE_COUNTS)
    at_margin, no_change = f"every suite {-margin:+g}", "no change"
    dropped = {drop: f"one suite {-drop:+g}, others 0" for drop in DROPS}
    rows = [row for k in SUITE_COUNTS for row in (
        Row(k, at_margin, "false alarms (least favourable null)", "failed"),
        Row(k, no_change, "false alarms", "failed"),
        Row(k, no_change, "passed", "passed"),
        *(Row(k, dropped[drop], "power (failed)", "failed") for drop in DROPS),
    )]

    def comparisons(change: float, count: int) -> list[Comparison]:
        return [compare(*suite_pair(rng, samples, change), statistics, regression_margin=margin)
                for _ in range(count)]

    tally = Tally()
    for _ in range(repetitions):
        tally.repetitions += 1
        unchanged = comparisons(0.0, widest)
        scenarios = {at_margin: comparisons(-margin, widest), no_change: unchanged}
        # The regressed suite sits among unchanged ones: the same unchanged suites serve every scenario.
        scenarios.update({dropped[drop]: comparisons(-drop, 1) + unchanged[1:] for drop in DROPS})
        for scenario, suites in scenarios.items():
            for k in SUITE_COUNTS:
                for method, status in decisions(suites[:k], baseline).items():
                    tally.add(k, scenario, method, status)
    return tally, rows


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact binomial interval of a rate."""
    tail = (1 - confidence) / 2
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1 - tail, successes + 1, trials - successes))
    return low, high


def table(tally: Tally, rows: Sequence[Row]) -> list[str]:
    lines = ["| suites | true change (points) | measure | Holm | uncorrected |", "|---|---|---|---|---|"]
    for row in rows:
        cells = []
        for method in METHODS:
            hits, trials = tally.rate(row, method)
            low, high = clopper_pearson(hits, trials)
            cells.append(f"{hits / trials:.3f} [{low:.3f}, {high:.3f}]")
        lines.append(f"| {row.suites} | {row.scenario} | {row.counted} | {' | '.join(cells)} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=250, help="simulated decisions per row (default 250)")
    parser.add_argument("--samples", type=int, default=400, help="paired samples per suite (default 400)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--margin", type=float, default=1.0, help="gate.baseline.max_regression, points (default 1)")
    args = parser.parse_args(argv)
    if args.repetitions < 1 or args.samples < CLUSTER_SIZE * 2:
        parser.error(f"--repetitions must be at least 1 and --samples at least {CLUSTER_SIZE * 2}")
    started = time.monotonic()
    tally, rows = simulate(args.repetitions, args.samples, args.seed, args.margin)
    alpha = (1 - StatisticsConfig().confidence) / 2
    print(f"{args.repetitions} repetitions, {args.samples} paired samples per suite in media clusters of "
          f"{CLUSTER_SIZE}, base accuracy {BASE_ACCURACY}, margin {args.margin:g} points, alpha {alpha:g} "
          f"(one-sided), seed {args.seed}; rates with 95 % Clopper-Pearson intervals")
    print()
    print("\n".join(table(tally, rows)))
    print(f"\n({math.ceil(time.monotonic() - started)} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
