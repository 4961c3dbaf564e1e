"""Read tasks make the pipeline's blocks: each holds one inference batch of rows, whatever the scan's chunks, and
together they hold every row once, in the file's order."""

from __future__ import annotations

import pytest

from benchmarks.time_to_verdict import make_workload
from ray_eval.data.dataset import RunScan, ShopBenchDatasource, scan_dataset


@pytest.mark.parametrize(("chunk_rows", "rows_per_task"), [(4, 3), (3, 4), (16, 5), (1, 2), (10, 10)])
def test_every_row_once_in_order_in_blocks_of_the_batch(tmp_path, chunk_rows, rows_per_task) -> None:
    suite = make_workload(tmp_path, cases=10)
    scan = scan_dataset(suite, "auto", tmp_path, rows_per_chunk=chunk_rows)
    source = ShopBenchDatasource(RunScan([scan]), {}, {scan.suite: rows_per_task})
    tasks = source.get_read_tasks(parallelism=1)
    blocks = [block for task in tasks for block in task.read_fn()]
    assert len(blocks) == len(tasks) == source.read_task_count == -(-10 // rows_per_task)
    assert [block.num_rows for block in blocks[:-1]] == [rows_per_task] * (len(blocks) - 1)
    ids = [sample_id for block in blocks for sample_id in block["sample_id"].to_pylist()]
    assert ids == [f"case-{index:04d}" for index in range(10)]


def test_a_resumed_run_reads_only_what_it_lacks(tmp_path) -> None:
    suite = make_workload(tmp_path, cases=10)
    scan = scan_dataset(suite, "auto", tmp_path, rows_per_chunk=4)
    done = frozenset({"case-0001", "case-0007"})
    tasks = ShopBenchDatasource(RunScan([scan]), {scan.suite: done}, {scan.suite: 3}).get_read_tasks(parallelism=1)
    ids = [sample_id for task in tasks for block in task.read_fn() for sample_id in block["sample_id"].to_pylist()]
    assert ids == [f"case-{index:04d}" for index in range(10) if f"case-{index:04d}" not in done]


def test_several_suites_each_row_once_carrying_its_suite_skipped_by_its_own_suite(tmp_path) -> None:
    """Two suites with the same sample ids: each row is read once with its suite's name, its suite's batch size
    makes its blocks, and a resumed run's done ids skip only their own suite's rows."""
    first = scan_dataset(make_workload(tmp_path / "a", cases=5), "auto", tmp_path / "a", suite="shop")
    second = scan_dataset(make_workload(tmp_path / "b", cases=4), "auto", tmp_path / "b", suite="guard")
    source = ShopBenchDatasource(RunScan([first, second]), {"guard": frozenset({"case-0002"})},
                                 {"shop": 2, "guard": 4})
    blocks = [block for task in source.get_read_tasks(parallelism=1) for block in task.read_fn()]
    assert [(set(block["suite"].to_pylist()), block.num_rows) for block in blocks] == [
        ({"shop"}, 2), ({"shop"}, 2), ({"shop"}, 1), ({"guard"}, 3)]
    keys = [(row["suite"], row["sample_id"]) for block in blocks for row in block.select(["suite", "sample_id"])
            .to_pylist()]
    assert keys == [("shop", f"case-{i:04d}") for i in range(5)] + [("guard", f"case-{i:04d}") for i in (0, 1, 3)]
