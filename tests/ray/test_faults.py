"""Faults that must lose nothing: a burst of 500s, 429s and timeouts from the engine, and a run directory whose disk
fills up. Each run ends with every sample exactly once, and with the same verdict as a fault-free run against the
same scripted engine (or, for the full disk, a clear error, whole files, and a resume that completes it)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from ray_eval.cli import main
from ray_eval.testing import Reply, ScriptedOpenAIServer, from_answers
from ray_eval.testing.prometheus import wait_until
from tests.ray.conftest import correct_answer

pytestmark = pytest.mark.ray


def write_config(tmp_path: Path, manifest: Path, server: ScriptedOpenAIServer, run_id: str, out_dir: Path | None = None,
                 extra: str = "") -> Path:
    config = tmp_path / f"{run_id}.yaml"
    config.write_text(
        f"dataset: {{path: {manifest}}}\n"
        f"engine: {{kind: openai, base_url: '{server.base_url}', model: {server.model}, timeout_s: 1, max_retries: 8,"
        " backoff_initial_s: 0, backoff_max_s: 0}\n"
        f"run: {{out_dir: {out_dir or tmp_path / 'runs'}, run_id: {run_id}, checkpoint_rows: 3}}\n"
        "inference: {actors: 1, max_in_flight_per_actor: 4, batch_size: 3}\n"
        "preprocess: {batch_size: 3}\nscoring: {batch_size: 3}\n"
        "statistics: {bootstrap_resamples: 200}\n"
        "gate: {min_pass_rate: 0.6, max_error_rate: 0}\n" + extra,
        encoding="utf-8",
    )
    return config


def outcome(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    verdict = json.loads((run_dir / "verdict.json").read_text())
    results = pq.read_table(run_dir / "results.parquet", columns=["sample_id", "extracted", "passed"]).to_pandas()
    scores = {key: value for key, value in summary["scores"].items() if key not in ("latency_s", "retries")}
    return {"scores": scores, "verdict": {k: verdict[k] for k in ("status", "exit_code", "failed_checks")},
            "answers": dict(zip(results["sample_id"], results["extracted"]))}


def test_a_burst_of_500_429_and_timeouts_changes_nothing(local_ray, mixed_dataset, tmp_path: Path) -> None:
    manifest, rows = mixed_dataset
    answers = from_answers({row["id"]: correct_answer(row) for row in rows})
    with ScriptedOpenAIServer(default=answers) as server:
        assert main(["run", "-c", str(write_config(tmp_path, manifest, server, "calm"))]) == 0

    faults = itertools.cycle([Reply.status(500), Reply.status(429, retry_after=0), Reply.hang(3)])
    served = itertools.count()
    burst = 14  # the first 14 requests of the run fail: every sample's first try, and some second ones

    def policy(info):
        return next(faults) if next(served) < burst else answers(info)

    with ScriptedOpenAIServer(default=policy) as server:
        assert main(["run", "-c", str(write_config(tmp_path, manifest, server, "burst"))]) == 0
        requests = len(server.requests)
    assert requests == len(rows) + burst  # every failed request was retried, and nothing else was sent twice
    calm, stormy = outcome(tmp_path / "runs" / "calm"), outcome(tmp_path / "runs" / "burst")
    assert stormy == calm and len(stormy["answers"]) == len(rows)
    assert json.loads((tmp_path / "runs" / "burst" / "summary.json").read_text())["scores"]["retries"] >= burst


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1.5 MiB tmpfs: the run directory's disk, nearly full from the start. Needs root (CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_stops_the_run_clearly_keeps_whole_parts_and_resumes(local_ray, mixed_dataset, small_disk: Path,
                                                                         tmp_path: Path, capfd) -> None:
    manifest, rows = mixed_dataset
    answers = from_answers({row["id"]: correct_answer(row) for row in rows})
    run_dir = small_disk / "full"

    def fill_the_disk_after_the_first_checkpoint() -> None:
        wait_until(lambda: list((run_dir / "results.parts").glob("part-*.parquet")), 120, "a first checkpoint")
        with (small_disk / "ballast").open("wb", buffering=0) as ballast:
            try:
                while True:  # to the last byte
                    ballast.write(b"\0" * 4096)
            except OSError:
                pass

    def slow_answers(info):  # slow enough that the disk fills while the run still has samples to go
        reply = answers(info)
        return Reply.text(reply.content, delay_s=0.5)

    filler = threading.Thread(target=fill_the_disk_after_the_first_checkpoint)
    with ScriptedOpenAIServer(default=slow_answers) as server:
        config = write_config(tmp_path, manifest, server, "full", out_dir=small_disk)
        filler.start()
        code = main(["run", "-c", str(config)])
        filler.join(timeout=60)
        assert code == 3
        error = capfd.readouterr().err
        assert "cannot write" in error and "No space left on device" in error and "--resume" in error, error[-3000:]
        parts = sorted((run_dir / "results.parts").glob("part-*.parquet"))
        assert not list(run_dir.rglob("*.tmp")) and not (run_dir / "results.parquet").exists()
        done = sum(pq.read_metadata(part).num_rows for part in parts)  # every part written is whole
        assert done < len(rows), error[-1500:]

        (small_disk / "ballast").unlink()  # space freed: the same run completes
        assert main(["run", "--resume", str(run_dir)]) == 0
    results = pq.read_table(run_dir / "results.parquet").to_pandas()
    assert sorted(results["sample_id"]) == sorted(row["id"] for row in rows)



def test_a_worker_node_lost_mid_run_changes_nothing(local_ray, mixed_dataset, tmp_path: Path) -> None:
    manifest, rows = mixed_dataset
    answers = from_answers({row["id"]: correct_answer(row) for row in rows})

    def slow_answers(info):  # slow enough that the node goes while requests are in flight
        return Reply.text(answers(info).content, delay_s=0.4)

    with ScriptedOpenAIServer(default=slow_answers) as server:
        assert main(["run", "-c", str(write_config(tmp_path, manifest, server, "calm"))]) == 0
        # The same run in a process of its own, on a two-node cluster whose worker is removed mid-run.
        config = write_config(tmp_path, manifest, server, "lossy")
        script = Path(__file__).with_name("node_loss_run.py")
        report_path = tmp_path / "node-loss.json"
        driver = subprocess.Popen([sys.executable, str(script), str(config), str(report_path)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
                                  start_new_session=True)
        try:
            _, stderr = driver.communicate(timeout=300)
        finally:
            _stop_tree(driver)
    assert driver.returncode == 0, stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["node_lost"] and report["exit_code"] == 0
    assert outcome(tmp_path / "runs" / "lossy") == outcome(tmp_path / "runs" / "calm")


def _stop_tree(process: subprocess.Popen) -> None:
    """Kill what is left of a process this test started and of its children (its Ray cluster), by their ids."""
    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for child in tree:
        if child.is_running():
            child.kill()
