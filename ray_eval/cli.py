"""`ray-eval`: thin subcommands, each calling one library function.

Exit codes (docs/reference/cli.md, by cause class): 0 gate passed, 1 gate failed (the model); 2 bad config, dataset,
usage or an unwritable run.out_dir (input: nothing was evaluated); 3 the run could not complete (infrastructure: engine
unreachable, error budget exceeded, a full disk, a Ray failure).
`compare` exits 0 whatever its verdict, unless --fail-on-regression: then 1 when the candidate regressed or there
are too few samples to tell.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ray_eval.data.taxonomy import Subset
from ray_eval.errors import RayEvalError, UsageError
from ray_eval.verdict.gate import EXIT_BAD_INPUT, EXIT_INCOMPLETE

if TYPE_CHECKING:  # the commands import what they run when they run it
    from ray_eval.demo.tiny_model import TinyArch

config_option = click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), help="YAML config file.")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a config value by dotted key, e.g. --set gate.min_pass_rate=0.9.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ray-eval", prog_name="ray-eval")
def cli() -> None:
    """Evaluate a vision-language model on ShopBench-format data and gate its release."""


@cli.command()
@config_option
@set_option
@click.option("--address", help="Ray cluster to join (default: RAY_ADDRESS, else a new local Ray).")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path),
              help="Continue this run directory (its own config unless -c is given): samples already done are skipped.")
@click.option("--retry-errors", is_flag=True, help="When resuming, also run again the samples that ended in an error.")
@click.option("--ray-logs", is_flag=True,
              help="Also show Ray's own console lines (Ray Data's dataset logs, the core worker's errors); by default "
              "they only go to the Ray session's log files.")
def run(config_path: Path | None, overrides: tuple[str, ...], address: str | None, resume_dir: Path | None,
        retry_errors: bool, ray_logs: bool) -> None:
    """Run the evaluation and apply the gate (or resume an interrupted run); the last line names the report."""
    from ray_eval.config import load_config
    from ray_eval.runs.run import run_evaluation
    from ray_eval.runs.rundir import resume_config

    if retry_errors and resume_dir is None:
        raise UsageError("--retry-errors applies to --resume RUN_DIR")
    if config_path is None and resume_dir is None:
        raise UsageError("ray-eval run needs -c CONFIG, a YAML file such as configs/scripted.yaml "
                         "(or --resume RUN_DIR to continue a run)")
    config = (resume_config(resume_dir, config_path, list(overrides)) if resume_dir is not None
              else load_config(config_path, list(overrides)))
    outcome = run_evaluation(config, address=address, retry_errors=retry_errors, ray_logs=ray_logs)
    _echo_summary_and_report(outcome.run_dir)
    sys.exit(outcome.exit_code)


def _echo_summary_and_report(run_dir: Path) -> None:
    from ray_eval.runs.layout import RunLayout

    layout = RunLayout(run_dir)
    click.echo(layout.markdown.read_text(encoding="utf-8"))
    click.echo(f"run directory: {run_dir}")
    click.echo(f"report: {layout.report}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@config_option
@set_option
def gate(run_dir: Path, config_path: Path | None, overrides: tuple[str, ...]) -> None:
    """Re-apply thresholds to a finished run directory."""
    from ray_eval.runs.rundir import regate

    decision = regate(run_dir, config_path, list(overrides))
    _echo_summary_and_report(run_dir)
    sys.exit(decision.exit_code)


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
def report(run_dir: Path) -> None:
    """Write summary.md, junit.xml and report.html of a run directory again."""
    from ray_eval.runs.layout import RunLayout
    from ray_eval.runs.rundir import rerender

    rerender(run_dir)
    click.echo(f"wrote {RunLayout(run_dir).report}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@config_option
@set_option
def rescore(run_dir: Path, config_path: Path | None, overrides: tuple[str, ...]) -> None:
    """Score a finished run's answers again (scoring, gate or statistics changed) without re-running inference."""
    from ray_eval.runs.rescore import rescore_run

    outcome = rescore_run(run_dir, config_path, list(overrides))
    _echo_summary_and_report(outcome.run_dir)
    sys.exit(outcome.exit_code)


