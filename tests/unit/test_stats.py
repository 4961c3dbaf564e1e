"""Tests for ray_eval.verdict.stats: clustering by media, bootstrap intervals (incl. their coverage), paired tests."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ray_eval.verdict.stats import McNemarResult, bootstrap_means, mcnemar, media_clusters, paired_difference


def _connected_components(digests: list[list[str] | None]) -> list[set[int]]:
    """Reference partition by brute force: grow each component until no other sample shares a digest with it."""
    unassigned = set(range(len(digests)))
    components = []
    while unassigned:
        component = {min(unassigned)}
        changed = True
        while changed:
            shared = set().union(*(set(digests[i] or ()) for i in component))
            grown = component | {j for j in unassigned if shared & set(digests[j] or ())}
            changed = grown != component
            component = grown
        unassigned -= component
        components.append(component)
    return components


def _null_pairs(rng: np.random.Generator, n: int, discordant_rate: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Paired right/wrong outcomes with identical marginals: discordant pairs favour either model by a fair coin."""
    both_right = rng.random(n) < 0.6
    discordant = rng.random(n) < discordant_rate
    candidate_wins = rng.random(n) < 0.5
    candidate = np.where(discordant, candidate_wins, both_right)
    baseline = np.where(discordant, ~candidate_wins, both_right)
    return candidate, baseline


# --- media_clusters ---------------------------------------------------------------------------------------------


def test_media_clusters_joins_chains_and_numbers_by_first_appearance() -> None:
    # Sample 3 links "a" and "c" only at the end, so samples 0, 2 and 3 form one cluster through the chain.
    assert media_clusters([["a"], ["b"], ["c"], ["a", "c"]]).tolist() == [0, 1, 0, 0]
    assert media_clusters([["a", "b"], ["x"], ["b", "c"], ["c"], None]).tolist() == [0, 1, 0, 0, 2]


def test_media_clusters_samples_without_digests_are_singletons() -> None:
    ids = media_clusters([None, [], ["a"], None, ["a"]])
    assert ids.dtype == np.int64
    assert ids.tolist() == [0, 1, 2, 3, 2]
    assert media_clusters([]).tolist() == []


def test_media_clusters_rejects_a_bare_string() -> None:
    with pytest.raises(TypeError, match="sample 1"):
        media_clusters([["a"], "abc"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(st.sampled_from("abcdefgh"), max_size=3)), max_size=25))
def test_media_clusters_matches_connected_components(digests: list[list[str] | None]) -> None:
    ids = media_clusters(digests).tolist()
    partition = {frozenset(i for i, cluster in enumerate(ids) if cluster == c) for c in set(ids)}
    assert partition == {frozenset(component) for component in _connected_components(digests)}
    # Ids appear in order: each new id is one more than the largest seen so far.
    highest = -1
    for cluster in ids:
        assert cluster <= highest + 1
        highest = max(highest, cluster)


# --- bootstrap_means --------------------------------------------------------------------------------------------


def test_bootstrap_means_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(3)
    columns = {"score": rng.random(300), "passed": rng.random(300) < 0.4}
    first = bootstrap_means(columns, seed=11)
    assert bootstrap_means(columns, seed=11) == first
    assert bootstrap_means(columns, seed=12) != first


def test_bootstrap_means_interval_contains_point_estimate() -> None:
    rng = np.random.default_rng(4)
    values = rng.random(500)
    low, high = bootstrap_means({"score": values})["score"]
    assert low < values.mean() < high
    assert high - low < 0.1


def test_bootstrap_means_columns_share_resamples() -> None:
    passed = np.random.default_rng(5).random(200) < 0.3
    intervals = bootstrap_means({"passed": passed, "failed": ~passed, "again": passed})
    assert intervals["again"] == intervals["passed"]
    # failed = 1 - passed in every resample, so its interval is the mirror image of passed's.
    assert intervals["failed"][0] == pytest.approx(1 - intervals["passed"][1])
    assert intervals["failed"][1] == pytest.approx(1 - intervals["passed"][0])


def test_bootstrap_means_respects_weights_hand_computed() -> None:
    # Two samples: a resample holds (0, 0), (0, 1) or (1, 1) with probabilities 1/4, 1/2, 1/4. With weights 3 and 1
    # the mixed resample's mean is (3*0 + 1*1) / (3 + 1) = 0.25 (unweighted it would be 0.5), and the 30% and 70%
    # quantiles both fall in that middle half of the distribution.
    low, high = bootstrap_means({"x": [0.0, 1.0]}, weights=[3.0, 1.0], resamples=4000, confidence=0.4)["x"]
    assert (low, high) == (0.25, 0.25)


