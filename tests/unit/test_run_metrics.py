"""The run's metrics as a node_exporter textfile: promtool-clean, labelled, equal to the summary; push failures are
recorded, never raised."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ray_eval.config import MetricsConfig, StatisticsConfig
from ray_eval.metrics import RunMetrics, names
from ray_eval.testing.prometheus import find_binary, free_port
from ray_eval.verdict.aggregate import AGGREGATE_COLUMNS, summarize
from ray_eval.verdict.gate import Check, verdict
from ray_eval.verdict.summary_model import Counts, Summary
from tests.unit import summary_parts as parts

LABELS = {"model": "m", "dataset": "d", "environment": "e"}


def results() -> pd.DataFrame:
    rows = []
    for i in range(12):
        row = dict.fromkeys(AGGREGATE_COLUMNS)
        ok = i != 3
        row.update(sample_id=f"s{i}", subset="Kitchen" if i % 2 else "ShopFront", format="mcq", input_type="single",
                   l1="Perception", weight=1.0, critical=i < 2, status="ok" if ok else "error",
                   error_stage=None if ok else "inference", error_type=None if ok else "HTTP 500",
                   score=float(ok and i % 3 != 0), passed=ok and i % 3 != 0, unparsed=i == 6,
                   latency_s=0.2 if ok else None,
                   prompt_tokens=100 if ok else None, completion_tokens=4 if ok else None, attempts=1,
                   media_digests=[f"img{i // 2}"])
        rows.append(row)
    return pd.DataFrame(rows)


def summary_of(frame: pd.DataFrame, passed: bool = True) -> Summary:
    """The summary of a run of these results whose one gate check (overall score) passed or failed."""
    scores = summarize(frame, StatisticsConfig(bootstrap_resamples=200))
    check = Check("overall score", "score", "overall", scores.overall.score, 50.0, ">=", passed, "config", len(frame))
    return parts.summary("r1", "m", "ds").model_copy(update={
        "config_fingerprint": "cfg", "duration_s": 12.5, "scores": scores, "verdict": verdict([check]),
        "counts": Counts(samples=len(frame), results=len(frame), passed=scores.overall.passed,
                         errors=scores.overall.errors, unparsed=scores.overall.unparsed)})


def batch_of(frame: pd.DataFrame) -> pa.Table:
    columns = ["status", "error_stage", "error_type", "unparsed", "format", "latency_s", "prompt_tokens",
               "completion_tokens"]
    return pa.Table.from_pandas(frame[columns], preserve_index=False)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_textfile_is_promtool_clean_labelled_and_equal_to_the_summary(tmp_path: Path) -> None:
    frame = results()
    summary = summary_of(frame)
    textfile = tmp_path / "textfile" / "ray_eval.prom"
    metrics = RunMetrics(MetricsConfig(textfile=textfile), LABELS)
    metrics.observe(batch_of(frame), len(frame), len(frame))
    report = metrics.finish(summary)
    text = textfile.read_text()
    assert report.errors == [] and text == generate_latest(metrics.registry).decode()
    checked = subprocess.run([find_binary("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stdout + checked.stderr

    got = samples(text)
    key = tuple(sorted({**LABELS, "dimension": "overall", "group": "overall"}.items()))
    assert got[(names.SCORE, key)] == pytest.approx(summary.scores.overall.score / 100)
    assert got[(names.SAMPLES, tuple(sorted({**LABELS, "status": "error"}.items())))] == 1
    assert got[(names.SAMPLES, tuple(sorted({**LABELS, "status": "ok"}.items())))] == 11
    assert got[(names.ERRORS, tuple(sorted({**LABELS, "stage": "inference", "type": "HTTP 500"}.items())))] == 1
    assert got[(names.LATENCY + "_count", tuple(sorted(LABELS.items())))] == 11
    assert got[(names.TOKENS, tuple(sorted({**LABELS, "kind": "prompt"}.items())))] == 1100
    assert (names.LAST_SUCCESS, tuple(sorted(LABELS.items()))) in got
    kitchen = tuple(sorted({**LABELS, "dimension": "subset", "group": "Kitchen"}.items()))
    assert got[(names.GROUP_SAMPLES, kitchen)] == 6
    # Every name the exporter writes is declared in names.py.
    declared = {value for key, value in vars(names).items() if key.isupper() and isinstance(value, str)}
    written = {family.name for family in text_string_to_metric_families(text)}
    assert {n if n + "_total" not in declared else n + "_total" for n in written} <= declared


def test_second_run_sees_the_previous_score_and_keeps_the_last_success(tmp_path: Path) -> None:
    frame = results()
    textfile = tmp_path / "ray_eval.prom"
    first = RunMetrics(MetricsConfig(textfile=textfile), LABELS)
    first.finish(summary_of(frame))
    second = RunMetrics(MetricsConfig(textfile=textfile), LABELS)
    assert second.previous[("overall", "overall")] == pytest.approx(summary_of(frame).scores.overall.score / 100)
    second.finish(summary_of(frame.assign(score=0.0, passed=False), passed=False))
    got = samples(textfile.read_text())
    key = tuple(sorted({**LABELS, "dimension": "overall", "group": "overall"}.items()))
    assert got[(names.PREVIOUS_SCORE, key)] > got[(names.SCORE, key)] == 0.0
    assert got[(names.GATE_PASSED, tuple(sorted(LABELS.items())))] == 0


def test_an_unreachable_pushgateway_is_recorded_not_raised() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    metrics = RunMetrics(MetricsConfig(pushgateway_url=url, timeout_s=2), LABELS)
    report = metrics.finish(summary_of(results()))
    assert report.pushes == 0 and len(report.errors) == 2  # reading the previous score, then the push
    assert all(url in error for error in report.errors)
