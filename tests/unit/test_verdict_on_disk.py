"""verdict.json vouches for the run's other outputs: written last, withdrawn before they change, refused by CI
without them; every file is written whole or not at all; the engine error budget counts every session's rows; an
incomplete run says what is left and how to continue; a run directory that cannot be written is refused up front.
(The same faults on a real full or read-only disk, through a whole run: tests/faults.)"""

from __future__ import annotations

import errno
import json
import types
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from ray_eval.ci import exit_code_without_verdict, pack_run_dir
from ray_eval.cli import main
from ray_eval.config import GateConfig, ReportConfig, validate_config
from ray_eval.data.dataset import DatasetScan
from ray_eval.errors import OperatorError, OutputError, UsageError
from ray_eval.outputs import write_outputs
from ray_eval.outputs.summary import build_summary, render_markdown, suite_result
from ray_eval.runs.atomic import write_atomically, write_text_atomically
from ray_eval.runs.finish import over_engine_error_budget
from ray_eval.runs.layout import RUN_FILE, VOUCHED_FILES
from ray_eval.runs.rundir import list_runs
from ray_eval.runs.store import RunStore, check_writable
from ray_eval.verdict.aggregate import statistics_note, summarize
from ray_eval.verdict.gate import evaluate_gate, verdict
from ray_eval.verdict.summary_model import Summary
from tests.unit.test_report import result_row, write_results


def finished_run(run_dir: Path, outcomes: list[str], samples: int | None = None) -> Summary:
    """A run directory's results and the summary and verdict the run's own code makes of them (not yet written)."""
    write_results(run_dir, [result_row(f"s{i}", i, outcome) for i, outcome in enumerate(outcomes)])
    results = pd.read_parquet(run_dir / "results.parquet")
    scores = summarize(results)
    samples = samples or len(outcomes)
    complete = samples == len(outcomes)
    decision = verdict(evaluate_gate(scores, GateConfig(min_pass_rate=0.5)), complete=complete,
                       incomplete_reason=None if complete else "engine unreachable")
    config = validate_config({"dataset": {"path": "data/manifest.jsonl"}, "engine": {"kind": "scripted"}})
    scan = DatasetScan("manifest", Path("data/manifest.jsonl"), types.SimpleNamespace(name="manifest"), rows=samples,
                       chunks=[],
                       fingerprint="f" * 64)
    suite = suite_result("manifest", scan, scores, statistics=statistics_note(results, config.statistics),
                         diagnostics=None, comparison=None)
    summary = build_summary(config, [suite], decision, run_dir=run_dir, started_at=datetime.now(UTC),
                            duration_s=3.0, served_models=[], serving=None)
    (run_dir / RUN_FILE).write_text(json.dumps({"config": summary.config, "started_at": "2026-01-02T09:00:00"}))
    return summary


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = write_text_atomically(tmp_path / "report.html", "the previous report", "run it again")

    def fills_the_disk(temporary: Path) -> None:
        temporary.write_text("half a rep")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError) as raised:
        write_atomically(target, fills_the_disk, "free space and run `ray-eval report RUN` again")
    assert str(raised.value) == (f"cannot write {target}: No space left on device; "
                                 "free space and run `ray-eval report RUN` again")
    assert target.read_text() == "the previous report" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_reports_that_cannot_be_written_leave_no_verdict_and_report_writes_them_later(tmp_path: Path, monkeypatch,
                                                                                      capsys) -> None:
    run_dir = tmp_path / "run"
    summary = finished_run(run_dir, ["passed", "passed", "wrong"])
    write_outputs(run_dir, summary, ReportConfig(), then="resume")
    assert json.loads((run_dir / "verdict.json").read_text())["status"] == "passed"

    def no_space(*args, **kwargs) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("ray_eval.outputs.write_report", no_space)  # the disk fills while report.html is written
    assert main(["report", str(run_dir)]) == 3
    assert capsys.readouterr().err == (f"ray-eval: cannot write {run_dir / 'report.html'}: No space left on device; "
                                       f"free space, then write the reports and verdict.json with "
                                       f"`ray-eval report {run_dir}`\n")
    assert not (run_dir / "verdict.json").exists()  # the old one was withdrawn before the reports changed
    assert list_runs(tmp_path)[0].resume_command == f"ray-eval report {run_dir}"
    assert list_runs(tmp_path)[0].status == "reports unwritten"
    with pytest.raises(UsageError, match="holds no verdict.json"):  # nothing for CI to trust
        pack_run_dir(run_dir)

    monkeypatch.undo()  # space is back
    assert main(["report", str(run_dir)]) == 0
    assert RunStore(run_dir).read_concluded() == summary and all((run_dir / name).is_file() for name in VOUCHED_FILES)
    assert pack_run_dir(run_dir).startswith("----- ray-eval run bundle begin -----")