def test_bootstrap_means_weighted_interval_is_around_weighted_mean() -> None:
    values = np.repeat([0.0, 1.0], 100)
    weights = np.repeat([1.0, 3.0], 100)  # weighted mean 300 / 400 = 0.75, unweighted 0.5
    low, high = bootstrap_means({"x": values}, weights=weights)["x"]
    assert low < 0.75 < high
    assert low > 0.6


def test_bootstrap_means_zero_weight_samples_change_nothing() -> None:
    rng = np.random.default_rng(6)
    values = rng.random(100)
    padded = np.concatenate([values, rng.random(30)])
    weights = np.concatenate([np.ones(100), np.zeros(30)])
    assert bootstrap_means({"x": padded}, weights=weights) == bootstrap_means({"x": values})


def test_bootstrap_means_singleton_clusters_equal_plain_bootstrap() -> None:
    values = np.random.default_rng(8).random(150)
    assert bootstrap_means({"x": values}, clusters=np.arange(150) * 7) == bootstrap_means({"x": values})


def test_bootstrap_means_errors_name_the_column() -> None:
    with pytest.raises(ValueError, match="'score'.*NaN"):
        bootstrap_means({"passed": [1.0, 0.0], "score": [0.5, float("nan")]})
    with pytest.raises(ValueError, match="'score'"):
        bootstrap_means({"passed": [1.0, 0.0], "score": [0.5]})
    with pytest.raises(ValueError, match="weights"):
        bootstrap_means({"x": [1.0, 0.0]}, weights=[1.0, -1.0])


def test_bootstrap_means_empty_and_degenerate_inputs() -> None:
    assert bootstrap_means({"score": [], "passed": np.array([], dtype=bool)}) == {"score": None, "passed": None}
    assert bootstrap_means({"x": [0.7]}) == {"x": (0.7, 0.7)}
    # One cluster: every resample is the whole data set, so the interval is (mean, mean) even though values differ.
    low, high = bootstrap_means({"x": [0.0, 1.0, 1.0]}, clusters=[4, 4, 4])["x"]
    assert low == high == pytest.approx(2 / 3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40), st.integers(0, 2**32 - 1))
def test_bootstrap_means_interval_is_ordered_and_within_range(values: list[float], seed: int) -> None:
    low, high = bootstrap_means({"x": values}, resamples=50, seed=seed)["x"]
    assert min(values) <= low <= high <= max(values)
    if len(set(values)) == 1:
        assert low == high == values[0]


def test_bootstrap_means_memory_is_bounded() -> None:
    rng = np.random.default_rng(9)
    columns = {"score": rng.random(50_000), "passed": rng.random(50_000) < 0.5}
    tracemalloc.start()
    try:
        bootstrap_means(columns, resamples=1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # a single (1000 x 50_000) count matrix would be 400 MB


def test_bootstrap_interval_coverage() -> None:
    rng = np.random.default_rng(2024)
    repetitions, n, p = 400, 200, 0.6
    covered = 0
    for repetition in range(repetitions):
        low, high = bootstrap_means({"x": rng.random(n) < p}, resamples=400, seed=repetition)["x"]
        covered += low <= p <= high
    assert 0.90 <= covered / repetitions <= 0.985


def test_cluster_bootstrap_covers_where_naive_bootstrap_does_not() -> None:
    # 60 clusters of 5 samples share a success probability drawn from Beta(0.5, 0.5): intra-cluster correlation
    # 0.5, design effect 1 + 4 * 0.5 = 3, so the naive interval is about sqrt(3) times too narrow.
    rng = np.random.default_rng(7)
    repetitions, n_clusters, cluster_size, true_mean = 300, 60, 5, 0.5
    clusters = np.repeat(np.arange(n_clusters), cluster_size)
    cluster_covered = naive_covered = 0
    for repetition in range(repetitions):
        success_probability = np.repeat(rng.beta(0.5, 0.5, size=n_clusters), cluster_size)
        outcomes = {"x": rng.random(n_clusters * cluster_size) < success_probability}
        low, high = bootstrap_means(outcomes, clusters=clusters, resamples=400, seed=repetition)["x"]
        cluster_covered += low <= true_mean <= high
        low, high = bootstrap_means(outcomes, resamples=400, seed=repetition)["x"]
        naive_covered += low <= true_mean <= high
    cluster_coverage, naive_coverage = cluster_covered / repetitions, naive_covered / repetitions
    assert cluster_coverage >= 0.90
    assert naive_coverage < cluster_coverage - 0.05


# --- mcnemar ----------------------------------------------------------------------------------------------------


def test_mcnemar_hand_checked_cases() -> None:
    assert mcnemar([True, False, True], [True, False, True]) == McNemarResult(0, 0, 1.0, 3)
    one_sided = mcnemar([True] * 10 + [False] * 5, [False] * 10 + [False] * 5)
    assert (one_sided.candidate_only, one_sided.baseline_only, one_sided.n) == (10, 0, 15)
    assert one_sided.p_value == pytest.approx(2 * 0.5**10)
    # 8 vs 2 discordant: 2 * P(Binomial(10, 1/2) <= 2) = 2 * (1 + 10 + 45) / 1024.
    candidate = [1] * 8 + [0] * 2 + [1] * 4
    baseline = [0] * 8 + [1] * 2 + [1] * 4
    result = mcnemar(candidate, baseline)
    assert (result.candidate_only, result.baseline_only) == (8, 2)
    assert result.p_value == pytest.approx(2 * 56 / 1024)
    assert mcnemar([1, 0, 1, 0], [0, 1, 0, 1]).p_value == pytest.approx(1.0)


def test_mcnemar_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="equal length"):
        mcnemar([True, False], [True])
    with pytest.raises(ValueError, match="candidate_correct"):
        mcnemar([0.5, 1.0], [1.0, 1.0])


