"""Serving checks in a whole run (gate.serving), through the real CLI on a local Ray with the scripted engine: a run
without the block writes the serving section as before; an absolute bound the engine misses fails the run (exit 1)
and names the serving metric in verdict.json and summary.md; a relative bound against a baseline run of another
serving setup is undecided, its note naming what differs; `ray-eval rescore` keeps the setup the run recorded and
`ray-eval gate` applies the checks to a finished run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ray_eval.cli import main

pytestmark = pytest.mark.ray

# The keys of summary.json's serving section as every run wrote them before gate.serving existed.
SERVING_KEYS = ["answers", "busy_window_s", "answers_per_s", "latency_p50_s", "latency_p95_s",
                "completion_tokens_per_answer", "completion_tokens_per_answer_ci", "engine_errors",
                "engine_error_rate"]


def write_config(tmp_path: Path, dataset: Path, run_id: str, in_flight: int, gate: str = "") -> Path:
    config = tmp_path / f"{run_id}.yaml"
    config.write_text("\n".join([
        f"dataset: {{path: {dataset}}}",
        "engine: {kind: scripted, policy: oracle, accuracy: 1.0}",
        f"run: {{out_dir: {tmp_path / 'runs'}, run_id: {run_id}}}",
        f"inference: {{actors: 1, max_in_flight_per_actor: {in_flight}}}",
        "statistics: {bootstrap_resamples: 200}",
        f"gate: {{max_error_rate: 0.0{gate}}}",
    ]) + "\n", encoding="utf-8")
    return config


def read(run_dir: Path, name: str):
    text = (run_dir / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else re.sub(r"\\(.)", r"\1", text)  # Markdown escapes out


def test_serving_bounds_fail_or_stay_undecided_and_say_why(local_ray, mixed_dataset, tmp_path: Path, capsys) -> None:
    dataset, rows = mixed_dataset
    runs = tmp_path / "runs"

    # No gate.serving: no serving check and no latency interval, but the setup the numbers were measured under.
    assert main(["run", "-c", str(write_config(tmp_path, dataset, "plain", 4))]) == 0
    plain = read(runs / "plain", "summary.json")
    assert list(plain["serving"]) == [*SERVING_KEYS, "setup"]
    assert [check["name"] for check in plain["verdict"]["checks"]] == ["error rate"]

    # An empty block records the setup the numbers were measured under: this run can be a baseline.
    assert main(["run", "-c", str(write_config(tmp_path, dataset, "base", 4, ", serving: {}"))]) == 0
    setup = read(runs / "base", "summary.json")["serving"]["setup"]
    assert setup["engine_kind"] == "scripted" and setup["requests_in_flight"] == 4 and setup["max_tokens"] == 256
    assert read(runs / "base", "summary.json")["serving"]["latency_p95_s_ci"] is not None
    # Rescoring keeps the answers, and so what they were served under.
    assert main(["rescore", str(runs / "base")]) == 0
    assert read(runs / "base", "summary.json")["serving"]["setup"] == setup
    capsys.readouterr()

    # A p95 bound no engine meets fails the run; a relative bound against a baseline kept at another load is undecided.
    gate = (", serving: {max_latency_p95_s: 0.000001, max_engine_error_rate: 0.0, "
            f"baseline: {{run_dir: {runs / 'base'}, max_latency_p95_ratio: 1.2}}}}")
    assert main(["run", "-c", str(write_config(tmp_path, dataset, "cand", 2, gate))]) == 1
    decision = read(runs / "cand", "verdict.json")
    assert decision["status"] == "failed" and decision["exit_code"] == 1
    assert decision["failed_checks"] == ["serving latency p95", "serving latency p95 against baseline"]
    checks = {check["name"]: check for check in decision["checks"]}
    p95 = checks["serving latency p95"]
    assert (p95["outcome"], p95["metric"], p95["group"], p95["samples"]) == ("failed", "latency_p95_s", "serving",
                                                                           len(rows))
    assert p95["note"].endswith("under this run's load: 2 requests in flight")
    assert checks["serving engine error rate"]["outcome"] == "passed"
    relative = checks["serving latency p95 against baseline"]
    assert relative["outcome"] == "undecided" and relative["value"] is None
    assert relative["note"] == ("not compared: another serving setup than baseline run base's: requests in flight 2 "
                                "here, 4 in the baseline")
    markdown = read(runs / "cand", "summary.md")
    assert "## ShopBench gate: ❌ FAILED" in markdown
    assert re.search(r"^\| serving latency p95 \| [\d.]+ s \| <= 1e-06 s \| \*\*FAIL\*\* \| ", markdown, re.M)
    assert re.search(r"^\| serving latency p95 against baseline \| – \| <= ×1\.20 \| \*\*UNDECIDED\*\* \| not "
                     r"compared: another serving setup", markdown, re.M)
    assert "❌ FAILED" in capsys.readouterr().out

    # `ray-eval gate` re-decides with the serving checks: the plain run recorded no latency interval and no setup.
    assert main(["gate", str(runs / "plain"), "--set", "gate.serving.max_engine_error_rate=0"]) == 0
    assert main(["gate", str(runs / "plain"), "--set", "gate.serving.max_latency_p95_s=60"]) == 1
    regated = {check["name"]: check for check in read(runs / "plain", "verdict.json")["checks"]}
    assert regated["serving latency p95"]["outcome"] == "undecided"
    assert "rescore the run with gate.serving set" in regated["serving latency p95"]["note"]
    assert main(["gate", str(runs / "base"), "--set", "gate.serving.max_latency_p95_s=60"]) == 0
    assert read(runs / "base", "verdict.json")["checks"][-1]["outcome"] == "passed"
