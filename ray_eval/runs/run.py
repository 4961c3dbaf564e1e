"""One evaluation run, end to end: scan the dataset, reach the engine, stream the Ray Data pipeline into
results.parquet, aggregate, apply the gate, write every output. The CLI and the job entrypoint call `run_evaluation`."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import ray
import ray.data
from jinja2 import TemplateError

from ray_eval.cluster.ray_console import quiet_ray_console
from ray_eval.cluster.ray_reaper import reaped_when_this_process_ends
from ray_eval.config import EvalConfig
from ray_eval.data.dataset import RunScan, scan_suites
from ray_eval.engines import EngineSpec, engine_kind
from ray_eval.errors import ConfigError, RunInterrupted
from ray_eval.metrics import RunMetrics, run_labels
from ray_eval.pipeline import pipeline_cpus_besides_inference
from ray_eval.pipeline.judge import judge_setup
from ray_eval.pipeline.prompts import render_prompt
from ray_eval.pipeline.sizing import InferenceSizing, size_inference
from ray_eval.runs.finish import RunOutcome, conclude_run, read_baselines
from ray_eval.runs.rundir import plan_run_dir, start_run_dir
from ray_eval.runs.store import RunStore
from ray_eval.runs.streaming import stream_results
from ray_eval.serving.serve_app import serve_apps
from ray_eval.verdict.serving_gate import ServingGateInput, load_serving_baseline, serving_setup

log = logging.getLogger("ray_eval")


def run_evaluation(config: EvalConfig, address: str | None = None, environ: Mapping[str, str] | None = None,
                   retry_errors: bool = False, ray_logs: bool = False) -> RunOutcome:
    """Evaluate, or resume the run directory of the same run id and config (then `retry_errors` also runs again
    the samples that ended in an error). Ray's own console lines are left out unless `ray_logs`. Ctrl-C raises
    RunInterrupted, which says how to resume."""
    environ = os.environ if environ is None else environ
    started_at, started = datetime.now(UTC), time.monotonic()
    scan = scan_suites(config)
    _check_templates(config)
    run_dir, resuming = plan_run_dir(config, started_at, scan.fingerprint)
    with _interrupt_says_how_to_resume(run_dir):
        done = RunStore(run_dir).done_sample_ids(retry_errors) if resuming else {}
        judge = judge_setup(config, environ)
        metrics = RunMetrics(config.metrics, run_labels(config))
        # A baseline that cannot be read is refused here, before anything runs.
        baselines = read_baselines(config)
        serving_baseline = load_serving_baseline(config.gate.serving)
        with _engine(config, scan, environ) as engine:
            # An HTTP engine outside Ray is checked before Ray starts; a Serve app once it is (or was) deployed.
            early = engine.kind.preflight_before_ray(serve_deployed_by_run=config.serve.config is not None)
            if early:
                engine.preflight()
            with _ray_session(config, address, ray_logs), serve_apps(config.serve):
                if not early:
                    engine.preflight()
                if judge is not None:
                    judge.engine.preflight()
                start_run_dir(run_dir, config, started_at, scan.fingerprint, resuming)
                log.info("run %s: %d samples (%s)%s", run_dir, scan.rows, scan.describe(),
                         f", resumed: {sum(map(len, done.values()))} already done" if resuming else "")
                sizing = _sizing(config, engine)
                log.info("%s", sizing.describe())
                serving_input = ServingGateInput(serving_setup(config, sizing), serving_baseline)
                _, incomplete_reason = stream_results(scan, config, engine, judge, run_dir, metrics, done, sizing)
        # The engine error budget is checked in conclude_run, over the rows of every session of the run.
        return conclude_run(config, scan, run_dir, started_at, started, incomplete_reason, metrics, baselines,
                            serving_input)


@contextlib.contextmanager
def _interrupt_says_how_to_resume(run_dir: Path) -> Iterator[None]:
    """Ctrl-C ends the run with one line (exit 3) naming the command that continues it."""
    try:
        yield
    except KeyboardInterrupt:
        if RunStore(run_dir).is_run():
            raise RunInterrupted(f"interrupted; resume with: ray-eval run --resume {run_dir}") from None
        raise RunInterrupted("interrupted before the run directory was written: nothing to resume") from None


def _sizing(config: EvalConfig, engine: EngineSpec) -> InferenceSizing:
    """The inference actors' sizes, from the engine's capacity: as configured, else (a Serve app) as deployed."""
    capacity, source = config.inference.engine_capacity, "inference.engine_capacity"
    if capacity is None:
        capacity, source = engine.kind.capacity() or (None, source)
    return size_inference(config.inference, capacity, source, cpus=ray.cluster_resources().get("CPU", 0.0)
                          - pipeline_cpus_besides_inference(config))


def _check_templates(config: EvalConfig) -> None:
    """Render each prompt template once, so a template mistake stops the run before it starts, naming the field."""
    prompts = config.preprocess.prompts
    for name in ("mcq", "mcq_zh", "format", "format_zh", "open", "open_zh"):
        try:
            render_prompt(prompts, name.removesuffix("_zh"), "问题" if name.endswith("_zh") else "question",
                          ["a", "b"], '{"type": "object"}')
        except TemplateError as exc:
            raise ConfigError(f"preprocess.prompts.{name}: {exc}") from None


@contextlib.contextmanager
def _engine(config: EvalConfig, scan: RunScan, environ: Mapping[str, str]) -> Iterator[EngineSpec]:
    """The engine requests go to for the run (the scripted kind's stand-in server runs for as long as the block)."""
    max_in_flight = 1  # unused before the pipeline, which sets each actor's from the run's sizing (_sizing)
    with engine_kind(config.engine).reachable(lambda: scan, stand_in_timeout_s=30.0) as endpoint:
        yield EngineSpec.of(endpoint, environ, max_in_flight)


@contextlib.contextmanager
def _ray_session(config: EvalConfig, address: str | None, ray_logs: bool) -> Iterator[None]:
    """Join the cluster named by --address, the config or RAY_ADDRESS; else start a local Ray for this run, stopped
    when the block ends.

    Not stopped in a thread while the results are concluded: a Ray object reference the main thread frees while
    ray.shutdown runs makes Ray end the process (core_worker_process.cc: "The core worker has already been
    shutdown ... The process will exit"), a run killed before its verdict. That happened once the shutdown took
    0.4 s instead of 1.2 (the monitor, below): the time saved in parallel was no longer worth that race."""
    if ray.is_initialized():  # the caller (a test, a notebook, a Ray job driver) already connected
        yield
        return
    target = address or config.ray.address or os.environ.get("RAY_ADDRESS") or "local"
    local = target == "local"
    with contextlib.ExitStack() as local_ray:
        if local:
            local_ray.enter_context(reaped_when_this_process_ends())  # a local Ray dies with the run
        ray.init(
            address=target,
            num_cpus=config.ray.num_cpus if local else None,
            object_store_memory=config.ray.object_store_memory if local else None,
            include_dashboard=False if local else None,
            log_to_driver=True,
            configure_logging=False,
        )
        try:
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = False  # our own progress lines are what a CI log can show
            with contextlib.nullcontext() if ray_logs else quiet_ray_console():
                yield
        finally:
            try:
                if local:
                    # Ray 2.60 stops the GCS before the autoscaler monitor, whose SIGTERM handler then tells the dead
                    # GCS of its end until Ray kills it a second later (measured: 1.0 of the shutdown's 1.2 s). The
                    # monitor scales nothing here: killed first, it takes the GCS's time, not its own.
                    node = ray._private.worker._global_node
                    if node is not None:  # the local Ray this run started: it is there until the shutdown below
                        node.kill_monitor(check_alive=False)
            finally:
                ray.shutdown()  # then leaving local_ray kills what the shutdown left running (idle workers)
