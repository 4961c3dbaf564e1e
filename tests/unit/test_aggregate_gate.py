"""Aggregation (weighted 0-100 scores, pass rates, groups, counts) and the gate's verdict."""

from __future__ import annotations

import pandas as pd
import pytest

from ray_eval.config import GateConfig
from ray_eval.data.readers import SuiteThresholds
from ray_eval.verdict.aggregate import AGGREGATE_COLUMNS, summarize
from ray_eval.verdict.gate import EXIT_FAILED, EXIT_INCOMPLETE, EXIT_PASSED, Coverage, evaluate_gate, verdict


def result(sample_id, subset="ShopFront", fmt="mcq", score=1.0, passed=True, weight=1.0, status="ok",
           unparsed=False, critical=False, l2=None, input_type="single", latency=0.1, error_type=None):
    row = dict.fromkeys(AGGREGATE_COLUMNS)
    row.update(sample_id=sample_id, subset=subset, format=fmt, input_type=input_type, l1="Perception", l2=l2,
               weight=weight, critical=critical, status=status, score=score if status == "ok" else 0.0,
               passed=passed and status == "ok", unparsed=unparsed, latency_s=latency if status == "ok" else None,
               prompt_tokens=100, completion_tokens=5, attempts=1,
               error_stage="inference" if status != "ok" else None, error_type=error_type)
    return row


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame([
        result("a", score=1.0, passed=True, weight=3.0, l2="OCR", critical=True),
        result("b", score=0.0, passed=False, weight=1.0, l2="OCR", unparsed=True),
        result("c", subset="Kitchen", fmt="open", score=0.5, passed=True, weight=2.0, l2="Hygiene"),
        result("d", subset="Kitchen", fmt="format", status="error", weight=2.0, critical=True, error_type="HTTP 500"),
        result("e", subset=None, fmt="open", score=0.25, passed=False, weight=2.0),
    ])


def test_weighted_scores_and_counts(frame: pd.DataFrame) -> None:
    scores = summarize(frame)
    overall = scores.overall
    # (3*1 + 1*0 + 2*0.5 + 2*0 + 2*0.25) / 10 = 0.45
    assert overall.score == pytest.approx(45.0) and overall.pass_rate == pytest.approx(0.5)
    assert overall.n == 5 and overall.passed == 2 and overall.errors == 1 and overall.unparsed == 1
    assert overall.error_rate == pytest.approx(0.2)
    assert scores.by_subset["Kitchen"].score == pytest.approx(25.0)
    assert scores.by_subset["(none)"].n == 1  # no subset: its own group, never dropped
    assert scores.by_format["mcq"].pass_rate == pytest.approx(0.75)
    assert scores.by_label["l2"]["OCR"].score == pytest.approx(75.0) and "l3" not in scores.by_label
    assert scores.critical.n == 2 and scores.critical.pass_rate == pytest.approx(0.6)
    assert scores.errors.model_dump() == {"total": 1, "by_stage": {"inference": 1}, "by_type": {"HTTP 500": 1}}
    assert scores.latency_s.p50 == pytest.approx(0.1) and scores.tokens.prompt == 500


def test_gate_lists_every_check_with_value_threshold_and_result(frame: pd.DataFrame) -> None:
    scores = summarize(frame)
    gate = GateConfig(min_pass_rate=0.4, min_score=50, max_error_rate=0.25, subsets={"Kitchen": {"min_pass_rate": 0.3}},
                      labels={"l2": {"OCR": {"min_score": 70}, "Missing": {"min_pass_rate": 0.1}}})
    checks = {check.name: check for check in evaluate_gate(scores, gate)}
    assert set(checks) == {"overall pass rate", "overall score", "error rate", "subset Kitchen pass rate",
                           "l2 OCR score", "l2 Missing pass rate"}
    assert checks["overall pass rate"].passed and checks["overall pass rate"].value == pytest.approx(0.5)
    assert not checks["overall score"].passed and checks["overall score"].threshold == 50
    assert checks["error rate"].passed and checks["error rate"].comparison == "<="
    assert checks["subset Kitchen pass rate"].passed and checks["l2 OCR score"].passed
    missing = checks["l2 Missing pass rate"]
    assert not missing.passed and missing.note == "no samples in this group"
    decision = verdict(list(checks.values()))
    assert decision.status == "failed" and decision.exit_code == EXIT_FAILED
    assert decision.failed_checks == ["overall score", "l2 Missing pass rate"]


