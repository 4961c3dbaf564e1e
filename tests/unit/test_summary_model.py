"""summary.json as a typed model: every summary the run writes is read and given back byte for byte; a summary
written before the schema version was recorded is version 1, read as one suite with nothing lost; a version this
ray-eval does not know, or a file that is not a summary, is refused in one line naming the file.

tests/unit/summaries/ holds summary.json files of real runs written before the version was recorded (data/sample,
`configs/scripted.yaml`): the scripted run with its blind pass, a run compared with it as its baseline, and a run
whose engine answered every request with 503 (incomplete)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ray_eval.cli import main
from ray_eval.config import ReportConfig
from ray_eval.errors import UsageError
from ray_eval.outputs import write_outputs
from ray_eval.runs.store import RunStore
from ray_eval.verdict.summary_model import SCHEMA_VERSION, Summary, load_summary
from tests.unit.test_verdict_on_disk import finished_run

SUMMARIES = Path(__file__).parent / "summaries"
STORED = sorted(SUMMARIES.glob("*.json"))


def as_written(data: dict) -> str:
    """JSON with the writer's options (runs/atomic.write_json_atomically)."""
    return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def test_the_stored_summaries_are_the_three_kinds_of_run() -> None:
    kinds = {path.stem: load_summary(json.loads(path.read_text(encoding="utf-8")), str(path)) for path in STORED}
    assert set(kinds) == {"v1-scripted", "v1-comparison", "v1-incomplete"}
    scripted, compared = kinds["v1-scripted"].suites[0], kinds["v1-comparison"].suites[0]
    assert scripted.diagnostics is not None and scripted.comparison is None
    assert compared.comparison is not None and compared.comparison.flipped
    assert kinds["v1-incomplete"].status == "incomplete" and kinds["v1-incomplete"].resume_command


def as_one_dataset(dumped: dict) -> dict:
    """A version-3 summary of one suite in the shape versions 1 and 2 had (its suite's parts at the top level)."""
    dumped = dict(dumped)
    suite = dict(dumped.pop("suites")[0])
    del suite["name"], suite["counts"]  # the name is made from the dataset's path; the counts are the run's too
    return dumped | suite


@pytest.mark.parametrize("path", STORED, ids=[path.stem for path in STORED])
def test_a_summary_without_schema_version_is_version_1_read_as_one_suite_with_nothing_lost(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "schema_version" not in text
    summary = Summary.model_validate(json.loads(text))
    assert summary.schema_version == 1
    suite, = summary.suites
    assert suite.name == "manifest" and suite.counts == summary.counts  # data/sample/manifest.jsonl, its one suite
    assert as_one_dataset(summary.model_dump(mode="json")) == json.loads(text)
    # Written again, it is version 3 and reads back byte for byte.
    again = as_written(summary.stored())
    assert as_written(Summary.model_validate(json.loads(again)).model_dump(mode="json")) == again


def test_the_store_writes_the_version_and_reads_back_what_it_wrote(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    summary = finished_run(run_dir, ["passed", "passed", "wrong"])
    write_outputs(run_dir, summary, ReportConfig(), then="resume")
    text = (run_dir / "summary.json").read_text(encoding="utf-8")
    written = json.loads(text)
    assert next(iter(written)) == "schema_version" and written["schema_version"] == SCHEMA_VERSION
    # summary.json is the summary the run built, its version and the full verdict included.
    assert text == as_written(summary.model_dump(mode="json"))
    assert written["verdict"] == json.loads((run_dir / "verdict.json").read_text(encoding="utf-8"))
    stored = RunStore(run_dir).read_summary()
    assert stored.verdict.checks is not None and stored.counts.samples == 3
    assert as_written(stored.model_dump(mode="json")) == text


def test_a_summary_of_a_newer_version_is_refused_in_one_line_naming_the_file(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    summary = finished_run(run_dir, ["passed", "wrong"])
    write_outputs(run_dir, summary, ReportConfig(), then="resume")
    path = run_dir / "summary.json"
    path.write_text(as_written({**json.loads(path.read_text()), "schema_version": SCHEMA_VERSION + 1}))
    (run_dir / "verdict.json").unlink()  # `ray-eval report` then takes the verdict from summary.json
    assert main(["report", str(run_dir)]) == 2
    assert capsys.readouterr().err == (
        f"ray-eval: {path}: schema_version {SCHEMA_VERSION + 1} is newer than this ray-eval reads (up to "
        f"{SCHEMA_VERSION}): read it with the ray-eval that wrote it, or a newer one\n")
    assert not (run_dir / "verdict.json").exists()  # nothing was written from a summary it cannot read


@pytest.mark.parametrize(("data", "message"), [
    ([1, 2], "is not a ray-eval summary (a JSON object was expected)"),
    ({"schema_version": "one"}, "schema_version 'one' is not a summary.json version"),
    ({"run_id": "r"}, "is not a ray-eval summary: status: Field required"),
], ids=["not-an-object", "bad-version", "missing-fields"])
def test_a_file_that_is_not_a_summary_is_refused_naming_it(data, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        load_summary(data, "runs/r/summary.json")
    assert str(raised.value).startswith("runs/r/summary.json") and message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_key_older_summaries_lack_stays_out_and_an_unknown_key_is_refused() -> None:
    data = json.loads((SUMMARIES / "v1-scripted.json").read_text(encoding="utf-8"))
    del data["dataset"]["file_rows"], data["verdict"]["checks"]  # as written before partial runs and stored checks
    summary = Summary.model_validate(data)
    assert summary.suites[0].dataset.file_rows is None and summary.verdict.checks is None
    assert as_one_dataset(summary.model_dump(mode="json")) == data
    with pytest.raises(UsageError, match=r"summary\.json is not a ray-eval summary: counts\.extra: Extra inputs"):
        load_summary({**data, "counts": {**data["counts"], "extra": 1}}, "summary.json")
