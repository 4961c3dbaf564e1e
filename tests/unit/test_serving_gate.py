"""The gate's serving checks (gate.serving): absolute bounds decided on the interval where a number has one and on
the value where it has none, relative bounds only against a baseline measured under the same serving setup, and
nothing at all without a gate.serving block."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ray_eval.config import EvalConfig, StatisticsConfig
from ray_eval.errors import UsageError
from ray_eval.outputs.summary import render_markdown
from ray_eval.pipeline.sizing import InferenceSizing
from ray_eval.serving_gate_config import ServingBaselineConfig, ServingGateConfig
from ray_eval.verdict.gate import verdict
from ray_eval.verdict.serving import bootstrap_percentiles, latency_intervals, serving_of
from ray_eval.verdict.serving_gate import (
    ServingBaseline,
    gated_serving,
    load_serving_baseline,
    serving_checks,
    serving_setup,
)
from tests.unit import summary_parts as parts


def only_check(serving, **bounds):
    (check,) = serving_checks(serving, ServingGateConfig(**bounds), None)
    return check


# ---- absolute bounds ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("bound", "outcome"), [(2.5, "passed"), (1.5, "failed"), (2.1, "undecided")])
def test_a_latency_bound_is_decided_on_its_interval(bound: float, outcome: str) -> None:
    # p95 2.0 s with its interval [1.8, 2.2]: wholly below 2.5, wholly above 1.5, straddling 2.1.
    check = only_check(parts.serving(), max_latency_p95_s=bound)
    assert (check.name, check.metric, check.group) == ("serving latency p95", "latency_p95_s", "serving")
    assert check.outcome == outcome and check.passed is (outcome == "passed")
    assert check.value == 2.0 and check.threshold == bound and check.comparison == "<=" and check.samples == 100
    assert "interval [1.8 s, 2.2 s] over this run's 100 answered requests" in check.note
    assert check.note.endswith("under this run's load: 64 requests in flight")
    assert ("straddles" in check.note) is (outcome == "undecided")


def test_a_value_inside_the_bound_with_an_interval_across_it_is_undecided_not_passed() -> None:
    check = only_check(parts.serving(), max_latency_p50_s=1.05)  # p50 1.0 s, interval [0.9, 1.1]
    assert check.outcome == "undecided" and not check.passed
    decision = verdict([check])
    assert decision.status == "undecided" and decision.exit_code == 1


@pytest.mark.parametrize(("bound", "outcome"), [(60, "passed"), (40, "failed"), (50, "undecided")])
def test_a_tokens_per_answer_bound_is_decided_on_its_interval(bound: float, outcome: str) -> None:
    check = only_check(parts.serving(), max_completion_tokens_per_answer=bound)
    assert check.name == "serving completion tokens per answer" and check.outcome == outcome


@pytest.mark.parametrize(("bound", "outcome"), [(10.0, "passed"), (10.5, "failed")])
def test_answers_per_second_is_decided_on_its_value(bound: float, outcome: str) -> None:
    check = only_check(parts.serving(), min_answers_per_s=bound)
    assert check.comparison == ">=" and check.outcome == outcome
    assert "one busy window: no interval, decided on the value" in check.note


@pytest.mark.parametrize(("bound", "outcome"), [(0.05, "passed"), (0.01, "failed")])
def test_the_engine_error_rate_is_decided_on_its_value_over_every_request_sent(bound: float, outcome: str) -> None:
    check = only_check(parts.serving(answers=98, engine_errors=2, engine_error_rate=0.02), max_engine_error_rate=bound)
    assert check.outcome == outcome and check.samples == 100 and "a count of what happened" in check.note


def test_a_latency_bound_without_an_interval_is_undecided_and_says_how_to_get_one() -> None:
    # A summary written without gate.serving (then re-gated with one) holds no latency interval.
    check = only_check(parts.serving(latency_p95_s_ci=None, setup=None), max_latency_p95_s=100.0)
    assert check.outcome == "undecided" and "rescore the run with gate.serving set" in check.note
    assert check.note.endswith("under this run's own load")


def test_no_answers_leave_every_bound_undecided() -> None:
    serving = parts.serving(answers=0, answers_per_s=0.0, latency_p50_s=None, latency_p95_s=None,
                            latency_p50_s_ci=None, latency_p95_s_ci=None, completion_tokens_per_answer=None,
                            completion_tokens_per_answer_ci=None)
    check = only_check(serving, max_latency_p95_s=1.0)
    assert check.outcome == "undecided" and check.note.startswith("no answered requests to measure latency p95")


def test_a_summary_without_a_serving_section_leaves_the_bounds_undecided() -> None:
    check = only_check(None, max_latency_p95_s=1.0)
    assert check.outcome == "undecided" and "has no serving section" in check.note


def test_without_a_serving_block_there_are_no_serving_checks() -> None:
    assert serving_checks(parts.serving(), None, None) == []
    assert serving_checks(parts.serving(), ServingGateConfig(), None) == []  # a block without bounds checks nothing


# ---- relative bounds ------------------------------------------------------------------------------------------------


def relative_check(serving, baseline_serving, complete: bool = True, **ratios):
    gate = ServingGateConfig(baseline=ServingBaselineConfig(run_dir=Path("runs/base"), **ratios))
    (check,) = serving_checks(serving, gate, ServingBaseline("base", baseline_serving, complete))
    return check


@pytest.mark.parametrize(("ratio", "outcome"), [(1.2, "passed"), (0.8, "failed"), (1.0, "undecided")])
def test_a_relative_latency_bound_compares_the_interval_with_ratio_times_the_baselines_value(ratio: float,
                                                                                           outcome: str) -> None:
    # This run's p95 2.0 s [1.8, 2.2] against a baseline p95 of 2.0 s: 1.2 x = 2.4 s, 0.8 x = 1.6 s, 1.0 x = 2.0 s.
    check = relative_check(parts.serving(), parts.serving(setup=parts.serving_setup(model="the-baseline").model_dump()),
                           max_latency_p95_ratio=ratio)
    assert (check.name, check.metric) == ("serving latency p95 against baseline", "latency_p95_s_ratio")
    assert check.outcome == outcome and check.value == pytest.approx(1.0) and check.threshold == ratio
    assert f"against {ratio:g} x baseline run base's 2 s" in check.note
    assert "the baseline's own uncertainty not included" in check.note


def test_a_checkpoint_that_talks_three_times_longer_fails_the_tokens_ratio() -> None:
    baseline = parts.serving(completion_tokens_per_answer=20.0, completion_tokens_per_answer_ci=[18.0, 22.0])
    talkative = parts.serving(completion_tokens_per_answer=60.0, completion_tokens_per_answer_ci=[55.0, 65.0])
    check = relative_check(talkative, baseline, max_completion_tokens_ratio=1.5)
    assert check.outcome == "failed" and check.value == pytest.approx(3.0)


def test_a_relative_throughput_bound_is_decided_on_the_value() -> None:
    check = relative_check(parts.serving(answers_per_s=7.0), parts.serving(), min_answers_per_s_ratio=0.8)
    assert check.outcome == "failed" and check.value == pytest.approx(0.7) and check.comparison == ">="


def test_another_serving_setup_leaves_a_relative_bound_undecided_naming_what_differs() -> None:
    baseline = parts.serving(setup=parts.serving_setup(engine_capacity=16, requests_in_flight=32).model_dump())
    check = relative_check(parts.serving(answers_per_s=1.0), baseline, min_answers_per_s_ratio=0.8)
    assert check.outcome == "undecided" and check.value is None and not check.passed
    assert check.note == ("not compared: another serving setup than baseline run base's: engine capacity 32 here, 16 "
                          "in the baseline; requests in flight 64 here, 32 in the baseline")


@pytest.mark.parametrize(("baseline", "complete", "said"), [
    (parts.serving(setup=None), True, "baseline run base recorded no serving setup"),
    (None, True, "baseline run base's summary has no serving section"),
    (parts.serving(), False, "baseline run base is incomplete"),
    (parts.serving(latency_p95_s=0.0), True, "baseline run base has no latency p95 to compare with"),
])
def test_a_baseline_that_cannot_be_compared_is_undecided(baseline, complete: bool, said: str) -> None:
    check = relative_check(parts.serving(), baseline, complete, max_latency_p95_ratio=1.2)
    assert check.outcome == "undecided" and said in check.note


def test_a_serving_baseline_run_dir_without_a_summary_is_refused_in_one_line(tmp_path: Path) -> None:
    gate = ServingGateConfig(baseline=ServingBaselineConfig(run_dir=tmp_path / "nothing"))
    with pytest.raises(UsageError, match=r"^gate.serving.baseline.run_dir .*nothing: no summary.json there"):
        load_serving_baseline(gate)
    assert load_serving_baseline(ServingGateConfig()) is None and load_serving_baseline(None) is None


# ---- what a run records ---------------------------------------------------------------------------------------------


def latency_rows(latencies: list[float]) -> pd.DataFrame:
    return pd.DataFrame([{"status": "ok", "error_stage": None, "answered_at": 100.0 + i, "latency_s": latency,
                          "completion_tokens": 10} for i, latency in enumerate(latencies)])


def test_latency_intervals_hold_the_point_values_and_repeat_for_a_seed() -> None:
    latencies = list(np.random.default_rng(1).gamma(2.0, 0.5, size=400))
    statistics = StatisticsConfig(bootstrap_resamples=300)
    p50, p95 = latency_intervals(latency_rows(latencies), statistics)
    assert p50[0] < np.percentile(latencies, 50) < p50[1] < p95[0] < np.percentile(latencies, 95) < p95[1]
    assert latency_intervals(latency_rows(latencies), statistics) == (p50, p95)
    assert latency_intervals(latency_rows(latencies).iloc[:0], statistics) is None


def test_bootstrap_percentiles_is_the_same_however_the_resamples_are_chunked(monkeypatch) -> None:
    values = np.arange(50, dtype=float)
    whole = bootstrap_percentiles(values, (95,), resamples=200, confidence=0.9, seed=3)
    monkeypatch.setattr("ray_eval.verdict.serving.RESAMPLE_CHUNK_VALUES", 70)  # one resample per chunk
    assert bootstrap_percentiles(values, (95,), resamples=200, confidence=0.9, seed=3) == whole


def test_every_run_records_its_setup_and_only_a_serving_block_pays_for_latency_intervals() -> None:
    """A run without gate.serving records what it was served under (a later run's relative bounds compare with it),
    but no latency interval (a bootstrap over every request)."""
    rows = latency_rows([0.5, 1.0, 1.5])
    before = serving_of(rows, StatisticsConfig())
    after = gated_serving(before, rows, None, StatisticsConfig(), parts.serving_setup())
    assert after.model_dump(mode="json") == before.model_dump(mode="json") | {
        "setup": parts.serving_setup().model_dump(mode="json")}
    assert "latency_p95_s_ci" not in after.model_dump(mode="json")
    gated = gated_serving(before, rows, ServingGateConfig(), StatisticsConfig(), parts.serving_setup())
    assert gated.setup == parts.serving_setup() and gated.latency_p95_s_ci is not None


def test_the_setup_records_the_load_and_the_serve_config_files_hash(tmp_path: Path) -> None:
    serve_file = tmp_path / "serve.yaml"
    serve_file.write_text("applications: []\n")
    config = EvalConfig.model_validate({"dataset": {"path": "x.jsonl"}, "engine": {"kind": "scripted"},
                                        "serve": {"config": str(serve_file)},
                                        "inference": {"sampling": {"max_tokens": 64}}})
    setup = serving_setup(config, InferenceSizing(16, "test", 2, 16, 4, 8))
    assert (setup.engine_kind, setup.engine_capacity, setup.requests_in_flight, setup.max_tokens) == (
        "scripted", 16, 32, 64)
    assert setup.serve_config_sha256 == hashlib.sha256(b"applications: []\n").hexdigest()


def test_a_serving_block_counts_in_the_fingerprint_and_its_absence_does_not() -> None:
    minimal = {"dataset": {"path": "x.jsonl"}, "engine": {"kind": "scripted"}}
    plain = EvalConfig.model_validate(minimal)
    assert EvalConfig.model_validate(minimal | {"gate": {"serving": None}}).fingerprint() == plain.fingerprint()
    served = EvalConfig.model_validate(minimal | {"gate": {"serving": {"max_latency_p95_s": 2}}})
    assert served.fingerprint() != plain.fingerprint()


def test_summary_md_shows_a_serving_check_in_its_unit() -> None:
    summary = parts.summary("r1", "m", "f" * 64)
    check = only_check(parts.serving(), max_latency_p95_s=1.5)
    summary.verdict = verdict([check])
    row = next(line for line in render_markdown(summary).splitlines() if line.startswith("| serving latency p95 "))
    assert row.startswith(r"| serving latency p95 | 2 s | <= 1.5 s | **FAIL** | 2 s, interval \[1.8 s, 2.2 s\] over")
