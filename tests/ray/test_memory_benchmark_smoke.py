"""A small run of the memory benchmark: both sizes run to the end and their peaks are read. No thresholds."""

from __future__ import annotations

import json

import pytest

from benchmarks.memory import main, repeated_manifest

pytestmark = pytest.mark.ray


def test_repeated_manifest_keeps_the_media_and_gives_new_ids(tmp_path) -> None:
    path = repeated_manifest(45, tmp_path, pool_size=10)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 45 and len({row["id"] for row in rows}) == 45
    assert rows[0]["media"] == rows[10]["media"] and rows[0]["id"] != rows[10]["id"]


def test_both_sizes_run_and_their_peaks_are_read(local_ray, tmp_path) -> None:
    out = tmp_path / "memory.json"
    assert main(["--sizes", "12", "36", "--interval-s", "0.05", "--pool", "10", "--out", str(tmp_path),
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [run["samples"] for run in result["runs"]] == [12, 36]
    for run in result["runs"]:
        assert run["exit_code"] == 0 and run["worker_processes_at_peak"] >= 1 and run["results_file_bytes"] > 0
        assert run["driver_rss_mib"] >= run["driver_uss_mib"] > 50
        assert run["workers_rss_mib"] >= run["workers_uss_mib"] >= run["largest_worker_uss_mib"] > 50
    assert result["ratios"]["driver_uss"] == pytest.approx(result["runs"][1]["driver_uss_mib"]
                                                           / result["runs"][0]["driver_uss_mib"])
