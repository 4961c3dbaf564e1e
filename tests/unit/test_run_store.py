"""The run store alone knows a run directory's files: no other module of ray_eval names one (a walk over their
code), and what it writes and reads is what the run's earlier code wrote and read: run.json's keys in their order,
results of an older version read with today's columns, a resume's sample ids from the merged file and the parts."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ray_eval.config import validate_config
from ray_eval.errors import UsageError
from ray_eval.records import RESULT_SCHEMA
from ray_eval.runs import layout
from ray_eval.runs.rundir import plan_run_dir, start_run_dir
from ray_eval.runs.store import RunRecord, RunStore

PACKAGE = Path(__file__).resolve().parents[2] / "ray_eval"
STORE = PACKAGE / "runs"
# The store's own modules; the rest of ray_eval/runs/ (run, resume, rescore, progress) asks them like any module.
STORE_MODULES = {STORE / name for name in ("layout.py", "store.py", "atomic.py", "results.py")}
FILE_NAMES = (layout.RUN_FILE, layout.RESULTS_FILE, layout.BLIND_RESULTS_FILE, *layout.VOUCHED_FILES,
              layout.VERDICT_FILE, "results.parts", "blind_results.parts")
FILE_NAME_CONSTANTS = {name for name in vars(layout) if name.endswith("_FILE") or name.endswith("_FILES")}


def names_a_run_file(text: str) -> bool:
    """A string that is a run directory's file name, or a path ending in one or inside a parts folder; a sentence
    that mentions one (an error message, a help text) is not a path and is left alone."""
    return (text.startswith("part-") or text.endswith(".parts")
            or any(text == name or text.endswith("/" + name) or text.startswith(name + "/") for name in FILE_NAMES))


def docstrings(tree: ast.AST) -> set[int]:
    nodes = [tree, *(node for node in ast.walk(tree)
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))]
    return {id(node.body[0].value) for node in nodes
            if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def run_file_names_in(source: str, inside_store: bool = False) -> list[str]:
    """Where a module's code names a run directory's file: a string literal, or (outside the store) an import of the
    layout's file-name constants."""
    tree = ast.parse(source)
    skipped = docstrings(tree)
    found = [f"line {node.lineno}: {node.value!r}" for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
             and names_a_run_file(node.value)]
    if not inside_store:
        found += [f"line {node.lineno}: imports {alias.name}" for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ray_eval.runs")
                  for alias in node.names if alias.name in FILE_NAME_CONSTANTS - {"PACKED_FILES"}]
    return found


def test_the_walk_finds_a_run_file_named_in_code_and_not_in_prose() -> None:
    code = ('"""Reads summary.json."""\nfrom ray_eval.runs.layout import VERDICT_FILE\n'
            'path = run_dir / "summary.json"\nother = f"{run_dir}/verdict.json"\npart = f"part-{index:05d}.parquet"\n'
            'message = "holds no verdict.json: the run did not finish"\n')
    assert run_file_names_in(code) == ["line 3: 'summary.json'", "line 4: '/verdict.json'", "line 5: 'part-'",
                                       "line 2: imports VERDICT_FILE"]


def test_no_module_but_the_run_store_names_a_run_directory_file() -> None:
    # layout.py is where the names are defined; the rest of the store uses its constants and paths.
    offenders = {str(path.relative_to(PACKAGE)): found for path in sorted(PACKAGE.rglob("*.py"))
                 if path != STORE / "layout.py"
                 and (found := run_file_names_in(path.read_text(encoding="utf-8"), path in STORE_MODULES))}
    assert offenders == {}, f"ask ray_eval.runs (RunLayout, RunStore) where a run directory's file is: {offenders}"


def config(tmp_path: Path):
    return validate_config({"dataset": {"path": str(tmp_path / "m.jsonl")}, "engine": {"kind": "scripted"},
                            "run": {"out_dir": str(tmp_path / "runs"), "run_id": "r1"}})


def test_run_json_keeps_its_keys_in_order_and_a_rescore_adds_its_time_last(tmp_path: Path) -> None:
    run_config = config(tmp_path)
    run_dir, resuming = plan_run_dir(run_config, datetime(2026, 1, 2, 9, tzinfo=UTC), "d" * 64)
    assert (run_dir, resuming) == (tmp_path / "runs" / "r1", False)
    start_run_dir(run_dir, run_config, datetime(2026, 1, 2, 9, tzinfo=UTC), "d" * 64, resuming)
    stored = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert list(stored) == ["config_fingerprint", "dataset_fingerprint", "started_at", "config"]
    assert stored["started_at"] == "2026-01-02T09:00:00+00:00" and stored["dataset_fingerprint"] == "d" * 64

    store = RunStore(run_dir)
    record = store.read_run_record()
    store.write_run_record(record)
    assert json.loads((run_dir / "run.json").read_text(encoding="utf-8")) == stored
    store.write_run_record(replace(record, rescored_at="2026-01-03T10:00:00+00:00"))
    assert list(json.loads((run_dir / "run.json").read_text(encoding="utf-8")))[-1] == "rescored_at"
    # The same run id and config again: resumed; another dataset: refused, naming it.
    assert plan_run_dir(run_config, datetime.now(UTC), "d" * 64) == (run_dir, True)
    with pytest.raises(UsageError, match="was made from another version of .*m.jsonl"):
        plan_run_dir(run_config, datetime.now(UTC), "e" * 64)


