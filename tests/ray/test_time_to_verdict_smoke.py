"""Small runs of the time-to-verdict benchmarks: every figure is there and adds up. No timing thresholds: the
figures depend on the machine (BENCHMARKS.md has the real runs)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from benchmarks.cpu_account import CGROUP, RUSAGE
from benchmarks.engine_process import EngineTimeline
from benchmarks.ray_data_llm import measure as measure_ray_data_llm
from benchmarks.time_to_verdict import REPO, figures, make_workload

FIELDS = {"mode", "samples", "ok", "ideal_s", "wall_s", "wall_ratio_to_ideal", "to_first_request_s", "request_phase_s",
          "request_phase_ratio_to_ideal", "finish_s", "peak_in_flight", "all_slots_busy_after_s", "cpu_s",
          "cpu_ms_per_sample", "engine_cpu_s", "answers_per_second"}


def test_the_workload_is_the_issues_one_image_multiple_choice_suite(tmp_path) -> None:
    suite = make_workload(tmp_path, cases=6, seed=1)
    cases = json.loads(suite.read_text(encoding="utf-8"))["test_cases"]
    assert len(cases) == 6 and {case["test_type"] for case in cases} == {"mcq"}
    assert all(len(case["options"]) == 4 and case["expected_answer"] in "ABCD" for case in cases)
    from PIL import Image

    with Image.open(cases[0]["image_path"]) as picture:
        assert (picture.format, picture.size) == ("JPEG", (640, 480))
    assert make_workload(tmp_path, cases=6, seed=1) == suite  # made once, reused


def test_slots_are_all_busy_when_that_many_requests_overlap() -> None:
    timeline = EngineTimeline(slots=3, latency_s=1.0, taken_at=[0.0, 0.1, 2.0, 2.2, 2.5], latencies_s=[1.0] * 5,
                              max_concurrent=3, last_reply_at=3.5, cpu_s=0.1)
    assert timeline.all_slots_busy_at() == 2.5  # 0.0 and 0.1 overlap, but only two; 2.0-2.5 are three at once
    assert EngineTimeline(3, 1.0, [0.0, 1.5, 3.0], [1.0] * 3, 1, 4.0, 0.1).all_slots_busy_at() is None


def test_phases_add_up_to_the_wall_time_and_answers_per_second_to_the_samples() -> None:
    timeline = EngineTimeline(slots=2, latency_s=0.5, taken_at=[101.0, 101.1, 101.5, 101.6], latencies_s=[0.5] * 4,
                              max_concurrent=2, last_reply_at=102.1, cpu_s=0.2)
    rows = [{"status": "ok", "answered_at": at} for at in (101.5, 101.6, 102.0, 102.1)]
    result = figures("local", 100.0, 103.0, timeline, rows, cpu_s=2.0, slots=2, latency_s=0.5)
    assert set(result) == FIELDS
    assert result["to_first_request_s"] + result["request_phase_s"] + result["finish_s"] == pytest.approx(3.0)
    assert sum(result["answers_per_second"]) == result["samples"] == 4
    assert result["ideal_s"] == 1.0 and result["cpu_ms_per_sample"] == 500.0


@pytest.mark.ray
def test_a_small_local_run_has_every_figure_and_they_add_up(tmp_path) -> None:
    # Its own process, as a user runs it: the benchmark reaps (and counts) what Ray leaves behind.
    cases, slots, latency = 24, 8, 0.1
    subprocess.run([sys.executable, "-m", "benchmarks.time_to_verdict", "--modes", "local", "--cases", str(cases),
                    "--slots", str(slots), "--latency-s", str(latency), "--out", str(tmp_path),
                    "--json", str(tmp_path / "figures.json")], cwd=REPO, check=True, capture_output=True)
    [result] = json.loads((tmp_path / "figures.json").read_text(encoding="utf-8"))["runs"]
    assert set(result) == FIELDS | {"cpu_counted_by"}
    assert result["cpu_counted_by"] in (CGROUP, RUSAGE)
    assert result["samples"] == result["ok"] == cases
    assert result["ideal_s"] == pytest.approx(math.ceil(cases / slots) * latency)
    assert result["request_phase_s"] >= result["ideal_s"] - 0.05  # an engine of 8 slots cannot go faster
    parts = result["to_first_request_s"] + result["request_phase_s"] + result["finish_s"]
    assert parts == pytest.approx(result["wall_s"], abs=0.05)
    assert 1 <= result["peak_in_flight"] <= slots
    assert sum(result["answers_per_second"]) == cases
    assert result["cpu_s"] > 1.0  # Ray and the actors' start-up alone take more
    assert result["engine_cpu_s"] > 0


@pytest.mark.ray
def test_ray_data_llm_processor_run_answers_every_case(tmp_path) -> None:
    suite = make_workload(tmp_path / "workload", 6)
    result = measure_ray_data_llm(suite, tmp_path, actors=1, batch_size=3, slots=4, latency_s=0.05)
    assert result["answered"] == result["engine_requests"] == 6
    assert 1 <= result["peak_in_flight"] <= 4
    assert 0 < result["to_first_request_s"] < result["wall_s"]


@pytest.mark.ray
def test_the_benchmarks_running_cluster_leaves_no_process_behind() -> None:
    """`ray start --head` also starts a Ray Client server that names neither the cluster's temp dir nor its
    127.0.0.1 address: stopping the cluster by its temp dir alone left it running, holding a port, after every
    benchmark. Checked in a process of its own that is the subreaper of what it starts: `ray start`'s daemons are
    then its descendants, and no other process on the machine is taken for the cluster's."""
    completed = subprocess.run([sys.executable, "-c", CLUSTER_LEFTOVERS], cwd=REPO, capture_output=True, text=True,
                               check=True)
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert any("ray.util.client.server" in command for command in seen["during"])
    assert seen["left"] == []


CLUSTER_LEFTOVERS = """
import json, psutil
from benchmarks.cpu_account import become_subreaper
from benchmarks.time_to_verdict import ray_cluster

become_subreaper()

def running():
    found = {}
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                found[process.pid] = " ".join(process.cmdline())[:160]
        except psutil.Error:
            pass
    return found

with ray_cluster():
    during = running()
print(json.dumps({"during": list(during.values()), "left": list(running().values())}))
"""
