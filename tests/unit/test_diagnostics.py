"""visual_diagnostics (MG, VNR, VIF) by hand and as properties, and the summary section built from two passes."""

from __future__ import annotations

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
