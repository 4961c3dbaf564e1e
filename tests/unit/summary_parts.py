"""Whole summary sections for tests that care about a few of their values: every other field holds a neutral value,
so the models' validation (every field a reader may rely on is present) holds for what the tests build too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray_eval.verdict.summary_model import (
    SCHEMA_VERSION,
    Check,
    Comparison,
    Counts,
    GroupScores,
    PairedGroupScores,
    Scores,
    Serving,
    ServingSetup,
    SuiteResult,
    Summary,
    Verdict,
)

SUMMARIES = Path(__file__).parent / "summaries"


def group_scores(**values: Any) -> GroupScores:
    """One group's scores; n samples, none passed, unless given."""
    return GroupScores.model_validate({"n": 0, "weight": 0.0, "score": None, "pass_rate": None, "passed": 0,
                                       "errors": 0, "unparsed": 0, "error_rate": None, "unparsed_rate": None} | values)


def scores(overall: GroupScores | None = None, **sections: Any) -> Scores:
    """A `scores` section: an empty overall and critical group and no grouping, unless given."""
    return Scores.model_validate({"overall": overall or group_scores(), "critical": group_scores(), "by_subset": {},
                                  "by_format": {}} | sections)


def paired_group(**values: Any) -> PairedGroupScores:
    return PairedGroupScores.model_validate({"n": 100, "baseline_score": 60.0, "candidate_score": 60.0, "delta": 0.0,
                                             "delta_ci": [0.0, 0.0], "p_value": 1.0, "test": "mcnemar",
                                             "significant": False} | values)


def comparison(**values: Any) -> Comparison:
    """A comparison of candidate run `cand` with baseline run `base`; no paired sample unless given."""
    return Comparison.model_validate({
        "baseline": {"run_dir": "runs/base", "run_id": "base", "model": "base-model"},
        "candidate": {"run_dir": "runs/cand", "run_id": "cand", "model": "cand-model"},
        "paired_samples": 0, "only_in_baseline": 0, "only_in_candidate": 0, "confidence": 0.95, "notes": [],
        "overall": None, "by_subset": {}, "by_format": {}, "flipped_total": {"gained": 0, "lost": 0}, "flipped": [],
    } | values)


def serving_setup(**values: Any) -> ServingSetup:
    """A serving setup: the scripted engine, 64 requests in flight, unless given."""
    return ServingSetup.model_validate({"engine_kind": "scripted", "model": "m", "serve_config_sha256": None,
                                        "engine_capacity": 32, "requests_in_flight": 64, "max_tokens": 256} | values)


def serving(**values: Any) -> Serving:
    """A `serving` section of 100 answers without engine errors, latency p50 1 s [0.9, 1.1] and p95 2 s [1.8, 2.2],
    50 tokens per answer [45, 55], 10 answers/s and the default setup, unless given."""
    return Serving.model_validate({
        "answers": 100, "busy_window_s": 10.0, "answers_per_s": 10.0, "latency_p50_s": 1.0, "latency_p95_s": 2.0,
        "completion_tokens_per_answer": 50.0, "completion_tokens_per_answer_ci": [45.0, 55.0], "engine_errors": 0,
        "engine_error_rate": 0.0, "latency_p50_s_ci": [0.9, 1.1], "latency_p95_s_ci": [1.8, 2.2],
        "setup": serving_setup().model_dump(),
    } | values)


def summary(run_id: str, model: str, dataset_fingerprint: str) -> Summary:
    """A real run's summary (summaries/v1-scripted.json) as another run's: its id, model label and dataset (one
suite, named after the file: manifest)."""
    stored = json.loads((SUMMARIES / "v1-scripted.json").read_text(encoding="utf-8"))
    stored["run_id"], stored["model"]["label"], stored["dataset"]["fingerprint"] = run_id, model, dataset_fingerprint
    return Summary.model_validate(stored)


def suite(name: str, overall: GroupScores, *, comparison_of: Comparison | None = None,
          **sections: Any) -> SuiteResult:
    """A suite named `name` whose dataset is `<name>.jsonl`, scored `overall` (its counts follow from it); `sections`
    are its scores' other sections (by_subset, errors, ...)."""
    return SuiteResult.model_validate({
        "name": name,
        "dataset": {"path": f"data/{name}.jsonl", "format": "manifest", "rows": overall.n, "fingerprint": name * 4},
        "counts": {"samples": overall.n, "results": overall.n, "passed": overall.passed, "errors": overall.errors,
                   "unparsed": overall.unparsed},
        "scores": scores(overall, **sections),
        **({"comparison": comparison_of} if comparison_of is not None else {}),
    })


def several_suite_summary(suites: list[SuiteResult], checks: list[Check], run_id: str = "multi") -> Summary:
    """A real run's summary (summaries/v1-scripted.json) as a several-suite run's: these suites, the run's counts
    added up, and a verdict of these checks (named "<suite>: <check>"), failed when any check failed."""
    base = summary(run_id, "cand-model", "f" * 64)
    failed = [check.name for check in checks if check.result != "passed"]
    status = ("failed" if any(check.result == "failed" for check in checks) else
              "undecided" if failed else "passed")
    decision = Verdict(status=status, passed=not failed, exit_code=0 if not failed else 1, failed_checks=failed,
                       checks=checks)
    counts = Counts(**{field: sum(getattr(each.counts, field) for each in suites) for field in Counts.model_fields})
    return base.model_copy(update={"schema_version": SCHEMA_VERSION, "suites": suites, "counts": counts,
                                   "verdict": decision})


def check(name: str, outcome: str, value: float | None = 60.0, threshold: float = 50.0,
          metric: str = "score", suite: str | None = None) -> Check:
    """A stored gate check of this outcome (passed, failed or undecided) on the overall group; of `suite` (named
    "<suite>: <name>" as a several-suite run names it), else the run's own."""
    return Check.model_validate({"name": f"{suite}: {name}" if suite else name, "metric": metric, "group": "overall",
                                 "value": value, "threshold": threshold, "comparison": ">=",
                                 "passed": outcome == "passed", "source": "config", "samples": 100,
                                 "outcome": outcome,
                                 "note": "too few paired samples" if outcome == "undecided" else None,
                                 **({"suite": suite} if suite else {})})
