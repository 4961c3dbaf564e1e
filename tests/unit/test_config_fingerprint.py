"""The run's fingerprint is declared on the config's fields: every field counts unless marked NotFingerprinted, and
run directories made before the markers still resume under it."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pytest

from ray_eval.canary.docs import canary_config_reference
from ray_eval.config import EvalConfig, RunConfig, ScoringConfig
from ray_eval.config_docs import NOT_FINGERPRINTED, config_reference
from ray_eval.config_fingerprint import CountsWhenSet, NotFingerprinted
from ray_eval.errors import UsageError
from ray_eval.runs.rundir import plan_run_dir, resume_config

# run.json of a run started with the code before the markers (a5b8a38): a judge, a non-default engine request
# policy, and a value in every section, so a marker on the wrong field changes its fingerprint.
OLD_RUN = Path(__file__).parent / "fixtures" / "run-made-before-field-markers"
MINIMAL = {"dataset": {"path": "x.jsonl"}, "engine": {"kind": "scripted"}}


def old_run_dir(tmp_path: Path) -> Path:
    run_dir = tmp_path / "runs" / "before-markers"
    shutil.copytree(OLD_RUN, run_dir)
    return run_dir


def test_a_run_directory_made_before_the_markers_still_resumes(tmp_path: Path) -> None:
    run_dir = old_run_dir(tmp_path)
    stored = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    config = resume_config(run_dir, None, [])
    assert config.fingerprint() == stored["config_fingerprint"] == "538a25e104f2c040"
    assert plan_run_dir(config, datetime.now(UTC), stored["dataset_fingerprint"]) == (run_dir, True)
    # A more patient resume is the same run; other answers are not.
    patient = resume_config(run_dir, None, ["engine.retry_window_s=600", "inference.actors=8"])
    assert plan_run_dir(patient, datetime.now(UTC), stored["dataset_fingerprint"]) == (run_dir, True)
    other = resume_config(run_dir, None, ["inference.sampling.max_tokens=64"])
    with pytest.raises(UsageError, match=r"holds a run of another config \(fingerprint 538a25e104f2c040, this one "):
        plan_run_dir(other, datetime.now(UTC), stored["dataset_fingerprint"])


def test_the_judges_request_policy_still_counts(tmp_path: Path) -> None:
    """Only the model's engine's request policy was ever left out: a judged run made before must still resume."""
    run_dir = old_run_dir(tmp_path)
    judge_patience = resume_config(run_dir, None, ["scoring.judge.engine.retry_window_s=600"])
    assert judge_patience.fingerprint() != resume_config(run_dir, None, []).fingerprint()


def test_a_new_field_counts_unless_its_declaration_marks_it_out() -> None:
    class RunWithKnob(RunConfig):
        knob: int = 0

    class ScoringWithMarkedKnob(ScoringConfig):
        knob: Annotated[int, NotFingerprinted("a test's knob")] = 0

    class Extended(EvalConfig):
        run: RunWithKnob = RunWithKnob()
        scoring: ScoringWithMarkedKnob = ScoringWithMarkedKnob()
        new_section: RunWithKnob = RunWithKnob()

    base = Extended.model_validate(MINIMAL).fingerprint()
    assert Extended.model_validate({**MINIMAL, "run": {"knob": 1}}).fingerprint() != base
    assert Extended.model_validate({**MINIMAL, "new_section": {"knob": 1}}).fingerprint() != base
    assert Extended.model_validate({**MINIMAL, "scoring": {"knob": 1}}).fingerprint() == base
    # A marked section leaves out everything inside it.
    assert Extended.model_validate({**MINIMAL, "new_section": {"out_dir": "elsewhere"}}).fingerprint() == base


def test_the_reference_says_which_keys_a_resume_may_change() -> None:
    marked = {line.split("`")[1] for line in config_reference().splitlines() if NOT_FINGERPRINTED in line}
    assert {"run.out_dir", "run.checkpoint_rows", "dataset.rows_per_read_task", "inference.actors",
            "report.max_samples", "metrics.job", "ray.address", "engine.retry_window_s"} <= marked
    assert not {"run.model_label", "dataset.path", "inference.sampling.max_tokens", "engine.connect_timeout_s",
                "scoring.judge.engine.retry_window_s", "gate.min_score"} & marked
    assert NOT_FINGERPRINTED not in canary_config_reference()  # a canary has no fingerprint


def test_a_field_added_later_counts_only_when_set_so_older_run_directories_still_resume(tmp_path: Path) -> None:
    class RunWithLaterKnob(RunConfig):
        later: Annotated[list[str], CountsWhenSet("a test's addition")] = []

    class Later(EvalConfig):
        run: RunWithLaterKnob = RunWithLaterKnob()
        later_section: Annotated[RunConfig | None, CountsWhenSet("a test's addition")] = None

    assert Later.model_validate(MINIMAL).fingerprint() == EvalConfig.model_validate(MINIMAL).fingerprint()
    stored = json.loads((old_run_dir(tmp_path) / "run.json").read_text(encoding="utf-8"))
    assert Later.model_validate(stored["config"]).fingerprint() == stored["config_fingerprint"]  # still resumes
    set_once = Later.model_validate({**MINIMAL, "run": {"later": ["x"]}}).fingerprint()
    assert set_once != Later.model_validate(MINIMAL).fingerprint()
    assert Later.model_validate({**MINIMAL, "later_section": {}}).fingerprint() not in (
        set_once, Later.model_validate(MINIMAL).fingerprint())