@cli.command()
@click.argument("out_dir", default="runs", type=click.Path(path_type=Path))
def runs(out_dir: Path) -> None:
    """List the run directories in OUT_DIR (default: runs): status, verdict, score, model, how to resume."""
    from ray_eval.runs.rundir import list_runs, runs_table

    listings = list_runs(out_dir)
    click.echo(runs_table(listings) if listings else f"no run directories in {out_dir}")


@cli.command()
@click.argument("baseline_run", type=click.Path(path_type=Path))
@click.argument("candidate_run", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Also write comparison.json into this folder.")
@click.option("--html", "html_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the comparison as an HTML page (report.html's comparison section) to this file.")
@click.option("--fail-on-regression", is_flag=True,
              help="Exit 1 when the candidate regressed significantly, or when there are too few samples to tell.")
@click.option("--suite", help="The suite to compare, when the runs evaluated several (each with its own samples).")
@config_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a statistics value, e.g. --set statistics.bootstrap_resamples=5000.")
def compare(baseline_run: Path, candidate_run: Path, out_dir: Path | None, html_path: Path | None,
            fail_on_regression: bool, suite: str | None, config_path: Path | None, overrides: tuple[str, ...]) -> None:
    """A/B of two finished runs on their shared samples: a verdict (regressed, improved, no significant change,
    too few samples to tell), deltas (CANDIDATE - BASELINE) with the paired test of each group, flips.

    Exits 0 whatever the verdict; with --fail-on-regression, 1 when the candidate regressed or there are too few
    samples to tell (never a pass, as in the gate); 2 for bad input."""
    from ray_eval.config import StatisticsConfig, load_section
    from ray_eval.outputs.comparison_text import comparison_text
    from ray_eval.outputs.report import write_comparison_page
    from ray_eval.verdict.compare import compare_runs, write_comparison
    from ray_eval.verdict.comparison_verdict import comparison_verdict
    from ray_eval.verdict.gate import compare_exit_code

    statistics = load_section("statistics", StatisticsConfig, config_path, list(overrides))
    comparison = compare_runs(candidate_run, baseline_run, statistics, suite=suite)
    click.echo(comparison_text(comparison))
    if out_dir is not None:
        click.echo(f"wrote {write_comparison(out_dir, comparison)}")
    if html_path is not None:
        click.echo(f"wrote {write_comparison_page(html_path, comparison)}")
    sys.exit(compare_exit_code(comparison_verdict(comparison), fail_on_regression))


@cli.command()
@config_option
@set_option
@click.option("--once", is_flag=True,
              help="Run one probe round, print the state as JSON and a one-line verdict; exit 0 healthy, 1 the pass "
              "rate is below target_pass_ratio, 3 a probe got no answer.")
def canary(config_path: Path | None, overrides: tuple[str, ...], once: bool) -> None:
    """Probe a production endpoint with critical ShopBench questions; serve /metrics, /healthz and /state."""
    from ray_eval.canary import load_canary_config, run_canary

    sys.exit(run_canary(load_canary_config(config_path, list(overrides)), once=once))


@cli.group()
def dataset() -> None:
    """Make or check datasets."""


@dataset.command()
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder to write into.")
@click.option("--n", "count", default=100, show_default=True, type=click.IntRange(min=1), help="Number of samples.")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same files.")
@click.option("--force", is_flag=True, help="Replace a manifest and media/ already in the folder.")
def synth(out_dir: Path, count: int, seed: int, force: bool) -> None:
    """Generate the synthetic ShopBench-format sample set (manifest.jsonl and media)."""
    from ray_eval.demo.synth import synthesize

    try:
        result = synthesize(out_dir, count, seed, overwrite=force)
    except FileExistsError as exc:
        raise UsageError(f"{exc} (use --force)") from None
    click.echo(f"wrote {result.n} samples to {out_dir / 'manifest.jsonl'}")


@dataset.command()
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder to write into.")
@click.option("--n", "count", default=30, show_default=True, type=click.IntRange(min=1), help="Questions per file.")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same files.")
def guard(out_dir: Path, count: int, seed: int) -> None:
    """Generate the guard suite: VLMEvalKit TSV files of text to read, shapes to count and yes/no questions."""
    from ray_eval.demo.guard import write_guard_suite
    from ray_eval.errors import OperatorError

    try:
        files = write_guard_suite(out_dir, count, seed).files
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:  # a file in the way, a read-only folder
        raise OperatorError(f"--out {out_dir}: cannot write there ({exc.strerror}: {exc.filename})") from None
    for path in files.values():
        click.echo(f"wrote {count} questions to {path}")


@dataset.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "format_name", default="auto", show_default=True,
              type=click.Choice(["auto", "manifest", "seed_json", "vlmeval_tsv"]),
              help="Reader to use; auto picks one from the file's extension and content.")
