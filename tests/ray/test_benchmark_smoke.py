"""A small run of the simulated-engine benchmark: every figure is there and adds up. No timing thresholds: the
figures depend on the machine (BENCHMARKS.md has the real run)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.simulated_engine import main, markdown_table, run_benchmark

pytestmark = pytest.mark.ray

FIELDS = {
    "samples", "latency_s", "slots", "actors", "in_flight_per_actor", "batch_size", "ray_num_cpus", "overrides",
    "machine", "synth_s",
    "ideal_s", "ideal_samples_per_s", "run_dir", "exit_code", "result_rows", "ok_rows", "engine_requests",
    "max_concurrent", "busy_s", "wall_s", "startup_s", "shutdown_s", "busy_samples_per_s", "end_to_end_samples_per_s",
    "sequential_requests", "sequential_s", "sequential_samples_per_s", "ratio_to_ideal", "end_to_end_ratio_to_ideal",
    "speedup_busy_vs_sequential", "speedup_end_to_end_vs_sequential",
}


def test_small_benchmark_run_has_every_figure_and_they_add_up(local_ray, tmp_path):
    samples, latency, slots = 40, 0.2, 8
    result = run_benchmark(samples, latency, slots, tmp_path, sequential_requests=5)
    assert set(result) == FIELDS
    assert (result["samples"], result["slots"], result["latency_s"]) == (samples, slots, latency)
    assert result["exit_code"] == 0
    assert result["result_rows"] == result["ok_rows"] == samples  # every sample came back, answered
    assert result["engine_requests"] == samples  # nothing retried
    assert 1 <= result["max_concurrent"] <= slots
    assert result["sequential_requests"] == 5
    assert result["ideal_s"] == pytest.approx(math.ceil(samples / slots) * latency)
    # Physics: the engine cannot answer N requests in less than ceil(N/S) rounds of its latency.
    assert result["busy_s"] >= result["ideal_s"]
    assert result["wall_s"] >= result["busy_s"]
    assert result["sequential_s"] >= 5 * latency
    for ratio in ("ratio_to_ideal", "end_to_end_ratio_to_ideal", "speedup_busy_vs_sequential",
                  "speedup_end_to_end_vs_sequential"):
        assert result[ratio] > 0
    assert result["ratio_to_ideal"] <= 1.0
    table = markdown_table(result)
    assert table.startswith("| measure | value |") and "samples/s" in table


def test_command_line_writes_the_json(local_ray, tmp_path, capsys):
    out = tmp_path / "figures.json"
    assert main(["--samples", "6", "--latency-s", "0.05", "--slots", "4", "--out", str(tmp_path / "bench"),
                 "--sequential-requests", "2", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert set(written) == FIELDS and written["result_rows"] == 6
    assert "| ray-eval / sequential" in capsys.readouterr().out
