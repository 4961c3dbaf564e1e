"""Visual diagnostics (Ostrakon-VL paper, equations 13-16): how much the answers depend on the image.

With S_V the questions answered correctly with their media, S_-V those answered correctly without it (the blind
pass), F_V those answered wrongly with it, and N questions:
  MG  = |S_V|/N - |S_-V|/N          multimodal gain
  VNR = |S_V minus S_-V| / |S_V|    share of correct answers that needed the image
  VIF = |F_V and S_-V| / |F_V|      share of failures the model got right without the image
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ray_eval.config import StatisticsConfig
from ray_eval.verdict.aggregate import CLUSTER, with_clusters
from ray_eval.verdict.stats import paired_difference
from ray_eval.verdict.summary_model import Diagnostics

DIAGNOSTIC_KEYS = ("MG", "VNR", "VIF")


def visual_diagnostics(correct_with_vision: Sequence[bool], correct_without_vision: Sequence[bool]) -> dict:
    """MG, VNR and VIF of paired outcomes (one pair per question). A ratio whose denominator is empty is None."""
    with_vision = np.asarray(correct_with_vision, dtype=bool)
    without_vision = np.asarray(correct_without_vision, dtype=bool)
    if with_vision.shape != without_vision.shape or with_vision.ndim != 1:
        raise ValueError(f"need two equal-length sequences of booleans; got lengths {with_vision.shape} "
                         f"and {without_vision.shape}")
    n = with_vision.size
    if n == 0:
        return {"MG": None, "VNR": None, "VIF": None}
    correct, wrong = int(with_vision.sum()), int((~with_vision).sum())
    return {
        "MG": float(with_vision.mean() - without_vision.mean()),
        "VNR": float((with_vision & ~without_vision).sum() / correct) if correct else None,
        "VIF": float((~with_vision & without_vision).sum() / wrong) if wrong else None,
    }


def diagnostics_of_runs(results: pd.DataFrame, blind: pd.DataFrame, subset_fill: str,
                        statistics: StatisticsConfig | None = None) -> Diagnostics:
    """The `diagnostics` section of summary.json: overall and per subset, over the questions answered (without
    an error) in both passes; errors on either side exclude the pair, and are counted. With `statistics`, MG also
    gets its interval: the paired bootstrap of (with media - without) over the pairs, resampled by media cluster
    as the scores are, so "the pictures matter" is a claim with its uncertainty."""
    columns = ["sample_id", "subset", "status", "passed"]
    if statistics is not None:
        columns.append(CLUSTER)
        results = with_clusters(results, statistics)
    paired = results[columns].merge(
        blind[["sample_id", "status", "passed"]], on="sample_id", suffixes=("", "_blind"), how="inner")
    paired["subset"] = paired["subset"].fillna(subset_fill)
    answered = (paired["status"] == "ok") & (paired["status_blind"] == "ok")

    def section(frame: pd.DataFrame, ok: pd.Series) -> dict:
        kept = frame[ok]
        with_vision = kept["passed"].fillna(False).astype(bool).to_numpy()
        without_vision = kept["passed_blind"].fillna(False).astype(bool).to_numpy()
        values = visual_diagnostics(with_vision, without_vision)
        interval = None
        if statistics is not None and len(kept):
            low, high = paired_difference(with_vision.astype(float), without_vision.astype(float),
                                          clusters=kept[CLUSTER].to_numpy(), resamples=statistics.bootstrap_resamples,
                                          confidence=statistics.confidence, seed=statistics.seed).ci
            interval = [round(low, 6), round(high, 6)]
        return {
            "n": int(len(kept)),
            "excluded": int((~ok).sum()),
            "accuracy_with_vision": round(float(with_vision.mean()), 6) if len(kept) else None,
            "accuracy_without_vision": round(float(without_vision.mean()), 6) if len(kept) else None,
            **{key: None if value is None else round(value, 6) for key, value in values.items()},
            "MG_ci": interval,
        }

    return Diagnostics.model_validate({
        "overall": section(paired, answered),
        "by_subset": {str(name): section(part, answered[part.index])
                      for name, part in paired.groupby("subset", sort=True)},
    })