@click.option("--root", type=click.Path(path_type=Path),
              help="Folder relative media paths are looked up in (and may not leave); default: the file's folder, "
              "or the working directory for a seed suite .json.")
@click.option("--decode-media", is_flag=True, help="Also decode every image and video (slow, thorough).")
def validate(path: Path, format_name: str, root: Path | None, decode_media: bool) -> None:
    """List every bad row with its line or row number and the reason; exit 2 when there is one."""
    from ray_eval.data.validate import validate_dataset

    report = validate_dataset(path, format_name, root, decode_media=decode_media, format_option="--format")
    for problem in report.problems:
        click.echo(str(problem))
    click.echo(report.summary_line())
    sys.exit(0 if report.ok else EXIT_BAD_INPUT)


@cli.group()
def model() -> None:
    """Build the project's own small models: a random-weight smoke model, a demo model trained here."""


@model.command()
@click.option("--arch", default="qwen3_vl", show_default=True, type=click.Choice(["qwen2_vl", "qwen3_vl"]),
              help="Qwen-VL architecture (Ostrakon-VL-8B is a qwen3_vl).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder to write the model into.")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same model.")
def tiny(arch: TinyArch, out_dir: Path, seed: int) -> None:
    """Build a tiny random-weight Qwen-VL model locally (no download) that vLLM can serve on CPU."""
    from ray_eval.demo.tiny_model import build_tiny_model

    click.echo(f"wrote {build_tiny_model(arch, out_dir, seed)}")


@model.command("train-tiny")
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="manifest.jsonl of synthetic samples to train on (ray-eval dataset synth; not the held-back seed).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder to write the model into.")
@click.option("--seed", default=0, show_default=True, type=int, help="Initial weights and sample order.")
@click.option("--steps", type=click.IntRange(min=1), help="Optimizer steps (default: the committed checkpoints').")
@click.option("--leave-out", "leave_out", multiple=True, type=click.Choice([s.value for s in Subset]),
              help="Never train on this subset: a checkpoint with a known defect (repeatable).")