def test_a_folder_with_other_files_is_not_a_run_to_resume(tmp_path: Path) -> None:
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match=r"holds files but no run.json: not a ray-eval run to resume"):
        plan_run_dir(config(tmp_path), datetime.now(UTC), "d" * 64)
    with pytest.raises(UsageError, match="is not a run directory to resume: run.json is missing"):
        RunStore(tmp_path / "runs" / "r1").read_run_record()


def rows(ids: list[str], status: str) -> pa.Table:
    return pa.table({"sample_id": ids, "status": [status] * len(ids)})


def test_results_of_an_older_version_read_with_todays_columns_and_null_for_the_missing(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    pq.write_table(pa.table({"sample_id": ["a", "b"], "status": ["ok", "error"], "score": [1.0, None]}),
                   tmp_path / "results.parquet")
    table = store.read_results(["status", "sample_id", "media_digests"])
    assert table.column_names == ["status", "sample_id", "media_digests"]
    assert table["media_digests"].null_count == 2 and table.schema.field("media_digests").type == RESULT_SCHEMA.field(
        "media_digests").type
    frame = store.read_results_frame(["sample_id", "score"])
    assert frame["sample_id"].tolist() == ["a", "b"] and frame["score"].tolist()[0] == 1.0


def test_a_resume_skips_the_latest_row_of_each_sample_from_the_merged_file_then_the_parts(tmp_path: Path) -> None:
    """Rows of a run made before suites (no suite column): the run's one suite, named after its dataset file."""
    store = RunStore(tmp_path)
    store.write_run_record(RunRecord({"dataset": {"path": "data/Shop Bench.jsonl"}}))
    pq.write_table(rows(["a", "b", "c"], "error"), tmp_path / "results.parquet")
    (tmp_path / "results.parts").mkdir()
    pq.write_table(rows(["a"], "ok"), tmp_path / "results.parts" / "part-00001.parquet")
    pq.write_table(rows(["b"], "ok"), tmp_path / "results.parts" / "part-00000.parquet")
    pq.write_table(rows(["b"], "error"), tmp_path / "results.parts" / "part-00002.parquet")
    assert store.done_sample_ids(retry_errors=False) == {"shop-bench": {"a", "b", "c"}}
    assert store.done_sample_ids(retry_errors=True) == {"shop-bench": {"a"}}  # b's last row is an error again
    assert store.read_results(["suite"])["suite"].to_pylist() == ["shop-bench"] * 3


def test_the_same_sample_id_in_two_suites_is_two_samples_when_merged_and_resumed(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.write_run_record(RunRecord({"suites": [{"name": "shop"}, {"name": "guard"}]}))
    writer = store.result_writer(rows_per_part=2, flush_interval_s=3600)
    writer.write(_result_rows(["a", "b"], "error", suite="shop"))
    writer.write(_result_rows(["a", "b"], "ok", suite="guard"))
    writer.write(_result_rows(["a"], "ok", suite="shop"))  # a's retry in shop replaces only shop's row
    writer.close()
    table = store.read_results(["suite", "sample_id", "status"])
    assert sorted(zip(*(table[name].to_pylist() for name in table.column_names), strict=True)) == [
        ("guard", "a", "ok"), ("guard", "b", "ok"), ("shop", "a", "ok"), ("shop", "b", "error")]
    assert store.done_sample_ids(retry_errors=True) == {"guard": {"a", "b"}, "shop": {"a"}}


def test_writer_resumes_after_the_parts_and_merges_the_last_row_of_each_sample(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    first = store.result_writer(rows_per_part=2, flush_interval_s=3600)
    first.write(_result_rows(["a", "b"], "error"))
    first.close()
    resumed = store.result_writer(rows_per_part=2, flush_interval_s=3600)  # the merged file becomes part 0
    assert [path.name for path in store.results.parts()] == ["part-00000.parquet"]
    resumed.write(_result_rows(["b"], "ok"))
    assert resumed.close() == tmp_path / "results.parquet" and not (tmp_path / "results.parts").exists()
    merged = store.read_results(["sample_id", "status"]).to_pylist()
    assert sorted(merged, key=lambda row: row["sample_id"]) == [{"sample_id": "a", "status": "error"},
                                                                {"sample_id": "b", "status": "ok"}]


def _result_rows(ids: list[str], status: str, suite: str | None = None) -> pa.Table:
    empty = {name: [None] * len(ids) for name in RESULT_SCHEMA.names}
    return pa.Table.from_pydict(empty | {"suite": [suite] * len(ids), "sample_id": ids, "status": [status] * len(ids)},
                                schema=RESULT_SCHEMA)


def test_withdrawing_the_conclusion_removes_the_verdict_then_the_summary(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    for path in (store.summary, store.verdict, store.markdown):
        path.write_text("{}")
    store.withdraw_conclusion()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["summary.md"]  # the reports wait to be rewritten
    assert store.read_summary() is None and store.read_verdict() is None


@pytest.mark.parametrize("content", ['{"config_fingerprint": "abc"}', "not json", "[1, 2]"],
                         ids=["no-config", "not-json", "not-an-object"])
def test_a_run_json_that_is_not_a_run_record_is_refused_in_one_line(tmp_path, content) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=r"run\.json is not a ray-eval run record .*choose another run\.run_id"):
        RunStore(run_dir).existing_run()
