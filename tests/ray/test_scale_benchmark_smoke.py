"""A small run of the scale benchmark (benchmarks/scale.py): every figure is there and adds up, the cores table
follows from the CPU measured per sample, and the two-node check finds SampleStage actors on both nodes. No timing
thresholds: the figures depend on the machine (BENCHMARKS.md has the real run)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from benchmarks.scale import (
    KINDS,
    REPLICA_RATES,
    REPLICAS,
    KindCost,
    ScaleFigures,
    cores_table,
    cost_rows,
    report,
)
from benchmarks.time_to_verdict import REPO

pytestmark = pytest.mark.ray

SAMPLES, SLOTS = 40, 16


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> ScaleFigures:
    # The command, in a process of its own: it adopts (and counts) the processes Ray leaves behind, which this
    # test process must not (they would stay its zombies).
    out = tmp_path_factory.mktemp("scale")
    subprocess.run([sys.executable, "-m", "benchmarks.scale", "--samples", str(SAMPLES), "--slots", str(SLOTS),
                    "--latency-median-s", "0.05", "--latency-sigma", "0.5", "--latency-seed", "3",
                    "--profile-per-kind", "3", "--out", str(out), "--json", str(out / "figures.json")],
                   cwd=REPO, check=True, capture_output=True)
    saved = json.loads((out / "figures.json").read_text(encoding="utf-8"))
    names = {field.name for field in dataclasses.fields(ScaleFigures)}
    return ScaleFigures(**{name: value for name, value in saved.items() if name in names and name != "kinds"},
                        kinds=[KindCost(**kind) for kind in saved["kinds"]])


def test_every_figure_is_there_and_adds_up(figures):
    missing = [field.name for field in dataclasses.fields(figures)
               if getattr(figures, field.name) in (None, "") and field.name != "all_slots_busy_after_s"]
    assert not missing
    assert figures.exit_code in (0, 1)  # the engine answers "A" to everything: the gate may fail, the run completes
    assert figures.rows == figures.ok_rows == SAMPLES
    assert "inference actor(s)" in figures.sizing and "engine capacity of 16" in figures.sizing
    assert 0 < figures.request_phase_s <= figures.wall_s
    assert figures.wall_s == pytest.approx(figures.to_first_request_s + figures.request_phase_s + figures.finish_s)
    assert 1 <= figures.peak_in_flight <= SLOTS
    # Physics: the engine cannot answer faster than its ideal, a lower bound on its time.
    assert figures.busy_rate <= figures.ideal_rate and 0 < figures.ratio_to_ideal <= 1
    assert figures.cpu_s > 0 and figures.request_phase_cpu_s > 0
    assert figures.cpu_ms_per_sample == pytest.approx(1000 * figures.cpu_s / SAMPLES)
    assert figures.fixed_cpu_s == pytest.approx(figures.cpu_s - figures.request_phase_cpu_s)
    assert figures.engine_cpu_s > 0
    # By process name; the watch samples once a second, so a request phase this short may show no process at all.
    assert all(seconds >= 0 for seconds in figures.cpu_by_process.values())
    assert figures.limit.split(":")[0] in ("the engine", "CPU, ray-eval's own", "CPU, shared",
                                           "neither engine nor CPU (requests in flight, or waits)")


def test_per_kind_costs_split_the_measured_cpu(figures):
    kinds = {cost.kind: cost for cost in figures.kinds}
    assert list(kinds) == list(KINDS)
    assert sum(cost.share for cost in figures.kinds) == pytest.approx(1.0)
    for cost in figures.kinds:  # 40 synthetic samples hold all three kinds
        assert cost.share > 0 and cost.profiled >= 1 and cost.preprocess_ms > 0
        assert cost.total_ms == pytest.approx(cost.preprocess_ms + figures.other_ms_per_sample)
    # The mix's CPU per sample is the request phase's, measured.
    mix = sum(cost.share * cost.total_ms for cost in figures.kinds)
    assert mix == pytest.approx(figures.request_phase_cpu_ms_per_sample)


def test_cores_table_rows_follow_from_cpu_per_sample(figures):
    table = cores_table(cost_rows(figures))
    lines = table.splitlines()
    assert len(lines) == 2 + len(KINDS) + 1
    mix_ms = figures.request_phase_cpu_ms_per_sample
    cells = [cell.strip() for cell in lines[-1].strip("|").split("|")]
    assert cells[0].startswith("synthetic ShopBench mix") and float(cells[1]) == pytest.approx(mix_ms, abs=0.05)
    for rate, cell in zip(REPLICA_RATES, cells[2:], strict=True):
        one, eight = (float(part) for part in cell.split(","))
        assert one == pytest.approx(rate * mix_ms / 1000, abs=0.05)
        assert eight == pytest.approx(REPLICAS * rate * mix_ms / 1000, abs=0.05)
    text = report(figures)
    assert f"rows {SAMPLES}" in text and "limit: " in text and text.endswith(table)


def test_photo_size_rows_add_the_preprocess_benchmarks_costs(figures):
    media = {"images": [{"megapixels": 1, "prepare_ms": 20.0}, {"megapixels": 2, "prepare_ms": 30.0}],
             "video": {"frames": 300, "prepare_s": 0.4}}
    rows = dict(cost_rows(figures, media))
    other = figures.other_ms_per_sample
    assert rows["one 2 MP photo (preprocess.py)"] == pytest.approx(30.0 + other)
    assert rows["one 300-frame 720p video (preprocess.py)"] == pytest.approx(400.0 + other)
    share = {cost.kind: cost.share for cost in figures.kinds}
    mix = next(ms for label, ms in rows.items() if label.startswith("ShopBench mix at 2 MP"))
    assert mix == pytest.approx(other + 30.0 * share["single"] + 60.0 * share["multi"] + 400.0 * share["video"])


def test_command_line_two_node_check_finds_actors_on_both_nodes(tmp_path):
    out = tmp_path / "two-node.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--two-node-check", "--out", str(tmp_path),
                           "--json", str(out)], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    check = json.loads(out.read_text())["two_node_check"]
    assert len(check["nodes"]) == 2 and check["head_node_id"] in check["nodes"]
    assert all(check["actors_by_node"].get(node, 0) >= 1 for node in check["nodes"])
    printed = done.stdout
    assert "spread over both nodes: yes" in printed and "(head)" in printed and "(worker)" in printed
