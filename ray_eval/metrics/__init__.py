"""Prometheus metrics: the names (one place), and the export of a run's results."""

from ray_eval.metrics.run_metrics import RunMetrics, run_labels

__all__ = ["RunMetrics", "run_labels"]
