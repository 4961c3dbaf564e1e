"""Uncertainty for ShopBench results: bootstrap intervals, paired comparisons and McNemar's test.

A release gate compares a candidate model with a baseline on the same samples, so the interesting questions are
"how sure are we of this score" (bootstrap_means) and "is the candidate really better" (paired_difference, mcnemar).
Samples that show the same image are not independent, so the bootstrap can resample whole media clusters
(media_clusters builds them from the samples' media digests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# Bytes of resample-count matrix held at once. Each count costs 16 bytes at peak (int64 counts plus their float64
# copy for the matrix product), so 32 MiB keeps one chunk well under ~50 MB however many clusters there are.
_CHUNK_BYTES = 32 * 2**20
_BYTES_PER_COUNT = 16


def media_clusters(digests: Sequence[Sequence[str] | None]) -> np.ndarray:
    """Cluster id (int64, 0..k-1, in order of first appearance) per sample: samples that share any media digest
    (directly or through a chain) are in one cluster (union-find); a sample with no digests (None or empty) is its
    own cluster."""
    parent = list(range(len(digests)))

    def root(sample: int) -> int:
        while parent[sample] != sample:
            parent[sample] = parent[parent[sample]]  # path halving keeps the trees shallow
            sample = parent[sample]
        return sample

    first_sample_with_digest: dict[str, int] = {}
    for sample, sample_digests in enumerate(digests):
        if isinstance(sample_digests, (str, bytes)):
            # A bare string is a Sequence[str] too, and iterating it would cluster by single characters.
            raise TypeError(f"sample {sample}: digests must be a sequence of strings, not a single string")
        # None for no media; Arrow/pandas give numpy arrays, whose truth value is an error: test for None.
        for digest in () if sample_digests is None else sample_digests:
            other = first_sample_with_digest.setdefault(digest, sample)
            parent[root(sample)] = root(other)

    cluster_of_root: dict[int, int] = {}
    cluster_ids = np.empty(len(digests), dtype=np.int64)
    for sample in range(len(digests)):
        cluster_ids[sample] = cluster_of_root.setdefault(root(sample), len(cluster_of_root))
    return cluster_ids


def _as_values(name: str, values: ArrayLike, n: int | None) -> np.ndarray:
    """One column as a 1-D float64 array; NaN/inf and length mismatches are errors naming the column."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"column {name!r} must be one-dimensional, got shape {array.shape}")
    try:
        array = array.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"column {name!r} must be numeric or boolean: {error}") from error
    if n is not None and array.shape[0] != n:
        raise ValueError(f"column {name!r} has {array.shape[0]} values, expected {n}")
    if not np.isfinite(array).all():
        raise ValueError(f"column {name!r} contains {'NaN' if np.isnan(array).any() else 'an infinite value'}")
    return array


def _as_weights(weights: ArrayLike | None, n: int) -> np.ndarray:
    """Sample weights (ones when not given); they must be finite, non-negative and not all zero."""
    if weights is None:
        return np.ones(n)
    weight_array = _as_values("weights", weights, n)
    if (weight_array < 0).any():
        raise ValueError("weights must be non-negative")
    if n and weight_array.sum() <= 0:
        raise ValueError("weights sum to zero, so the weighted mean is undefined")
    return weight_array


def _as_cluster_index(clusters: ArrayLike | None, n: int) -> np.ndarray:
    """Cluster labels (any sortable values) mapped to 0..k-1; every sample is its own cluster when not given."""
    if clusters is None:
        return np.arange(n)
    labels = np.asarray(clusters)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"clusters must be one label per sample ({n}), got shape {labels.shape}")
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError("clusters contains NaN")
    return np.unique(labels, return_inverse=True)[1].reshape(-1)