@click.option("--start-from", "start_from", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Go on from this trained checkpoint (a second stage) instead of fresh weights.")
@click.option("--learning-rate", "learning_rate", type=click.FloatRange(min=0, min_open=True),
              help="Peak learning rate (default: the first stage's).")
@click.option("--share", "shares", multiple=True, metavar="FORMAT=SHARE",
              help="How often an answer format is drawn, e.g. mcq=0.8 (repeatable; default: the first stage's).")
@click.option("--video", is_flag=True, help="Train on video questions too (default: still images only).")
def train_tiny(data: Path, out_dir: Path, seed: int, steps: int | None, leave_out: tuple[str, ...],
               start_from: Path | None, learning_rate: float | None, shares: tuple[str, ...], video: bool) -> None:
    """Train the tiny Qwen3-VL on synthetic ShopBench samples on this CPU, so the demo serves a model that answers."""
    from ray_eval.demo.train_tiny import TrainingPlan, parse_shares, train_tiny_model

    plan = TrainingPlan(
        data=data, seed=seed, steps=steps or TrainingPlan.steps,
        learning_rate=learning_rate or TrainingPlan.learning_rate,
        format_shares=parse_shares(shares) if shares else TrainingPlan.format_shares,
        leave_out=tuple(Subset(name) for name in leave_out), start_from=start_from, video=video)
    result = train_tiny_model(plan, out_dir, progress=click.echo)
    click.echo(f"wrote {out_dir}: {result.examples} examples, loss {result.first_loss} -> {result.final_loss}, "
               f"{result.seconds:.0f} s")


@cli.group()
def ci() -> None:
    """The CI pipelines' steps: submit to a Ray cluster and fetch the verdict (exit 0/1/2/3 as `run`)."""


@ci.command()
@config_option
@set_option
@click.option("--address", envvar="RAY_ADDRESS", required=True, help="The cluster's dashboard, http://HEAD:8265.")
@click.option("--submission-id", required=True, help="Ray job id, also the run id (the run directory's name).")
@click.option("--out", "out_dir", default="ci-out", show_default=True, type=click.Path(path_type=Path),
              help="Where the reports are fetched to (OUT/<submission-id>/) and outcome.json written.")
def submit(config_path: Path | None, overrides: tuple[str, ...], address: str, submission_id: str,
           out_dir: Path) -> None:
    """Run the evaluation as one Ray job, show its log, read verdict and reports from its end; exit as `run` does."""
    from ray_eval.ci import submit_and_fetch

    if config_path is None:
        raise UsageError("ray-eval ci submit needs -c CONFIG (a file of this checkout, sent with the job)")
    sys.exit(submit_and_fetch(config_path, address, submission_id, out_dir, list(overrides)).exit_code)


@ci.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
def pack(run_dir: Path) -> None:
    """Print a run directory's reports as the bundle `ci submit` reads from a job's log (as the evaluation job does)."""
    from ray_eval.ci import pack_run_dir

    click.echo(pack_run_dir(run_dir))


@ci.command("wait-ready")
@click.argument("base_url")
@click.option("--model", required=True, help="The model id the endpoint must list at /models.")
@click.option("--timeout", "timeout_s", default=1800.0, show_default=True, type=float, help="Seconds to wait at most.")
def wait_ready_command(base_url: str, model: str, timeout_s: float) -> None:
    """Wait until an OpenAI-compatible endpoint serves the model (exit 3 after the timeout)."""
    from ray_eval.ci import wait_ready
    from ray_eval.engines.base import public_url

    wait_ready(base_url, model, timeout_s)
    click.echo(f"{public_url(base_url)} serves {model}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    # httpx logs every request at INFO (the URL, never its credentials: the engine sends them apart): noise.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        cli.main(args=argv, prog_name="ray-eval", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        return EXIT_INCOMPLETE
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_INCOMPLETE
    except RayEvalError as exc:
        click.echo(f"ray-eval: {exc}", err=True)
        return exc.exit_code
    except Exception:  # noqa: BLE001 - anything else (a Ray failure, a bug) means the run could not complete
        traceback.print_exc()
        click.echo("ray-eval: the run could not complete (see the traceback above)", err=True)
        return EXIT_INCOMPLETE
    return 0


def entrypoint() -> None:
    """The `ray-eval` command: main, then an exit that skips the interpreter's finalization, which tears down Ray,
    pyarrow and pandas for 0.4-0.7 s after every file of the run is already written, synced and renamed (measured,
    BENCHMARKS.md): time a user waits for nothing. Standard streams and logging are flushed first; threads that
    matter have been joined by the command itself (a local Ray's shutdown, a watchdog)."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entrypoint()
