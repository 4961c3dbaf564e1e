"""summary.json's `serving`: throughput over the busy window, latency per request, completion tokens per answer and
the engine's errors, from the result rows every run records; and its line in summary.md."""

from __future__ import annotations

import pandas as pd
import pytest

from ray_eval.config import StatisticsConfig
from ray_eval.outputs.summary import render_markdown
from ray_eval.verdict.serving import serving_of
from tests.unit import summary_parts as parts


def rows() -> pd.DataFrame:
    """Four answers, one engine error (sent, never answered) and one row whose media failed (never sent)."""
    answered = [(10.0, 1.0, 10), (11.0, 0.5, 20), (12.0, 2.0, 30), (13.0, 1.0, 40)]  # answered at, latency, tokens
    frame = [{"status": "ok", "error_stage": None, "answered_at": at, "latency_s": latency,
              "completion_tokens": tokens} for at, latency, tokens in answered]
    frame.append({"status": "error", "error_stage": "inference", "answered_at": 14.0, "latency_s": 3.0,
                  "completion_tokens": None})
    frame.append({"status": "error", "error_stage": "preprocess", "answered_at": None, "latency_s": None,
                  "completion_tokens": None})
    return pd.DataFrame(frame)


def test_serving_counts_answers_over_the_busy_window_and_the_engines_errors_over_what_it_was_sent() -> None:
    serving = serving_of(rows(), StatisticsConfig(bootstrap_resamples=200))
    # The first request left at 10.0 - 1.0 = 9.0, the last reply (the engine error's) came at 14.0: 5 s busy.
    assert serving.busy_window_s == pytest.approx(5.0) and serving.answers == 4
    assert serving.answers_per_s == pytest.approx(4 / 5.0)
    assert serving.latency_p50_s == pytest.approx(1.0)  # of the answers: 0.5, 1, 1, 2
    assert serving.latency_p95_s == pytest.approx(1.0 + 0.85 * (2.0 - 1.0))  # linear between the 3rd and 4th
    assert serving.completion_tokens_per_answer == pytest.approx(25.0)
    low, high = serving.completion_tokens_per_answer_ci
    assert 10.0 <= low < 25.0 < high <= 40.0
    assert serving.engine_errors == 1 and serving.engine_error_rate == pytest.approx(1 / 5)  # the 6th was never sent


def test_a_run_without_answers_has_no_rates() -> None:
    frame = rows().iloc[4:]  # the engine error and the media failure only
    serving = serving_of(frame, StatisticsConfig())
    assert serving.answers == 0 and serving.answers_per_s == 0.0 and serving.latency_p50_s is None
    assert serving.completion_tokens_per_answer is None and serving.completion_tokens_per_answer_ci is None
    assert serving.engine_error_rate == 1.0


def test_summary_md_shows_the_serving_line() -> None:
    summary = parts.summary("r1", "m", "f" * 64)
    assert "Serving:" not in render_markdown(summary)  # a summary written before serving was recorded
    summary.serving = serving_of(rows(), StatisticsConfig(bootstrap_resamples=200))
    text = render_markdown(summary)
    line = next(line for line in text.splitlines() if line.startswith("Serving:"))
    assert line.startswith("Serving: 0.8 answers/s over 5.0 s · latency per request p50 1.00 s, p95 1.85 s "
                           "(under this run's own load) · 25.0 completion tokens per answer [")
    assert line.endswith("· 1 engine errors (20.0%)")