def _cluster_sums(value_matrix: np.ndarray, weights: np.ndarray, cluster_index: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums of w*x (k, columns) and of w (k,), keeping only clusters with positive weight.

    A zero-weight cluster contributes nothing to any weighted mean; dropping it also rules out resamples whose total
    weight is zero (0/0)."""
    n_clusters = int(cluster_index.max()) + 1
    weight_sums = np.bincount(cluster_index, weights=weights, minlength=n_clusters)
    value_sums = np.stack([np.bincount(cluster_index, weights=weights * column, minlength=n_clusters)
                           for column in value_matrix.T], axis=1)
    keep = weight_sums > 0
    return value_sums[keep], weight_sums[keep]


def _bootstrap_distribution(value_sums: np.ndarray, weight_sums: np.ndarray, resamples: int, seed: int
                            ) -> np.ndarray:
    """Weighted means (resamples, columns), each row from one draw of len(weight_sums) clusters with replacement.

    Resamples are drawn in chunks so the count matrix stays within _CHUNK_BYTES; the chunk size depends only on the
    number of clusters, so the result is deterministic for a seed."""
    n_clusters = weight_sums.shape[0]
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _CHUNK_BYTES // (_BYTES_PER_COUNT * n_clusters))
    means = np.empty((resamples, value_sums.shape[1]))
    for start in range(0, resamples, rows_per_chunk):
        rows = min(rows_per_chunk, resamples - start)
        # Multinomial counts via uniform draws + one bincount (offset per row): much faster than rng.multinomial.
        draws = rng.integers(0, n_clusters, size=(rows, n_clusters))
        draws += np.arange(rows)[:, None] * n_clusters
        counts = np.bincount(draws.ravel(), minlength=rows * n_clusters).reshape(rows, n_clusters)
        del draws  # freed before the float copy, so at most two count-sized arrays are alive at once
        counts = counts.astype(np.float64)
        means[start:start + rows] = (counts @ value_sums) / (counts @ weight_sums)[:, None]
        del counts  # otherwise this chunk's counts stay alive while the next chunk is drawn
    return means


def _check_settings(resamples: int, confidence: float) -> tuple[float, float]:
    """Validate the bootstrap settings and return the two percentile levels of the interval."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return (1 - confidence) / 2, (1 + confidence) / 2


def bootstrap_means(columns: Mapping[str, ArrayLike], weights: ArrayLike | None = None,
                    clusters: ArrayLike | None = None, *, resamples: int = 1000, confidence: float = 0.95,
                    seed: int = 0) -> dict[str, tuple[float, float] | None]:
    """Percentile bootstrap interval of the weighted mean of each column.

    All columns share the same resamples, so e.g. score and pass rate of one group are resampled together. With
    clusters (one label per sample, e.g. from media_clusters), whole clusters are resampled (cluster bootstrap),
    since samples sharing an image are not independent. Clusters whose weights are all zero are left out.

    Edge cases: n == 0 gives None for every column. A column whose values are all equal gives exactly
    (value, value). With a single sample or a single cluster every resample is the same data, so the interval is
    the degenerate (mean, mean) even when values differ: it does not measure uncertainty then, and callers should
    treat it as "not enough data" rather than as a precise estimate.

    Deterministic for a seed; memory is bounded by chunking the resamples. Values are floats (booleans are cast);
    NaN or infinite values raise ValueError naming the column, as do negative or all-zero weights."""
    lower_level, upper_level = _check_settings(resamples, confidence)
    names = list(columns)
    if not names:
        return {}
    first = _as_values(names[0], columns[names[0]], None)
    n = first.shape[0]
    value_matrix = np.stack([first] + [_as_values(name, columns[name], n) for name in names[1:]], axis=1)
    if n == 0:
        return {name: None for name in names}
    weight_array = _as_weights(weights, n)
    value_sums, weight_sums = _cluster_sums(value_matrix, weight_array, _as_cluster_index(clusters, n))
    means = _bootstrap_distribution(value_sums, weight_sums, resamples, seed)
    lower, upper = np.quantile(means, [lower_level, upper_level], axis=0)
    # A weighted mean lies within [min, max] of the values it averages; clipping removes rounding noise, so that a
    # constant column gives exactly (value, value).
    counted = value_matrix[weight_array > 0]
    lower, upper = (np.clip(bound, counted.min(axis=0), counted.max(axis=0)) for bound in (lower, upper))
    return {name: (float(lower[j]), float(upper[j])) for j, name in enumerate(names)}


@dataclass(frozen=True)
class PairedDifference:
    """Weighted mean of candidate - baseline with its bootstrap interval and two-sided p-value."""

    mean: float  # weighted mean of candidate - baseline
    ci: tuple[float, float]
    p_value: float  # two-sided, paired bootstrap (null-centred: shift the bootstrap distribution by -mean)
    n: int
    p_regressed: float | None = None  # one-sided, against a margin: given only when paired_difference had one


def paired_difference(candidate: ArrayLike, baseline: ArrayLike, weights: ArrayLike | None = None,
                      clusters: ArrayLike | None = None, *, resamples: int = 1000, confidence: float = 0.95,
                      seed: int = 0, margin: float | None = None) -> PairedDifference:
    """Paired bootstrap of the weighted mean difference (cluster-resampled when clusters are given).

    Equal-length inputs required (ValueError otherwise); n == 0 is a ValueError. The p-value is
    (1 + #{|d* - mean| >= |mean|}) / (1 + resamples), where d* are the bootstrap means: the +1 keeps it a valid
    p-value and never exactly 0, so its floor is 1 / (1 + resamples). With a single cluster (or a single sample)
    there is no evidence about variability: the interval is (mean, mean) and the p-values are 1.0.

    With a margin m (a fraction, like the values: 0.01 for one score point), p_regressed is the one-sided p-value of
    "the change is below -m" against H0 "it is at or above -m": (1 + #{d* >= -m}) / (1 + resamples), from the same
    resamples as the interval. Small means evidence of a regression beyond the margin. It agrees with the interval:
    p_regressed <= alpha implies that the interval's upper end at (1 + confidence) / 2, alpha = (1 - confidence) / 2,
    lies below -m (the interval's old "failed" rule, a one-sided test at that alpha). The converse holds except
    within two resamples of the boundary, where the +1 (and the interval's interpolation between resamples) leave
    the p-value the more cautious of the two."""
    lower_level, upper_level = _check_settings(resamples, confidence)
    candidate_values = _as_values("candidate", candidate, None)
    baseline_values = _as_values("baseline", baseline, None)
    if candidate_values.shape != baseline_values.shape:
        raise ValueError(f"candidate has {candidate_values.shape[0]} values but baseline has "
                         f"{baseline_values.shape[0]}; paired inputs must have equal length")
    n = candidate_values.shape[0]
    if n == 0:
        raise ValueError("paired_difference needs at least one pair")
    weight_array = _as_weights(weights, n)
    differences = (candidate_values - baseline_values)[:, None]
    value_sums, weight_sums = _cluster_sums(differences, weight_array, _as_cluster_index(clusters, n))
    mean = float(value_sums[:, 0].sum() / weight_sums.sum())
    if weight_sums.shape[0] == 1:
        return PairedDifference(mean=mean, ci=(mean, mean), p_value=1.0, n=n,
                                p_regressed=None if margin is None else 1.0)
    boot = _bootstrap_distribution(value_sums, weight_sums, resamples, seed)[:, 0]
    lower, upper = np.quantile(boot, [lower_level, upper_level])
    counted = differences[weight_array > 0, 0]
    lower, upper = np.clip([lower, upper], counted.min(), counted.max())
    # Centring the bootstrap distribution on zero approximates the null distribution of the mean difference.
    extreme = int(np.count_nonzero(np.abs(boot - mean) >= abs(mean)))
    p_value = (1 + extreme) / (1 + resamples)
    p_regressed = None if margin is None else _share_at_or_above(boot, -margin)
    return PairedDifference(mean=mean, ci=(float(lower), float(upper)), p_value=min(1.0, p_value), n=n,
                            p_regressed=p_regressed)


def _share_at_or_above(boot: np.ndarray, bound: float) -> float:
    """(1 + #{d* >= bound}) / (1 + resamples): the +1 as in the two-sided p-value, so never 0 from finitely many
    resamples."""
    return (1 + int(np.count_nonzero(boot >= bound))) / (1 + boot.shape[0])


def holm_adjusted(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values, in the given order: the i-th smallest (0-based) becomes
    max over j <= i of min(1, (m - j) * p_(j)), so that a test is rejected by holm_rejections at alpha exactly when
    its adjusted p-value is <= alpha. None (a test that could not be made) stays None and counts in m."""
    m = len(p_values)
    adjusted: list[float | None] = [None] * m
    running = 0.0
    for rank, (p, position) in enumerate(sorted((p, i) for i, p in enumerate(p_values) if p is not None)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[position] = running
    return adjusted


def holm_rejections(p_values: Sequence[float | None], alpha: float) -> list[bool]:
    """Holm's step-down over a family of tests, in the given order: which null hypotheses are rejected with the
    family-wise error rate at most alpha (under any dependence between the tests).

    Sorted ascending, the i-th (0-based) p-value is rejected while p_(i) <= alpha / (m - i); the first that is not
    stops the walk. m counts every test, a None (a test that could not be made) included: it is never rejected, and
    counting it keeps the correction conservative. Equal p-values are rejected or kept together, since the next
    bound is larger."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    m = len(p_values)
    rejected = [False] * m
    made = sorted((p, position) for position, p in enumerate(p_values) if p is not None)
    for rank, (p, position) in enumerate(made):
        if p > alpha / (m - rank):
            break
        rejected[position] = True
    return rejected


@dataclass(frozen=True)
class McNemarResult:
    """Discordant-pair counts and the exact McNemar p-value."""

    candidate_only: int  # candidate right, baseline wrong
    baseline_only: int  # baseline right, candidate wrong
    p_value: float  # exact two-sided binomial test on the discordant pairs; 1.0 when there are none
    n: int


def _as_binary(name: str, values: ArrayLike) -> np.ndarray:
    """Boolean array from booleans or 0/1 numbers; anything else is an error, since McNemar needs right/wrong."""
    array = _as_values(name, values, None)
    if not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"{name!r} must hold only booleans or 0/1 values")
    return array.astype(bool)


def mcnemar(candidate_correct: ArrayLike, baseline_correct: ArrayLike) -> McNemarResult:
    """Exact McNemar test for paired binary outcomes.

    Only discordant pairs carry information; under the null each is equally likely to favour either model, so the
    count favouring the candidate is Binomial(discordant, 1/2)."""
    candidate = _as_binary("candidate_correct", candidate_correct)
    baseline = _as_binary("baseline_correct", baseline_correct)
    if candidate.shape != baseline.shape:
        raise ValueError(f"candidate_correct has {candidate.shape[0]} values but baseline_correct has "
                         f"{baseline.shape[0]}; paired inputs must have equal length")
    candidate_only = int(np.count_nonzero(candidate & ~baseline))
    baseline_only = int(np.count_nonzero(baseline & ~candidate))
    discordant = candidate_only + baseline_only
    if discordant == 0:
        p_value = 1.0
    else:
        from scipy.stats import binomtest  # imported here: scipy.stats takes 0.6 s, paid only by a comparison

        p_value = float(binomtest(candidate_only, discordant, 0.5).pvalue)
    return McNemarResult(candidate_only=candidate_only, baseline_only=baseline_only, p_value=p_value,
                         n=int(candidate.shape[0]))
