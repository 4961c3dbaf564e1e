"""The CLI's contract without Ray: validate lists every bad row, bad input exits 2 before anything runs,
an unreachable engine exits 3 before Ray starts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pytest

from ray_eval.cli import main
from ray_eval.config import load_config
from ray_eval.runs.atomic import write_json_atomically
from ray_eval.runs.rundir import start_run_dir
from ray_eval.verdict.gate import verdict
from tests.conftest import free_port, jpeg_bytes, mcq_row, write_jsonl
from tests.unit import summary_parts as parts


def test_validate_lists_every_bad_row_and_exits_2(media_dir: Path, capsys) -> None:
    path = write_jsonl(media_dir / "m.jsonl", [mcq_row("a"), mcq_row("b", answer="Z"), mcq_row("a"), "oops"])
    assert main(["dataset", "validate", str(path)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("m.jsonl line 2 (id 'b'):") and "option letters" in out[0]
    assert out[1].startswith("m.jsonl line 3 (id 'a'): id: duplicate id, first used at line 1")
    assert out[2].startswith("m.jsonl line 4:") and "not valid JSON" in out[2]
    assert out[3].endswith(f"4 rows (manifest), 3 invalid; relative media paths looked up in {media_dir} "
                           "(the file's folder; --root to change)")


def test_validate_decode_media_finds_corrupt_files(media_dir: Path, capsys) -> None:
    (media_dir / "media" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    path = write_jsonl(media_dir / "m.jsonl", [mcq_row("a"), mcq_row("b", image="media/broken.jpg")])
    assert main(["dataset", "validate", str(path)]) == 0  # structure is fine
    assert main(["dataset", "validate", str(path), "--decode-media"]) == 2
    out = capsys.readouterr().out
    assert "m.jsonl line 2 (id 'b'): media.0: media/broken.jpg" in out.replace(str(media_dir) + "/", "")


def test_synth_writes_a_set_that_validates(tmp_path: Path, capsys) -> None:
    assert main(["dataset", "synth", "--out", str(tmp_path / "set"), "--n", "15", "--seed", "3"]) == 0
    assert main(["dataset", "validate", str(tmp_path / "set" / "manifest.jsonl"), "--decode-media"]) == 0
    assert "15 rows (manifest), valid" in capsys.readouterr().out
    assert main(["dataset", "synth", "--out", str(tmp_path / "set"), "--n", "15"]) == 2  # refuses to mix sets


def run_config(tmp_path: Path, manifest: Path, base_url: str) -> Path:
    path = tmp_path / "eval.yaml"
    path.write_text(f"dataset: {{path: {manifest}}}\n"
                    f"engine: {{kind: openai, base_url: '{base_url}', model: m, connect_timeout_s: 1}}\n"
                    f"run: {{out_dir: {tmp_path / 'runs'}}}\n")
    return path


def test_run_with_bad_config_or_dataset_exits_2_and_names_the_problem(media_dir: Path, capsys) -> None:
    good = write_jsonl(media_dir / "good.jsonl", [mcq_row("a")])
    config = run_config(media_dir, good, "http://127.0.0.1:9/v1")
    assert main(["run", "-c", str(config), "--set", "gate.min_pas_rate=0.5"]) == 2
    assert "gate.min_pas_rate: unknown field (did you mean 'min_pass_rate'?)" in capsys.readouterr().err
    bad = write_jsonl(media_dir / "bad.jsonl", [mcq_row("a"), mcq_row("b", image="../outside.jpg")])
    assert main(["run", "-c", str(config), "--set", f"dataset.path={bad}"]) == 2
    err = capsys.readouterr().err
    assert "1 of 2 rows are invalid" in err and "bad.jsonl line 2 (id 'b'): media.0:" in err
    assert not (media_dir / "runs").exists()  # nothing was evaluated, nothing was written
    assert main(["run"]) == 2
    assert capsys.readouterr().err.startswith("ray-eval: ray-eval run needs -c CONFIG")


def test_unreachable_engine_exits_3_before_anything_runs(media_dir: Path, capsys) -> None:
    manifest = write_jsonl(media_dir / "m.jsonl", [mcq_row("a")])
    config = run_config(media_dir, manifest, f"http://127.0.0.1:{free_port()}/v1")
    assert main(["run", "-c", str(config)]) == 3
    assert "unreachable" in capsys.readouterr().err
    assert not (media_dir / "runs").exists()


@pytest.mark.parametrize("command", [["gate", "nowhere"], ["report", "nowhere"]])
def test_commands_on_a_missing_run_directory_exit_2(command, capsys) -> None:
    assert main(command) == 2
    assert "not a finished run directory" in capsys.readouterr().err


def test_version_prints_the_installed_package_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"ray-eval, version {version('ray-eval')}\n"


def test_set_errors_name_the_set_and_file_errors_the_file(media_dir: Path, capsys) -> None:
    config = run_config(media_dir, write_jsonl(media_dir / "m.jsonl", [mcq_row("a")]), "http://127.0.0.1:9/v1")
    assert main(["run", "-c", str(config), "--set", "gate.min_pass_rate=2"]) == 2
    assert capsys.readouterr().err == ("ray-eval: --set gate.min_pass_rate=2: gate.min_pass_rate: Input should be "
                                       "less than or equal to 1 (got 2)\n")
    config.write_text(config.read_text() + "gate: {min_score: 101}\n")
    assert main(["run", "-c", str(config), "--set", "gate.max_errors=-1"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ray-eval: {config} is invalid:",
        "  gate.min_score: Input should be less than or equal to 100 (got 101)",
        "  --set gate.max_errors=-1: gate.max_errors: Input should be greater than or equal to 0 (got -1)",
    ]


def test_validate_names_its_format_option_and_where_media_paths_were_looked_up(tmp_path: Path, monkeypatch,
                                                                               capsys) -> None:
    unknown = tmp_path / "questions.txt"
    unknown.write_text("what is this?\n")
    assert main(["dataset", "validate", str(unknown)]) == 2
    first = capsys.readouterr().out.splitlines()[0]
    assert "cannot tell the format of" in first and first.endswith("; set --format")

    # A seed suite's image paths are relative to the working directory, not to the file's folder.
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "images").mkdir()
    (tmp_path / "suite" / "images" / "shelf.jpg").write_bytes(jpeg_bytes())
    suite = tmp_path / "suite" / "cases.json"
    suite.write_text(json.dumps({"test_cases": [{"id": "TC1", "image_path": "images/shelf.jpg", "question": "q",
                                                 "options": ["A. a", "B. b"], "expected_answer": "A",
                                                 "test_type": "mcq"}]}))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["dataset", "validate", str(suite)]) == 2
    problem, summary = capsys.readouterr().out.splitlines()
    assert problem == ("cases.json case 1 (id 'TC1'): media.0: media file 'images/shelf.jpg' does not exist "
                       f"(looked up in {work})")
    assert summary.endswith(f"relative media paths looked up in {work} (the working directory, this format's "
                            "default; --root to change)")
    assert main(["dataset", "validate", str(suite), "--root", str(suite.parent)]) == 0
    assert capsys.readouterr().out.rstrip().endswith(f"valid; relative media paths looked up in {suite.parent}")


def test_runs_lists_each_run_directory_with_its_status_verdict_and_how_to_resume(media_dir: Path, capsys) -> None:
    out_dir = media_dir / "runs"
    manifest = write_jsonl(media_dir / "m.jsonl", [mcq_row("a")])

    def started(run_id: str, hour: int, label: str) -> Path:
        config = load_config(run_config(media_dir, manifest, "http://127.0.0.1:9/v1"),
                             [f"run.run_id={run_id}", f"run.model_label={label}"])
        run_dir = out_dir / run_id
        start_run_dir(run_dir, config, datetime(2026, 1, 2, hour, tzinfo=UTC), "dataset-sha", False)
        return run_dir

    finished = started("b-finished", 9, "ckpt-1")
    write_json_atomically(finished / "verdict.json", verdict([]).model_dump(mode="json"), "run the test again")
    summary = parts.summary("b-finished", "ckpt-1", "f" * 64)
    summary.suites[0].scores.overall.score = 64.5
    write_json_atomically(finished / "summary.json", summary.stored(), "run the test again")
    stopped = started("a-stopped", 10, "ckpt-2")
    write_json_atomically(stopped / "verdict.json", verdict([], complete=False, incomplete_reason="engine unreachable")
                          .model_dump(mode="json"), "run the test again")
    interrupted = started("c-interrupted", 11, "ckpt-3")
    (out_dir / "judge-cache").mkdir()  # not a run directory: left out
    (out_dir / "d-edited").mkdir()
    (out_dir / "d-edited" / "run.json").write_text('{"config_fingerprint": "abc"}', encoding="utf-8")  # no config

    assert main(["runs", str(out_dir)]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["run", "id", "started", "status", "verdict", "score", "model"]
    edited = [line for line in lines if line.startswith("d-edited")]
    assert len(edited) == 1 and "unreadable" in edited[0] and "not a ray-eval run record" in edited[0]
    lines = [line for line in lines if not line.startswith("d-edited")]
    assert [line.split()[0] for line in lines] == ["b-finished", "a-stopped", "c-interrupted"]  # oldest first
    assert lines[0].split()[2:6] == ["complete", "passed", "64.5", "ckpt-1"] and "resume" not in lines[0]
    assert lines[1].split()[2:6] == ["incomplete", "incomplete", "-", "ckpt-2"]
    assert lines[1].endswith(f"resume: ray-eval run --resume {stopped}  (engine unreachable)")
    assert "no verdict (running, or interrupted)" in lines[2]
    assert lines[2].endswith(f"ckpt-3  resume: ray-eval run --resume {interrupted}")

    assert main(["runs", str(media_dir / "empty")]) == 2
    assert "is not a folder of run directories" in capsys.readouterr().err
    (media_dir / "empty").mkdir()
    assert main(["runs", str(media_dir / "empty")]) == 0
    assert capsys.readouterr().out == f"no run directories in {media_dir / 'empty'}\n"
