"""The run's metrics as a node_exporter textfile: promtool-clean, labelled, equal to the summary (every suite's series
under its `suite` label, the run's own without one); push failures are recorded, never raised."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ray_eval.config import EvalConfig, MetricsConfig, StatisticsConfig
from ray_eval.metrics import RunMetrics, names, run_labels
from ray_eval.testing.prometheus import find_binary, free_port
from ray_eval.verdict.aggregate import AGGREGATE_COLUMNS, summarize
from ray_eval.verdict.gate import Check, verdict
from ray_eval.verdict.summary_model import Counts, Summary
from tests.unit import summary_parts as parts

LABELS = {"model": "m", "dataset": "d", "environment": "e"}
SUITE = "manifest"  # the one suite of parts.summary's run


def results(suite: str = SUITE) -> pd.DataFrame:
    rows = []
    for i in range(12):
        row = dict.fromkeys(AGGREGATE_COLUMNS)
        ok = i != 3
        row.update(suite=suite, sample_id=f"s{i}", subset="Kitchen" if i % 2 else "ShopFront", format="mcq",
                   input_type="single", l1="Perception", weight=1.0, critical=i < 2, status="ok" if ok else "error",
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
    counts = Counts(samples=len(frame), results=len(frame), passed=scores.overall.passed,
                    errors=scores.overall.errors, unparsed=scores.overall.unparsed)
    summary = parts.summary("r1", "m", "ds")
    suite = summary.suites[0].model_copy(update={"scores": scores, "counts": counts})
    return summary.model_copy(update={"config_fingerprint": "cfg", "duration_s": 12.5, "suites": [suite],
                                      "verdict": verdict([check]), "counts": counts})


def batch_of(frame: pd.DataFrame) -> pa.Table:
    columns = ["suite", "status", "error_stage", "error_type", "unparsed", "format", "latency_s", "prompt_tokens",
               "completion_tokens"]
    return pa.Table.from_pandas(frame[columns], preserve_index=False)


def labelled(**labels: str) -> tuple:
    """A series' labels as `samples` keys them: the run's grouping labels and these."""
    return tuple(sorted({**LABELS, **labels}.items()))


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
    key = labelled(suite=SUITE, dimension="overall", group="overall")
    assert got[(names.SCORE, key)] == pytest.approx(summary.suites[0].scores.overall.score / 100)
    assert got[(names.SAMPLES, labelled(suite=SUITE, status="error"))] == 1
    assert got[(names.SAMPLES, labelled(suite=SUITE, status="ok"))] == 11
    assert got[(names.ERRORS, labelled(suite=SUITE, stage="inference", type="HTTP 500"))] == 1
    assert got[(names.LATENCY + "_count", tuple(sorted(LABELS.items())))] == 11
    assert got[(names.TOKENS, tuple(sorted({**LABELS, "kind": "prompt"}.items())))] == 1100
    assert (names.LAST_SUCCESS, tuple(sorted(LABELS.items()))) in got
    kitchen = labelled(suite=SUITE, dimension="subset", group="Kitchen")
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
    assert second.previous[(SUITE, "overall", "overall")] == pytest.approx(
        summary_of(frame).suites[0].scores.overall.score / 100)
    second.finish(summary_of(frame.assign(score=0.0, passed=False), passed=False))
    got = samples(textfile.read_text())
    key = labelled(suite=SUITE, dimension="overall", group="overall")
    assert got[(names.PREVIOUS_SCORE, key)] > got[(names.SCORE, key)] == 0.0
    assert got[(names.GATE_PASSED, tuple(sorted(LABELS.items())))] == 0


def test_an_unreachable_pushgateway_is_recorded_not_raised() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    metrics = RunMetrics(MetricsConfig(pushgateway_url=url, timeout_s=2), LABELS)
    report = metrics.finish(summary_of(results()))
    assert report.pushes == 0 and len(report.errors) == 2  # reading the previous score, then the push
    assert all(url in error for error in report.errors)


def test_two_suites_each_under_its_suite_label_and_the_run_wide_series_under_none(tmp_path: Path) -> None:
    shop, guard = results("shopbench"), results("guard-ocr").assign(passed=False, score=0.0)
    shop_scores = summarize(shop, StatisticsConfig(bootstrap_resamples=200))
    guard_scores = summarize(guard, StatisticsConfig(bootstrap_resamples=200))
    delta = parts.comparison(overall=parts.paired_group(delta=-12.5))
    summary = parts.several_suite_summary(
        [parts.suite("shopbench", shop_scores.overall, **shop_scores.model_dump(exclude={"overall"})),
         parts.suite("guard-ocr", guard_scores.overall, comparison_of=delta,
                     **guard_scores.model_dump(exclude={"overall"}))],
        [parts.check("overall score", "passed", suite="shopbench"),
         parts.check("overall score", "failed", 0.0, suite="guard-ocr")])
    textfile = tmp_path / "ray_eval.prom"
    metrics = RunMetrics(MetricsConfig(textfile=textfile), LABELS)
    both = pd.concat([shop, guard], ignore_index=True)
    metrics.observe(batch_of(both), len(both), len(both))
    metrics.finish(summary)
    text = textfile.read_text()
    checked = subprocess.run([find_binary("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    got = samples(text)
    for suite, scores in (("shopbench", shop_scores), ("guard-ocr", guard_scores)):
        overall = labelled(suite=suite, dimension="overall", group="overall")
        assert got[(names.SCORE, overall)] == pytest.approx(scores.overall.score / 100)
        assert got[(names.PASS, overall)] == pytest.approx(scores.overall.pass_rate)
        assert got[(names.GROUP_SAMPLES, labelled(suite=suite, dimension="subset", group="Kitchen"))] == 6
        assert got[(names.SAMPLES, labelled(suite=suite, status="ok"))] == 11
        assert got[(names.ERRORS, labelled(suite=suite, stage="inference", type="HTTP 500"))] == 1
    assert got[(names.SCORE, labelled(suite="guard-ocr", dimension="overall", group="overall"))] == 0.0
    assert got[(names.BASELINE_DELTA, labelled(suite="guard-ocr"))] == pytest.approx(-0.125)
    assert not any(name == names.BASELINE_DELTA and dict(key)["suite"] == "shopbench" for name, key in got)
    # The run's own series: one each, no suite label; the checks keep their suite-named check label.
    run_wide = {names.GATE_PASSED, names.GATE_STATUS, names.GATE_CHECK_PASSED, names.RUN_DURATION, names.RUN_PROGRESS,
                names.RUN_INFO, names.TOKENS, names.LATENCY + "_count"}
    assert all("suite" not in dict(key) for name, key in got if name in run_wide)
    assert all(("suite" in dict(key)) == (name in names.PER_SUITE) for name, key in got)
    assert got[(names.GATE_PASSED, labelled())] == 0
    assert got[(names.GATE_CHECK_PASSED, labelled(check="guard-ocr: overall score"))] == 0
    assert got[(names.GATE_CHECK_PASSED, labelled(check="shopbench: overall score"))] == 1
    assert got[(names.LATENCY + "_count", labelled())] == 22
    run_ids = [dict(key) for name, key in got if name == names.RUN_INFO]
    assert [labels["dataset_fingerprint"] for labels in run_ids] == [summary.dataset_fingerprint]


def test_a_score_pushed_without_a_suite_label_is_no_suites_previous_score(tmp_path: Path) -> None:
    """A target holding an older ray-eval's series (no suite label): the first run after it has no previous score,
    rather than a guess at which suite that score was."""
    textfile = tmp_path / "ray_eval.prom"
    textfile.write_text('# TYPE rayeval_score_ratio gauge\nrayeval_score_ratio{dataset="d",dimension="overall",'
                        'environment="e",group="overall",model="m"} 0.7\n')
    metrics = RunMetrics(MetricsConfig(textfile=textfile), LABELS)
    assert metrics.previous == {}
    metrics.finish(summary_of(results()))
    assert not any(name == names.PREVIOUS_SCORE for name, _ in samples(textfile.read_text()))


def test_the_dataset_label_of_a_several_suite_run_names_its_suites() -> None:
    suites = [{"name": name, "dataset": {"path": f"data/{name}.jsonl"}} for name in ("shopbench", "guard-ocr")]
    config = EvalConfig.model_validate({"suites": suites, "engine": {"kind": "scripted"}})
    assert run_labels(config)["dataset"] == "shopbench+guard-ocr"
    one = EvalConfig.model_validate({"dataset": {"path": "data/ShopBench-v2.jsonl"}, "engine": {"kind": "scripted"}})
    assert run_labels(one)["dataset"] == "ShopBench-v2"  # the file stem, as before suites
