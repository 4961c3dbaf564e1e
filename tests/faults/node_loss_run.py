"""`ray-eval run -c CONFIG [--set KEY=VALUE ...]` on a two-node ray.cluster_utils.Cluster whose worker node is
removed once the first results are on disk. Writes the outcome as JSON to the file named first (stdout carries
Ray's own log lines): `python -m tests.faults.node_loss_run REPORT run -c CONFIG --set ...`.

The fault suite's WorkerNodeLost action runs it in a process of its own: a Cluster needs a Ray of its own, and the
test session's Ray is already running.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from ray_eval.config import load_config
from ray_eval.runs.run import run_evaluation
from ray_eval.testing.prometheus import wait_until


def main(report_path: str, argv: list[str]) -> None:
    sets = [argv[index + 1] for index, word in enumerate(argv) if word == "--set"]
    config = load_config(Path(argv[argv.index("-c") + 1]), sets)
    run_dir = Path(config.run.out_dir) / config.run.run_id
    # The head keeps room for every stage at once (a preprocessing task's CPU beside the restarted inference actor's
    # and a scoring task's quarters): with less left after the loss, Ray Data's resource budget stalls for minutes
    # until it notices capacity again (measured: 230 s with none, over 300 s with one when the loss came early), which
    # an autoscaled cluster would hide but this test cannot.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "object_store_memory": 100 * 2**20})
    worker = cluster.add_node(num_cpus=2, object_store_memory=100 * 2**20)
    ray.init(address=cluster.address)
    lost = {}

    def lose_the_worker() -> None:
        wait_until(lambda: list((run_dir / "results.parts").glob("part-*.parquet")), 180, "a first checkpoint")
        lost["rows_on_disk"] = sum(1 for _ in (run_dir / "results.parts").glob("part-*.parquet"))
        cluster.remove_node(worker)

    thread = threading.Thread(target=lose_the_worker, daemon=True)
    thread.start()
    try:
        outcome = run_evaluation(config)
        thread.join(timeout=60)
        Path(report_path).write_text(json.dumps({"exit_code": outcome.exit_code, "run_dir": str(outcome.run_dir),
                                                 "node_lost": "rows_on_disk" in lost}), encoding="utf-8")
    finally:
        ray.shutdown()
        try:
            cluster.shutdown()
        except AttributeError:  # Ray 2.60's Cluster.shutdown trips over the node removed above; the head is down
            pass


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[3:])  # argv[2] is `run`