def test_mcnemar_false_positive_rate_under_null() -> None:
    rng = np.random.default_rng(31)
    repetitions = 1000
    rejections = sum(mcnemar(*_null_pairs(rng, 300)).p_value < 0.05 for _ in range(repetitions))
    assert 0.01 < rejections / repetitions <= 0.06


# --- paired_difference ------------------------------------------------------------------------------------------


def test_paired_difference_hand_checked_and_edge_cases() -> None:
    result = paired_difference([1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0], weights=[1.0, 1.0, 1.0, 5.0])
    assert result.mean == pytest.approx(6 / 8)
    assert result.n == 4
    assert result.ci[0] <= result.mean <= result.ci[1]
    same = paired_difference([1, 0, 1], [1, 0, 1])
    assert (same.mean, same.ci, same.p_value) == (0.0, (0.0, 0.0), 1.0)
    single_cluster = paired_difference([1.0, 0.0, 1.0], [0.0, 0.0, 0.0], clusters=["img"] * 3)
    assert single_cluster.ci == (single_cluster.mean, single_cluster.mean)
    assert single_cluster.p_value == 1.0
    # Every pair improves: the null-centred distribution never reaches the observed mean, so p hits its floor.
    assert paired_difference([1.0] * 50, [0.0] * 50, resamples=99).p_value == pytest.approx(1 / 100)


def test_paired_difference_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="equal length"):
        paired_difference([1.0, 0.0], [1.0])
    with pytest.raises(ValueError, match="at least one"):
        paired_difference([], [])
    with pytest.raises(ValueError, match="'baseline'.*NaN"):
        paired_difference([1.0], [math.nan])


def test_paired_difference_false_positive_rate_under_null() -> None:
    rng = np.random.default_rng(41)
    repetitions = 300
    rejections = sum(paired_difference(*_null_pairs(rng, 300), resamples=300, seed=r).p_value < 0.05
                     for r in range(repetitions))
    assert rejections / repetitions <= 0.08


def test_paired_difference_detects_a_real_improvement() -> None:
    rng = np.random.default_rng(43)
    repetitions, n = 100, 400
    detected = 0
    for repetition in range(repetitions):
        baseline = rng.random(n) < 0.5
        candidate = rng.random(n) < 0.65
        result = paired_difference(candidate, baseline, resamples=300, seed=repetition)
        detected += result.p_value < 0.05 and result.mean > 0
    assert detected / repetitions >= 0.9


def test_paired_difference_interval_covers_known_shift() -> None:
    rng = np.random.default_rng(47)
    repetitions, n, shift = 300, 300, 0.1
    covered = 0
    for repetition in range(repetitions):
        baseline = rng.random(n) < 0.5
        candidate = rng.random(n) < 0.5 + shift
        low, high = paired_difference(candidate, baseline, resamples=300, seed=repetition).ci
        covered += low <= shift <= high
    assert 0.90 <= covered / repetitions <= 0.99


def test_media_clusters_accepts_numpy_arrays_as_pandas_gives_them() -> None:
    import pandas as pd

    column = pd.Series([np.array(["a", "b"]), None, np.array(["b"]), np.array([], dtype=object)])
    ids = media_clusters(list(column))
    assert ids[0] == ids[2] and len(set(ids.tolist())) == 3
