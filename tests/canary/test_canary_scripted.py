"""The canary against a real scripted OpenAI-compatible server: probes go with their images, answers are scored
with the evaluation's scorers, and /metrics, /healthz and /state say what happened, without the API key."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ray_eval.canary import Canary, wilson_interval
from ray_eval.cli import main
from ray_eval.errors import ConfigError
from ray_eval.metrics import names
from ray_eval.testing import Reply, ScriptedOpenAIServer, from_answers
from ray_eval.testing.prometheus import free_port, wait_until
from tests.canary.conftest import canary_config, correct_reply, get_state, probe_rows, serving
from tests.security.leaks import b64, html_error_page, leaks, new_key, recorded_logs

SHOP, HYGIENE = "Fine-grained Single-instance", "Hygiene Compliance"
POOL = "probes"  # a one-pool canary's suite label: its file's name (probes.jsonl)
REPO = Path(__file__).resolve().parents[2]


def metric_values(text: str) -> dict[tuple[str, frozenset], float]:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(values: dict, name: str, **labels: str) -> float:
    return values[(name, frozenset(labels.items()))]


def mixed_script() -> dict[str, list[Reply]]:
    """Right, wrong, unreadable, a 500 and a malformed 200, over both categories and all formats."""
    rows = {row["id"]: row for row in probe_rows()}
    return {
        "mcq-0": [Reply.text(correct_reply(rows["mcq-0"]))],
        "mcq-1": [Reply.text("The answer is (B).")],  # B is mcq-1's answer
        "mcq-2": [Reply.text("Answer: A")],  # wrong: C
        "mcq-3": [Reply.status(500, message="engine overloaded")],
        "mcq-4": [Reply.malformed("not_json")],
        "format-1": [Reply.text(correct_reply(rows["format-1"]))],
        "open-1": [Reply.text("")],  # no answer text at all: unparsed
        "open-nolabel": [Reply.text("the bin is closed")],
    }


def test_one_round_sends_the_probes_with_images_and_scores_them_like_the_evaluation(probe_manifest):
    with ScriptedOpenAIServer(script=mixed_script()) as server:
        canary = Canary(canary_config(probe_manifest, server.base_url))
        with serving(canary) as url:
            state = wait_until(lambda: (s := get_state(url))["rounds"] >= 1 and s, 30, "a round")
            metrics = httpx.get(f"{url}/metrics", timeout=5)
        requests = server.requests

    # Every critical probe once, each with its image; the sample that is not critical never.
    assert sorted(request.sample_id for request in requests) == sorted(mixed_script())
    assert all(request.image_count >= 1 for request in requests)
    assert all(request.max_tokens == 64 and request.temperature == 0 for request in requests)

    results = {item["probe_id"]: item for item in state["recent"]}
    assert {pid: item["result"] for pid, item in results.items()} == {
        "mcq-0": "passed", "mcq-1": "passed", "mcq-2": "failed", "mcq-3": "error", "mcq-4": "error",
        "format-1": "passed", "open-1": "unparsed", "open-nolabel": "passed"}
    assert results["mcq-2"]["extracted"] == "A" and results["format-1"]["score"] == 1.0
    assert results["mcq-3"]["error_type"] == "HTTP 500" and "engine overloaded" in results["mcq-3"]["error"]
    assert results["mcq-4"]["error_type"] == "EngineBadResponse"
    assert state["totals"] == {"passed": 4, "failed": 1, "unparsed": 1, "error": 2}
    assert state["errors"] == {"HTTP 500": 1, "EngineBadResponse": 1}
    assert state["window"]["probes"] == 8 and state["window"]["pass_ratio"] == 0.5  # errors count as not passed
    assert state["pool"] == {"probes": 8, "probed": 8, "coverage": 1.0, "cycle": 0, "per_round": 8, "skipped": []}

    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    values = metric_values(metrics.text)
    probes = names.CANARY_PROBES
    assert value(values, probes, suite=POOL, subset="ShopFront", category=SHOP, result="passed") == 2
    assert value(values, probes, suite=POOL, subset="ShopFront", category=SHOP, result="failed") == 1
    assert value(values, probes, suite=POOL, subset="ShopFront", category=SHOP, result="error") == 2
    assert value(values, probes, suite=POOL, subset="ShopFront", category=SHOP, result="unparsed") == 0
    assert value(values, probes, suite=POOL, subset="Kitchen", category=HYGIENE, result="passed") == 1
    assert value(values, probes, suite=POOL, subset="Kitchen", category=HYGIENE, result="unparsed") == 1
    assert value(values, probes, suite=POOL, subset="Kitchen", category="(none)", result="passed") == 1
    assert value(values, names.CANARY_ERRORS, type="HTTP 500") == 1
    assert value(values, names.CANARY_ERRORS, type="EngineBadResponse") == 1
    assert value(values, names.CANARY_LATENCY + "_count") == 6  # the answered probes, not the errors
    assert value(values, names.CANARY_ROUNDS) == 1
    assert value(values, names.CANARY_WINDOW_PROBES, suite=POOL) == 8
    assert value(values, names.CANARY_WINDOW_PASS, suite=POOL) == 0.5
    lower, upper = wilson_interval(4, 8)
    assert value(values, names.CANARY_WINDOW_LOWER, suite=POOL) == pytest.approx(lower)
    assert value(values, names.CANARY_WINDOW_UPPER, suite=POOL) == pytest.approx(upper)
    assert value(values, names.CANARY_POOL) == 8 and value(values, names.CANARY_COVERAGE) == 1.0
    assert value(values, names.CANARY_LAST_ROUND) == pytest.approx(state["last_round"]["finished_at"])
    assert value(values, names.CANARY_LAST_SUCCESS) == pytest.approx(state["last_success_at"])
    assert abs(state["last_success_at"] - time.time()) < 60


def test_healthz_is_ok_after_a_round_and_503_when_rounds_go_stale_or_the_loop_stops(probe_manifest):
    offset = [0.0]
    with ScriptedOpenAIServer(default=from_answers({}, Reply.text("Answer: A"))) as server:
        config = canary_config(probe_manifest, server.base_url, "interval_s=600", "stale_after_intervals=2")
        canary = Canary(config, clock=lambda: time.time() + offset[0])
        assert canary.health()[0] is False and "not running" in canary.health()[1]["reason"]
        with serving(canary) as url:
            wait_until(lambda: get_state(url)["rounds"] == 1, 30, "a round")
            healthy = httpx.get(f"{url}/healthz", timeout=5)
            assert healthy.status_code == 200 and healthy.json()["status"] == "ok"
            offset[0] = 2 * 600 + 1  # two intervals and a second later, no round has finished since
            stale = httpx.get(f"{url}/healthz", timeout=5)
            assert stale.status_code == 503
            assert stale.json()["reason"] == "no probe round finished in the last 1200 s"
            assert get_state(url)["healthy"] is False
        stopped = canary.health()
        assert stopped[0] is False and "not running" in stopped[1]["reason"]


def test_the_first_interval_is_healthy_before_any_round_finished(probe_manifest):
    # The server holds every answer until the test ends: the first round stays in flight.
    with ScriptedOpenAIServer(default=lambda info: Reply.hang(30)) as server:
        offset = [0.0]
        canary = Canary(canary_config(probe_manifest, server.base_url, "interval_s=100", "request_timeout_s=60"),
                        clock=lambda: time.time() + offset[0])
        with serving(canary) as url:
            assert server.wait_for_requests(8, timeout=20)
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            offset[0] = 301
            late = httpx.get(f"{url}/healthz", timeout=5)
            assert late.status_code == 503 and "first probe round has not finished" in late.json()["reason"]


def test_the_api_key_never_appears_in_metrics_state_or_logs(probe_manifest, caplog):
    secret = "sk-canary-SECRET-4f9a1c"
    script = mixed_script() | {"mcq-3": [Reply.status(401, message=f"Incorrect API key provided: {secret}")]}
    caplog.set_level(logging.DEBUG)
    with ScriptedOpenAIServer(script=script) as server:
        config = canary_config(probe_manifest, server.base_url, "engine.api_key_env=CANARY_TEST_KEY")
        canary = Canary(config, environ={"CANARY_TEST_KEY": secret})
        with serving(canary) as url:
            wait_until(lambda: get_state(url)["rounds"] >= 1, 30, "a round")
            exposed = [httpx.get(f"{url}/{path}", timeout=5).text for path in ("metrics", "state", "healthz")]
        sent = {request.header("authorization") for request in server.requests}
    assert sent == {f"Bearer {secret}"}, "the key was sent to the endpoint"
    assert "Incorrect API key provided: [redacted]" in exposed[1], "the server's echo of the key is kept, redacted"
    for text in [*exposed, caplog.text, repr(canary.config), repr(canary._spec)]:
        assert secret not in text


@pytest.mark.parametrize("source", ["env", "file", "url"])
def test_no_part_of_an_echoed_key_reaches_state_metrics_or_logs(source, probe_manifest, tmp_path):
    """The key given by env, by file or in the URL, echoed across the 200th character of an HTML 500 page, in an
    answer, and inside a URL and base64 in an open answer (whose text /state shows as `extracted`)."""
    secret, url = new_key("sk-CANARY"), None
    if source == "env":
        overrides, environ = ["engine.api_key_env=CANARY_TEST_KEY"], {"CANARY_TEST_KEY": secret}
    elif source == "file":
        (tmp_path / "key").write_text(secret + "\n", encoding="utf-8")
        overrides, environ = [f"engine.api_key_file={tmp_path / 'key'}"], {}
    else:
        overrides, environ, url = [], {}, f"evaluser:{quote(secret, safe='')}@"
    script = mixed_script() | {
        "mcq-3": [Reply.status(500, body=html_error_page(secret), content_type="text/html")],
        "mcq-1": [Reply.text(f"The answer is (B). (your key: {secret})")],
        "open-1": [Reply.text(f"see https://evaluser:{quote(secret, safe='')}@cdn.example/x?key={quote(secret)}"
                              f" and {b64(secret)}")]}
    with ScriptedOpenAIServer(script=script) as server, recorded_logs() as logs:
        base_url = server.base_url.replace("http://", f"http://{url}", 1) if url else server.base_url
        canary = Canary(canary_config(probe_manifest, base_url, *overrides), environ=environ)
        with serving(canary) as served:
            state = wait_until(lambda: (s := get_state(served))["rounds"] >= 1 and s, 30, "a round")
            exposed = {path: httpx.get(f"{served}/{path}", timeout=5).text for path in ("metrics", "state", "healthz")}
        sent = {request.header("authorization") for request in server.requests}
    expected = "Basic " + b64(f"evaluser:{secret}") if source == "url" else f"Bearer {secret}"
    assert sent == {expected}, "the key was sent to the endpoint"
    results = {item["probe_id"]: item for item in state["recent"]}
    assert results["mcq-3"]["error"].startswith("HTTP 500: <html><head><title>500 Internal Server Error")
    assert "Authorization: Bearer [redacted]" in results["mcq-3"]["error"]
    assert results["mcq-1"]["result"] == "passed", "the redacted answer is still scored"
    assert results["open-1"]["extracted"] == ("see https://evaluser:[redacted]@cdn.example/x?key=[redacted] "
                                              "and [redacted]")
    texts = {**exposed, "the log records": "\n".join(logs.lines), "the config": repr(canary.config),
             "the engine spec": repr(canary._spec)}
    for name, text in texts.items():
        assert leaks(text, secret, ["evaluser"]) == [], f"a part of the key is in {name}"


def test_a_missing_key_is_a_config_error(probe_manifest):
    config = canary_config(probe_manifest, "http://127.0.0.1:9/v1", "engine.api_key_env=CANARY_UNSET_KEY")
    with pytest.raises(ConfigError, match="CANARY_UNSET_KEY is not set") as caught:
        Canary(config, environ={})
    assert caught.value.exit_code == 2


def _write_config(tmp_path, manifest, base_url) -> str:
    path = tmp_path / "canary.yaml"
    path.write_text(json.dumps({
        "probes": {"path": str(manifest), "per_round": 8}, "request_timeout_s": 5,
        "engine": {"kind": "openai", "base_url": base_url, "model": "scripted-model", "max_retries": 0},
    }), encoding="utf-8")
    return str(path)


def test_cli_once_reports_the_rounds_own_outcome_and_ends_with_a_one_line_verdict(tmp_path, probe_manifest, capsys):
    answers = {row["id"]: correct_reply(row) for row in probe_rows()}
    with ScriptedOpenAIServer(default=from_answers(answers)) as server:
        assert main(["canary", "-c", _write_config(tmp_path, probe_manifest, server.base_url), "--once"]) == 0
        out, err = capsys.readouterr()
        state = json.loads(out)
        assert state["rounds"] == 1 and state["totals"]["passed"] == 8 and state["window"]["pass_ratio"] == 1.0
        assert state["healthy"] is True and state["health"]["status"] == "ok"  # the round's, not the idle loop's
        assert err.splitlines()[-1] == "canary: healthy, 8/8 probes answered, pass rate 100.0%"
    wrong = {probe_id: "Answer: D" for probe_id in ("mcq-0", "mcq-1", "mcq-2")}  # D is none of their answers
    with ScriptedOpenAIServer(default=from_answers({**answers, **wrong})) as server:
        assert main(["canary", "-c", _write_config(tmp_path, probe_manifest, server.base_url), "--once"]) == 1
        out, err = capsys.readouterr()
        assert json.loads(out)["health"]["status"] == "unhealthy"
        assert err.splitlines()[-1].startswith("canary: unhealthy, 8/8 probes answered, pass rate 62.5%: 95% sure")
    with ScriptedOpenAIServer(default=from_answers(answers), script={"mcq-2": [Reply.status(503)]}) as server:
        assert main(["canary", "-c", _write_config(tmp_path, probe_manifest, server.base_url), "--once"]) == 3
        out, err = capsys.readouterr()
        assert json.loads(out)["errors"] == {"HTTP 503": 1}
        assert err.splitlines()[-1] == ("canary: unhealthy, 7/8 probes answered, pass rate 87.5%: 1 probe(s) got no "
                                        "answer from the endpoint")
    config = _write_config(tmp_path, probe_manifest, "http://127.0.0.1:9/v1")
    assert main(["canary", "-c", config, "--once", "--set", "probes.per_rond=2"]) == 2
    assert "probes.per_rond: unknown field" in capsys.readouterr().err
    # A key of the evaluation's config is a clear config error naming the --set, not a crash (exit 3).
    assert main(["canary", "-c", config, "--once", "--set", "gate.min_pass_rate=0.5"]) == 2
    assert capsys.readouterr().err == ("ray-eval: --set gate.min_pass_rate=0.5: gate: unknown field (gate is a section "
                                       "of the evaluation's config, not of this one)\n")


def test_the_readmes_one_command_runs_the_canary_against_the_scripted_stand_in(tmp_path):
    """`ray-eval canary -c configs/canary-scripted.yaml --once` in a checkout with the bundled sample set."""
    (tmp_path / "configs").mkdir()
    shutil.copy(REPO / "configs" / "canary-scripted.yaml", tmp_path / "configs")
    assert main(["dataset", "synth", "--out", str(tmp_path / "data" / "sample"), "--n", "60", "--seed", "0"]) == 0
    assert "ray-eval canary -c configs/canary-scripted.yaml --once" in (REPO / "docs/operations/canary.md").read_text()
    cli = Path(sys.executable).parent / "ray-eval"
    done = subprocess.run([str(cli), "canary", "-c", "configs/canary-scripted.yaml", "--once"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    critical = [row for row in map(json.loads, (tmp_path / "data" / "sample" / "manifest.jsonl").open())
                if row.get("critical")]
    assert state["pool"]["probes"] == len(critical) == state["last_round"]["probes"]
    passed = state["totals"]["passed"]
    assert state["healthy"] is True and state["engine"]["model"] == "scripted-stand-in"
    assert done.stderr.splitlines()[-1] == (f"canary: healthy, {len(critical)}/{len(critical)} probes answered, "
                                            f"pass rate {passed / len(critical):.1%}")
    assert "scripted stand-in model at http://127.0.0.1:" in done.stderr


def test_plain_process_serves_on_the_configured_host_and_stops_cleanly_on_sigterm(tmp_path, probe_manifest):
    secret = "sk-canary-subprocess-77e1"
    port = free_port()
    with ScriptedOpenAIServer(default=from_answers({row["id"]: correct_reply(row) for row in probe_rows()})) as server:
        config = tmp_path / "canary.yaml"
        config.write_text(json.dumps({
            "probes": {"path": str(probe_manifest), "per_round": 4}, "interval_s": 0.5,
            "engine": {"kind": "openai", "base_url": server.base_url, "model": "scripted-model",
                       "api_key_env": "CANARY_TEST_KEY"},
            "server": {"host": "127.0.0.1", "port": port},
        }), encoding="utf-8")
        cli = Path(sys.executable).parent / "ray-eval"
        process = subprocess.Popen([str(cli), "canary", "-c", str(config)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env={**os.environ, "CANARY_TEST_KEY": secret})
        try:
            url = f"http://127.0.0.1:{port}"
            state = wait_until(lambda: (s := get_state(url))["rounds"] >= 2 and s, 60, "two rounds in the subprocess")
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
        stdout, stderr = process.communicate(timeout=10)
    assert state["totals"]["passed"] >= 8 and state["pool"]["coverage"] == 1.0
    assert "canary stopping (SIGTERM)" in stderr and "Application shutdown complete" in stderr
    assert secret not in stdout + stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
