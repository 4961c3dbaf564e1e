"""The sentences that explain a figure, in the same words in summary.md and report.html: how much of the dataset
a run stands on, why a weighted pass rate differs from passed / n, what MG, VNR and VIF are."""

from __future__ import annotations

from ray_eval.verdict.summary_model import DatasetInfo, Scores

DIAGNOSTICS_LEGEND = ("MG (multimodal gain): accuracy with the media minus accuracy without, in percentage points. "
                      "VNR: the share of correct answers that were wrong without the media. VIF: the share of wrong "
                      "answers that were right without the media (the media misled the model).")


def rows_line(dataset: DatasetInfo) -> str:
    """"60 samples", or "20 of 60 rows evaluated (dataset.limit)" for a partial run."""
    if dataset.partial:
        return f"{dataset.rows} of {dataset.file_rows} rows evaluated (dataset.limit)"
    return f"{dataset.rows} samples"


def weights_line(scores: Scores) -> str | None:
    """Why the pass rate is not passed / n, when the samples' weights differ."""
    weights, overall = scores.weights, scores.overall
    if weights is None or not weights.weighted:
        return None
    return (f"Scores and pass rates are weighted by each sample's weight (from the dataset, {weights.min:g} to "
            f"{weights.max:g}): the pass rate is the passed samples' share of the total weight; by count, "
            f"{overall.passed} of {overall.n} samples passed.")
