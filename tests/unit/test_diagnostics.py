"""visual_diagnostics (MG, VNR, VIF) by hand and as properties, and the summary section built from two passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ray_eval.scoring import visual_diagnostics
from ray_eval.scoring.diagnostics import diagnostics_of_runs


def test_hand_computed_example() -> None:
    # with vision:    T T T T F F F F F F   (S_V = 4 of 10)
    # without vision: T F F F T T F F F F   (S_-V = 3 of 10)
    with_vision = [True] * 4 + [False] * 6
    without_vision = [True, False, False, False, True, True, False, False, False, False]
    result = visual_diagnostics(with_vision, without_vision)
    assert set(result) == {"MG", "VNR", "VIF"}
    assert result["MG"] == pytest.approx(0.4 - 0.3)
    assert result["VNR"] == pytest.approx(3 / 4)  # three of the four correct answers needed the image
    assert result["VIF"] == pytest.approx(2 / 6)  # two of the six failures were right without the image


def test_empty_denominators_are_none_not_zero() -> None:
    assert visual_diagnostics([False, False], [True, False]) == {"MG": -0.5, "VNR": None, "VIF": 0.5}
    assert visual_diagnostics([True], [True])["VIF"] is None
    assert visual_diagnostics([], []) == {"MG": None, "VNR": None, "VIF": None}


def test_unequal_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="equal-length"):
        visual_diagnostics([True, False], [True])


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_identities_hold_for_any_outcomes(pairs: list[tuple[bool, bool]]) -> None:
    with_vision = [a for a, _ in pairs]
    without_vision = [b for _, b in pairs]
    result = visual_diagnostics(with_vision, without_vision)
    n = len(pairs)
    needed = sum(a and not b for a, b in pairs)
    interfered = sum(b and not a for a, b in pairs)
    # MG is exactly the net count of questions the image decided, over N.
    assert result["MG"] == pytest.approx((needed - interfered) / n)
    for key in ("VNR", "VIF"):
        assert result[key] is None or 0.0 <= result[key] <= 1.0
    assert (result["VNR"] is None) == (sum(with_vision) == 0)


def test_summary_section_pairs_by_sample_excludes_errors_and_splits_by_subset() -> None:
    results = pd.DataFrame({
        "sample_id": ["a", "b", "c", "d", "e"],
        "subset": ["ShopFront", "ShopFront", "Kitchen", "Kitchen", None],
        "status": ["ok", "ok", "ok", "error", "ok"],
        "passed": [True, True, False, False, True],
    })
    blind = pd.DataFrame({  # "e" had no media: no blind row; "d" errored with media
        "sample_id": ["b", "a", "c", "d"],
        "status": ["ok", "ok", "ok", "ok"],
        "passed": [True, False, True, True],
    })
    section = diagnostics_of_runs(results, blind, "(none)")
    overall = section.overall
    assert overall.n == 3 and overall.excluded == 1
    assert overall.accuracy_with_vision == pytest.approx(2 / 3)
    assert overall.accuracy_without_vision == pytest.approx(2 / 3)
    assert overall.VNR == pytest.approx(1 / 2) and overall.VIF == pytest.approx(1.0)
    assert set(section.by_subset) == {"ShopFront", "Kitchen"}
    assert section.by_subset["Kitchen"].n == 1 and section.by_subset["Kitchen"].excluded == 1


def test_mg_gets_its_paired_interval_resampled_by_media_cluster_when_statistics_are_given() -> None:
    from ray_eval.config import StatisticsConfig

    rng = np.random.default_rng(0)
    n = 200
    # The four questions about one picture are answered alike: the picture, not the question, is the unit.
    with_vision = np.repeat(rng.random(n // 4) < 0.7, 4)
    without_vision = np.repeat(rng.random(n // 4) < 0.4, 4)
    results = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "subset": "ShopFront", "status": "ok",
                            "passed": with_vision, "media_digests": [[f"img{i // 4}"] for i in range(n)]})
    blind = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "status": "ok", "passed": without_vision})
    assert diagnostics_of_runs(results, blind, "(none)").overall.MG_ci is None
    statistics = StatisticsConfig(bootstrap_resamples=500)
    overall = diagnostics_of_runs(results, blind, "(none)", statistics).overall
    assert overall.MG_ci is not None and overall.MG is not None
    low, high = overall.MG_ci
    assert low < overall.MG < high and low > 0  # a gain of ~30 points over 200 pairs: clear of zero
    # Resampling questions as if independent would claim more certainty than 50 pictures give.
    unclustered = diagnostics_of_runs(results, blind, "(none)",
                                      StatisticsConfig(bootstrap_resamples=500, cluster_by_media=False)).overall
    assert unclustered.MG_ci is not None and unclustered.MG_ci[1] - unclustered.MG_ci[0] < high - low
