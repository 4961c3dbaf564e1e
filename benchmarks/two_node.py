"""Does a run spread over a cluster's nodes? A local two-node Ray cluster (two `ray start`, 2 CPUs each, bound to
127.0.0.1, memory given explicitly since each node would count the whole machine), one `ray-eval run --address` on
it with two SampleStage actors, and Ray's state API asked afterwards (dead actors included) which node each of
the run's actors ran on.

The cluster lives in a temp dir of its own and is stopped by process id (the processes that name that dir, and
their children): other users' Ray on the same machine is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.common import dataset_for, stop_cluster
from benchmarks.engine_process import EngineProcess
from benchmarks.time_to_verdict import REPO, _free_port, write_config

NODE_CPUS = 2
NODE_MEMORY = 2 * 1024**3
NODE_OBJECT_STORE = 256 * 1024**2
ACTOR_MARK = "SampleStage"  # Ray Data names a map worker after its callable class: MapWorker(MapBatches(SampleStage))


@dataclass
class NodeCheck:
    head_node_id: str
    nodes: list[str]  # every node id of the cluster
    actors_by_node: dict[str, int]  # SampleStage actors (alive or dead) on each node
    exit_code: int
    rows: int

    @property
    def spread(self) -> bool:
        return len(self.nodes) == 2 and all(self.actors_by_node.get(node, 0) > 0 for node in self.nodes)

    def describe(self) -> str:
        lines = [f"two-node check: ray-eval exit {self.exit_code}, {self.rows} result rows"]
        for node in self.nodes:
            role = "head" if node == self.head_node_id else "worker"
            lines.append(f"  node {node} ({role}): {self.actors_by_node.get(node, 0)} SampleStage actor(s)")
        lines.append("  spread over both nodes: " + ("yes" if self.spread else "NO"))
        return "\n".join(lines)


def two_node_check(out_dir: Path, samples: int = 60, slots: int = 16, latency_s: float = 0.05,
                   actors: int = 2) -> NodeCheck:
    """Run ray-eval with `actors` SampleStage actors on a fresh two-node cluster; where its actors ran."""
    manifest = dataset_for(samples, out_dir)
    run_id = f"two-node-{uuid.uuid4().hex[:8]}"
    env = _env(secrets.token_hex(32))
    with two_node_cluster(env) as address, EngineProcess(slots, latency_s, out_dir / "engine") as engine:
        config = write_config(out_dir, manifest, engine.base_url, out_dir / "runs",
                              {"inference.engine_capacity": slots, "inference.actors": actors,
                               "run.model_label": "two-node"})
        completed = subprocess.run([sys.executable, "-m", "ray_eval.cli", "run", "-c", str(config), "--address",
                                    address, "--set", f"run.run_id={run_id}"], cwd=REPO, env=env,
                                   capture_output=True, text=True, check=False)
        if completed.returncode not in (0, 1):
            raise RuntimeError(f"ray-eval exited {completed.returncode}\n{completed.stderr[-3000:]}")
        asked = subprocess.run([sys.executable, "-m", "benchmarks.two_node", address], cwd=REPO, env=env,
                               capture_output=True, text=True, check=True)
    placement = json.loads(asked.stdout)
    counts: dict[str, int] = {}
    for node_id in placement["actor_nodes"]:
        counts[node_id] = counts.get(node_id, 0) + 1
    return NodeCheck(head_node_id=placement["head"], nodes=placement["nodes"], actors_by_node=counts,
                     exit_code=completed.returncode,
                     rows=pq.read_metadata(out_dir / "runs" / run_id / "results.parquet").num_rows)


def _env(token: str) -> dict[str, str]:
    """This checkout first on the path of the driver and of every worker the nodes start, and Ray's token
    authentication with a token of the check's own: without it, a head started on this machine (RAY_AUTH_MODE
    unset, a token file in ~/.ray) refused the worker node for want of a token."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO),
            "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": "", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}


def placement(address: str) -> dict[str, object]:
    """From Ray's state API: the cluster's node ids, the head's, and the node of every SampleStage actor the cluster
    has run, dead ones included. Run in a process of its own, which has the cluster's token in its environment."""
    from ray.util.state import list_actors, list_nodes

    nodes = list_nodes(address=address, detail=True)
    actors = list_actors(address=address, detail=True, limit=10_000)
    return {"nodes": [node.node_id for node in nodes],
            "head": next(node.node_id for node in nodes if node.is_head_node),
            "actor_nodes": [actor.node_id for actor in actors
                            if ACTOR_MARK in f"{actor.class_name} {actor.repr_name or ''}"]}


@contextlib.contextmanager
def two_node_cluster(env: dict[str, str]) -> Iterator[str]:
    """A head and a worker node on this machine; yields the head's GCS address."""
    temp_dir = Path("/tmp") / f"ray-scale-{uuid.uuid4().hex[:6]}"  # Ray's socket paths must stay short
    ray = str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    common = [f"--num-cpus={NODE_CPUS}", f"--memory={NODE_MEMORY}", f"--object-store-memory={NODE_OBJECT_STORE}",
              "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    try:
        _ray_start([ray, "start", "--head", f"--port={port}", f"--temp-dir={temp_dir}", "--include-dashboard=true",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={_free_port()}",
                    f"--ray-client-server-port={_free_port()}", *common], env)
        _ray_start([ray, "start", f"--address=127.0.0.1:{port}", *common], env)
        yield f"127.0.0.1:{port}"
    finally:
        stop_cluster(temp_dir, port)


def _ray_start(command: list[str], env: dict[str, str]) -> None:
    started = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if started.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:3])} failed (exit {started.returncode}):\n{started.stdout[-2000:]}"
                           f"\n{started.stderr[-2000:]}")



if __name__ == "__main__":
    print(json.dumps(placement(sys.argv[1])))