def test_suite_thresholds_apply_unless_the_config_sets_the_same_check(frame: pd.DataFrame) -> None:
    scores = summarize(frame)
    suite = SuiteThresholds(min_pass_rate=0.85, min_score=80.0, category_pass_rates=(("OCR", 0.9), ("Hygiene", 0.5)))
    checks = evaluate_gate(scores, GateConfig(min_pass_rate=0.4, labels={"l2": {"OCR": {"min_pass_rate": 0.7}}}), suite)
    by_name = {(c.name, c.source): c for c in checks}
    assert ("overall pass rate", "config") in by_name and ("overall pass rate", "suite") not in by_name
    assert by_name[("overall score", "suite")].threshold == 80.0 and not by_name[("overall score", "suite")].passed
    assert ("category OCR pass rate", "suite") not in by_name  # the config's own OCR value wins
    assert by_name[("category Hygiene pass rate", "suite")].passed
    ignored = evaluate_gate(scores, GateConfig(use_suite_thresholds=False), suite)
    assert ignored == []


def test_verdict_passes_incomplete_and_empty() -> None:
    assert verdict([]).exit_code == EXIT_PASSED and "no thresholds" in verdict([]).note
    incomplete = verdict([], complete=False, incomplete_reason="engine unreachable")
    assert incomplete.status == "incomplete" and incomplete.exit_code == EXIT_INCOMPLETE
    assert incomplete.reason == "engine unreachable" and not incomplete.passed


def test_stored_config_drops_credentials_from_the_engine_url() -> None:
    from ray_eval.config import load_config
    from ray_eval.outputs.summary import public_config

    config = load_config(None, ["dataset.path=x.jsonl", "engine.kind=openai", "engine.model=m",
                                "engine.base_url=https://user:s3cret@llm.example.com:8443/v1"])
    stored = public_config(config)
    assert stored["engine"]["base_url"] == "https://llm.example.com:8443/v1" and "s3cret" not in str(stored)


def test_error_budget_as_a_count(frame: pd.DataFrame) -> None:
    scores = summarize(frame)
    within = {c.name: c for c in evaluate_gate(scores, GateConfig(max_errors=1))}
    over = {c.name: c for c in evaluate_gate(scores, GateConfig(max_errors=0))}
    assert within["error count"].passed and within["error count"].value == 1
    assert not over["error count"].passed and over["error count"].threshold == 0
    assert verdict(list(over.values())).failed_checks == ["error count"]


def test_weights_are_reported_only_when_they_differ(frame: pd.DataFrame) -> None:
    assert summarize(frame).weights.model_dump() == {"weighted": True, "min": 1.0, "max": 3.0}
    assert summarize(frame.assign(weight=2.0)).weights.model_dump() == {"weighted": False, "min": 2.0, "max": 2.0}


@pytest.mark.parametrize("allow_partial, status, exit_code", [(False, "undecided", EXIT_FAILED),
                                                              (True, "passed", EXIT_PASSED)])
def test_a_partial_run_passes_only_as_a_smoke_run(frame: pd.DataFrame, allow_partial: bool, status: str,
                                                  exit_code: int) -> None:
    coverage = Coverage(evaluated_rows=5, dataset_rows=60)
    checks = evaluate_gate(summarize(frame), GateConfig(min_pass_rate=0.1, allow_partial=allow_partial),
                           coverage=coverage)
    decision = verdict(checks, coverage=coverage)
    assert (decision.status, decision.exit_code) == (status, exit_code)
    assert decision.coverage.model_dump() == {"evaluated_rows": 5, "dataset_rows": 60, "partial": True}
    check = next(check for check in decision.checks if check.name == "whole dataset evaluated")
    assert check.value == 5 and check.threshold == 60 and "5 of 60 rows evaluated" in check.note
    if not allow_partial:
        assert "5 of 60 rows evaluated" in decision.reason and "gate.allow_partial" in decision.reason


def test_a_whole_run_has_no_coverage_check(frame: pd.DataFrame) -> None:
    coverage = Coverage(evaluated_rows=5, dataset_rows=5)
    checks = evaluate_gate(summarize(frame), GateConfig(min_pass_rate=0.1), coverage=coverage)
    assert [check.name for check in checks] == ["overall pass rate"]
    assert verdict(checks, coverage=coverage).coverage.partial is False
