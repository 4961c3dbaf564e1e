"""The peers benchmark without the peers installed: the files it writes for lmms-eval and VLMEvalKit carry the
workload's cases as the peers' formats expect them, the command lines point at the engine, and a peer that is not
installed is reported as such. No timings (BENCHMARKS.md has the real run)."""

from __future__ import annotations

import base64
import csv
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from benchmarks.engine_process import MODEL, ImagePayload
from benchmarks.peer_files import LMMS_TASK, VLMEVAL_DATASET, LmmsEvalFiles, VlmEvalKitFiles
from benchmarks.time_to_verdict import make_workload

REPO = Path(__file__).resolve().parents[2]
BASE_URL = "http://127.0.0.1:4321/v1"


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    return make_workload(tmp_path_factory.mktemp("workload"), cases=3)


def _cases(suite: Path) -> list[dict]:
    return json.loads(suite.read_text(encoding="utf-8"))["test_cases"]


class _TaskLoader(yaml.SafeLoader):
    """lmms-eval's YAML with its `!function module.name` tags read as plain strings."""


_TaskLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def test_lmms_task_reads_the_suite_and_scores_the_letter(tmp_path, suite) -> None:
    files = LmmsEvalFiles("JPEG")
    files.write(tmp_path, suite)
    task = yaml.load((tmp_path / "lmms-tasks" / f"{LMMS_TASK}.yaml").read_text(encoding="utf-8"), _TaskLoader)
    assert task["task"] == LMMS_TASK and task["dataset_path"] == "json" and task["test_split"] == "test"
    assert task["dataset_kwargs"] == {"data_files": {"test": str(suite)}, "field": "test_cases"}
    assert task["doc_to_visual"] == "!function utils.doc_to_visual"
    assert task["process_results"] == "!function utils.process_results"
    assert task["metric_list"][0]["metric"] == "accuracy"

    spec = importlib.util.spec_from_file_location("lmms_task_utils", tmp_path / "lmms-tasks" / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    for case in _cases(suite):
        [image] = utils.doc_to_visual(case)
        assert Path(image).is_file() and image.endswith(".jpg")
        prompt = utils.doc_to_text(case)
        assert prompt.startswith(case["question"]) and all(option in prompt for option in case["options"])
        wrong = next(letter for letter in "ABCD" if letter != case["expected_answer"])
        assert utils.process_results(case, [case["expected_answer"]]) == {"accuracy": 1.0}
        assert utils.process_results(case, [f"The answer is {wrong}."]) == {"accuracy": 0.0}


def test_lmms_command_points_its_openai_model_at_the_engine(tmp_path, suite) -> None:
    files = LmmsEvalFiles("PNG")
    files.write(tmp_path, suite)
    command, env = files.command(Path("/peer/bin/python"), BASE_URL, tmp_path / "out", slots=32)
    assert command[:3] == ["/peer/bin/python", "-m", "lmms_eval"]
    assert command[command.index("--model") + 1] == "openai"
    model_args = dict(item.split("=", 1) for item in command[command.index("--model_args") + 1].split(","))
    assert model_args["base_url"] == BASE_URL and model_args["model"] == MODEL
    assert model_args["num_concurrent"] == "32"
    assert command[command.index("--include_path") + 1] == str(tmp_path / "lmms-tasks")
    assert env["LMMS_IMAGE_ENCODE_FORMAT"] == "PNG"


def test_vlmeval_tsv_holds_each_case_with_its_image_and_options(tmp_path, suite) -> None:
    VlmEvalKitFiles().write(tmp_path, suite)
    with (tmp_path / "LMUData" / f"{VLMEVAL_DATASET}.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    cases = _cases(suite)
    assert len(rows) == len(cases)
    for row, case in zip(rows, cases, strict=True):
        image = base64.b64decode(row["image"])
        assert image == Path(case["image_path"]).read_bytes()
        assert Image.open(io.BytesIO(image)).size == (640, 480)
        assert row["question"] == case["question"] and row["answer"] == case["expected_answer"]
        assert [f"{letter}. {row[letter]}" for letter in "ABCD"] == case["options"]


def test_vlmeval_config_uses_its_openai_wrapper_at_the_engine(tmp_path, suite) -> None:
    files = VlmEvalKitFiles()
    files.write(tmp_path, suite)
    command, env = files.command(Path("/peer/bin/python"), BASE_URL, tmp_path / "out", slots=32)
    config = json.loads(Path(command[command.index("--config") + 1]).read_text(encoding="utf-8"))
    assert config["model"][MODEL]["class"] == "GPT4V"
    assert config["model"][MODEL]["api_base"] == f"{BASE_URL}/chat/completions"
    assert config["data"] == {VLMEVAL_DATASET: {"class": "CustomMCQDataset", "dataset": VLMEVAL_DATASET}}
    assert command[command.index("--api-nproc") + 1] == "32"
    assert command[command.index("--judge") + 1] == "exact_matching"
    assert env["LMUData"] == str(tmp_path / "LMUData")


def test_engine_tells_the_image_format_sent_from_the_one_declared() -> None:
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    url = "data:image/jpeg;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "q"},
                                                      {"type": "image_url", "image_url": {"url": url}}]}]}
    assert ImagePayload.first_in(body) == [ImagePayload(declared="image/jpeg", actual="PNG",
                                                        size_bytes=len(png.getvalue()))]
    assert ImagePayload.first_in({"messages": [{"role": "user", "content": "hello"}]}) == []


def _peers(*args: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.peers", "--cases", "3", "--out", str(out), *args],
                          cwd=REPO, capture_output=True, text=True, check=False, timeout=120)


def test_missing_peers_are_reported_not_installed(tmp_path) -> None:
    missing = tmp_path / "no-venv" / "bin" / "python"
    result = _peers("--lmms-python", str(missing), "--vlmeval-python", sys.executable,
                    "--json", str(tmp_path / "peers.json"), out=tmp_path / "bench")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert f"peers: lmms-eval not installed: no interpreter at {missing}" in lines
    assert f"peers: VLMEvalKit not installed: ms-vlmeval is not installed for {sys.executable}" in lines
    figures = json.loads((tmp_path / "peers.json").read_text(encoding="utf-8"))
    assert figures["runs"] == [] and set(figures["not_installed"]) == {"lmms-eval", "VLMEvalKit"}


def test_no_peer_given_is_a_usage_error(tmp_path) -> None:
    result = _peers(out=tmp_path / "bench")
    assert result.returncode == 2
    assert result.stderr.strip() == "peers: give --lmms-python or --vlmeval-python (a peer's interpreter)"
