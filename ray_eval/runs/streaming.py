"""The driver's side of a run: the pipeline's results written to disk as they arrive, progress lines (also while
nothing arrives), and the stop when the engine watch finds the engine down."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import ray
from ray.exceptions import GetTimeoutError, RayActorError

from ray_eval.cluster.engine_watch import EngineState, start_watch
from ray_eval.config import EvalConfig
from ray_eval.data.dataset import RunScan
from ray_eval.engines import EngineSpec
from ray_eval.metrics import RunMetrics
from ray_eval.pipeline import JudgeSetup, build_pipeline
from ray_eval.pipeline.sizing import InferenceSizing
from ray_eval.records import BLIND, STOPPED
from ray_eval.runs.progress import EngineHealth, Progress
from ray_eval.runs.results import ResultWriter
from ray_eval.runs.store import RunStore

TICK_S = 1.0  # how often (at most) the driver's timer looks whether a progress line is due
WATCH_TIMEOUT_S = 5.0  # a progress line does not wait longer than this for the engine's state


def stream_results(scan: RunScan, config: EvalConfig, engine: EngineSpec, judge: JudgeSetup | None,
                   run_dir: Path, metrics: RunMetrics, done: Mapping[str, frozenset[str]],
                   sizing: InferenceSizing) -> tuple[EngineHealth, str | None]:
    """Run the pipeline, writing result batches as they arrive (`done`: the sample ids a resumed run has, by suite);
    the reason it stopped early, if it did."""
    store = RunStore(run_dir)

    def result_writer(blind: bool) -> ResultWriter:
        return store.result_writer(blind=blind, rows_per_part=config.run.checkpoint_rows,
                                   flush_interval_s=config.run.checkpoint_interval_s)

    writer = result_writer(blind=False)
    blind_writer = result_writer(blind=True) if config.diagnostics.blind_pass else None
    progress = Progress(scan.rows - sum(map(len, done.values())), config.run.progress_interval_s)
    health = EngineHealth()
    watch = start_watch(config.run.abort_after_consecutive_failures, engine.config.retry_window_s)
    stopped = False
    try:
        with _ticking(progress, lambda: _engine_note(watch)):
            batches: Iterable[pa.Table] = build_pipeline(scan, config, engine, sizing, judge, done, watch).iter_batches(
                batch_format="pyarrow", batch_size=None)
            for batch in batches:
                # Rows the stop cut short carry no result: left out, so a resume asks them. The rest of the batch
                # that brought the stop is written like any other.
                cut_short = pc.fill_null(pc.equal(batch["status"], STOPPED), False)
                stopped = pc.any(cut_short).as_py() or False
                batch = batch.filter(pc.invert(cut_short))
                health.update(batch)
                standard = _write(batch, writer, blind_writer)
                progress.update(standard)
                if metrics.enabled:
                    metrics.observe(standard, progress.done, scan.rows)
                if stopped:
                    break  # leaving the loop closes the iterator, which shuts the pipeline down
        return health, _engine_state(watch).stop_reason if stopped else None
    finally:
        writer.close()
        if blind_writer is not None:
            blind_writer.close()
        ray.kill(watch)


def _write(batch: pa.Table, writer: ResultWriter, blind_writer: ResultWriter | None) -> pa.Table:
    """Write the batch's rows, the blind pass's to their own file; the standard rows, which progress counts."""
    if blind_writer is not None:
        blind = pc.equal(batch["variant"], BLIND)
        blind_writer.write(batch.filter(blind))
        batch = batch.filter(pc.invert(pc.fill_null(blind, False)))
    writer.write(batch)
    return batch


def _engine_state(watch) -> EngineState:
    return ray.get(watch.state.remote(), timeout=WATCH_TIMEOUT_S)


def _engine_note(watch) -> str:
    """The progress line's note on the engine; none when the watch does not answer in time (the line still goes)."""
    try:
        return _engine_state(watch).describe()
    except (GetTimeoutError, RayActorError):
        return ""


@contextlib.contextmanager
def _ticking(progress: Progress, note: Callable[[], str]) -> Iterator[None]:
    """A timer thread printing progress lines while no results arrive (a hanging engine, a long first batch)."""
    finished = threading.Event()

    def tick() -> None:
        while not finished.wait(min(TICK_S, progress.interval_s / 2)):
            progress.tick(note)

    timer = threading.Thread(target=tick, name="ray-eval-progress", daemon=True)
    timer.start()
    try:
        yield
    finally:
        finished.set()
        timer.join()
