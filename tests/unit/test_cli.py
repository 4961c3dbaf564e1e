"""The CLI's contract without Ray: validate lists every bad row, bad input exits 2 before anything runs,
an unreachable engine exits 3 before Ray starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ray_eval.cli import main
from tests.conftest import free_port, mcq_row, write_jsonl


def test_validate_lists_every_bad_row_and_exits_2(media_dir: Path, capsys) -> None:
    path = write_jsonl(media_dir / "m.jsonl", [mcq_row("a"), mcq_row("b", answer="Z"), mcq_row("a"), "oops"])
    assert main(["dataset", "validate", str(path)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("m.jsonl line 2 (id 'b'):") and "option letters" in out[0]
    assert out[1].startswith("m.jsonl line 3 (id 'a'): id: duplicate id, first used at line 1")
    assert out[2].startswith("m.jsonl line 4:") and "not valid JSON" in out[2]
    assert out[3].endswith("4 rows (manifest), 3 invalid")


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
    assert main(["run"]) == 2 and "dataset: Field required" in capsys.readouterr().err


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