def test_ci_pack_refuses_a_verdict_without_its_reports_naming_them(tmp_path: Path, capsys) -> None:
    (tmp_path / "verdict.json").write_text(json.dumps(verdict([]).model_dump(mode="json")))
    (tmp_path / "summary.json").write_text("{}")
    assert main(["ci", "pack", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"ray-eval: {tmp_path} holds verdict.json without summary.md, junit.xml, report.html")
    assert f"`ray-eval report {tmp_path}`" in err
    assert exit_code_without_verdict(-9) == exit_code_without_verdict(None) == 3 and exit_code_without_verdict(2) == 2


def frame(statuses: list[tuple[str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(statuses, columns=["status", "error_stage"])


def test_the_engine_error_budget_counts_every_row_on_disk_not_one_session() -> None:
    # 7 of 10 samples failed at the engine in the first session; a resumed one sent nothing, and changes nothing.
    rows = frame([("error", "inference")] * 7 + [("ok", None)] * 3)
    reason = over_engine_error_budget(rows, 0.2, Path("runs/r1"))
    assert reason == ("7 of 10 samples sent to the engine ended in an engine error (70.0%), over the error budget of "
                      "20.0% (run.max_engine_error_rate); once the engine is healthy, run them again with "
                      "`ray-eval run --resume runs/r1 --retry-errors`")
    # Rows that never reached the engine (bad media) count neither way; scoring errors were answered.
    rows = frame([("error", "inference")] * 2 + [("error", "preprocess")] * 5 + [("error", "scoring")]
                 + [("ok", None)] * 7)
    assert over_engine_error_budget(rows, 0.2, Path("r")) is None  # 2 of 10
    assert over_engine_error_budget(rows, 0.1, Path("r")).startswith("2 of 10 samples sent to the engine")
    assert over_engine_error_budget(frame([("error", "read")]), 0.0, Path("r")) is None


def test_an_incomplete_summary_says_what_is_left_and_the_command_that_continues_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r1"
    summary = finished_run(run_dir, ["passed", "error", "error", "wrong"], samples=10)
    text = render_markdown(summary)
    assert "> Incomplete: engine unreachable" in text
    assert "> 4 of 10 samples have a result: 2 answered, 2 error rows (ReadTimeout: 2), 6 not evaluated yet." in text
    assert f"> Continue it with: `ray-eval run --resume {run_dir} --retry-errors`" in text

    summary = finished_run(run_dir, ["passed", "wrong"], samples=5)
    assert f"> Continue it with: `ray-eval run --resume {run_dir}`\n" in render_markdown(summary)
    summary = finished_run(run_dir, ["passed", "wrong"])
    assert summary.resume_command is None and "Continue it with" not in render_markdown(summary)


def test_a_run_directory_that_cannot_be_written_is_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OperatorError) as raised:
        check_writable(tmp_path / "a-file" / "runs" / "r1", "run.out_dir")
    assert str(raised.value) == (f"run.out_dir {tmp_path}/a-file/runs: cannot write in {tmp_path}/a-file: a file "
                                 "stands where a folder should be; nothing was evaluated: choose a writable folder")
    assert raised.value.exit_code == 2
    check_writable(tmp_path / "runs" / "r1", "run.out_dir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # the probe created nothing
