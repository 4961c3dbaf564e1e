"""Every row of the fault table (scenarios.py), through the real CLI on a local Ray against a scripted engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ray_eval.cli import main
from ray_eval.config import ScriptedEngineConfig, validate_config
from ray_eval.data.dataset import scan_suites
from ray_eval.demo.synth import synthesize
from ray_eval.testing.oracle import oracle_answers
from tests.faults.actions import Ran, Workspace
from tests.faults.harness import Dataset, Engine, comparable, run_scenario, write_config
from tests.faults.scenarios import SCENARIOS, Scenario

pytestmark = pytest.mark.ray


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Dataset:
    """Twelve synthetic samples (images, videos, every format) and the scripted stand-in's answers to them."""
    manifest = synthesize(tmp_path_factory.mktemp("faults-data"), 12, seed=7).manifest
    scan, = scan_suites(validate_config({"dataset": {"path": str(manifest)}, "engine": {"kind": "scripted"}})).suites
    answers, _ = oracle_answers(scan, ScriptedEngineConfig(accuracy=0.8))
    return Dataset(manifest, {sample_id: answer for (_, sample_id), answer in answers.items()})


@pytest.fixture(scope="session")
def calm(local_ray, dataset: Dataset, tmp_path_factory) -> dict:
    """The uninterrupted run every finished scenario must equal."""
    workspace = Workspace(tmp_path_factory.mktemp("calm"), pytest.MonkeyPatch(), lambda argv: Ran(main(argv), ""))
    engine = Engine(dataset)
    with engine.server:
        assert main(["run", "-c", str(write_config(workspace, dataset, engine))]) == 0
    assert engine.requests == dataset.samples
    return comparable(workspace.run_dir)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_the_run_ends_as_the_table_says(scenario: Scenario, local_ray, dataset: Dataset, calm: dict, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, capfd) -> None:
    if scenario.action.needs_root and os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")

    def in_process(argv: list[str]) -> Ran:
        capfd.readouterr()
        code = main(argv)
        return Ran(code, capfd.readouterr().err)

    run_scenario(scenario, Workspace(tmp_path, monkeypatch, in_process), dataset, calm)
