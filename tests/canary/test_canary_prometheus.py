"""A real Prometheus scrapes the canary's /metrics: what its HTTP API reads back equals the canary's /state."""

from __future__ import annotations

import pytest

from ray_eval.canary import Canary, load_canary_config
from ray_eval.metrics import names
from ray_eval.testing import Reply, ScriptedOpenAIServer, from_answers
from ray_eval.testing.prometheus import MonitoringBinaryMissing, PrometheusServer, find_binary, wait_until
from tests.canary.conftest import (
    GUARD,
    canary_config,
    correct_reply,
    get_state,
    openai_engine,
    probe_rows,
    serving,
    two_suite_config,
)

ROUNDS = 4


@pytest.fixture(scope="module", autouse=True)
def _prometheus_installed():
    try:
        find_binary("prometheus")
    except MonitoringBinaryMissing as exc:
        pytest.skip(str(exc))


def test_prometheus_reads_back_what_the_canary_states(tmp_path, probe_manifest):
    rows = probe_rows()
    # Right for five probes, wrong for two, and one that always fails at the engine.
    answers = {row["id"]: correct_reply(row) for row in rows if row["id"] not in ("mcq-1", "open-1")}
    answers |= {"mcq-1": "Answer: D", "open-1": "no idea"}
    script = {"mcq-4": [Reply.status(502)]}
    with ScriptedOpenAIServer(default=from_answers(answers), script=script) as server:
        config = canary_config(probe_manifest, server.base_url, "probes.per_round=3", "interval_s=0.3")
        canary = Canary(config, max_rounds=ROUNDS)  # the loop stops after four rounds: the values hold still
        with serving(canary) as url:
            host_port = url.removeprefix("http://")
            with PrometheusServer(tmp_path / "prom", {"canary": [host_port]}, scrape_interval_s=0.5) as prom:
                state = wait_until(lambda: (s := get_state(url))["rounds"] == ROUNDS and s, 30, "four rounds")
                wait_until(lambda: not canary.loop_alive, 10, "the loop to end")
                state = get_state(url)
                rounds = prom.wait_for(names.CANARY_ROUNDS, lambda r: r and r[0]["value"] == ROUNDS)
                assert rounds[0]["metric"]["job"] == "canary"
                by_result = {item["metric"]["result"]: item["value"]
                             for item in prom.query(f"sum by (result) ({names.CANARY_PROBES})")}
                (ratio, upper, window_probes) = (prom.query(name)[0] for name in (
                    names.CANARY_WINDOW_PASS, names.CANARY_WINDOW_UPPER, names.CANARY_WINDOW_PROBES))
                coverage = prom.query(names.CANARY_COVERAGE)[0]["value"]
                errors = {item["metric"]["type"]: item["value"] for item in prom.query(names.CANARY_ERRORS)}

    assert state["rounds"] == ROUNDS and sum(state["totals"].values()) == 3 * ROUNDS
    assert by_result == {result: float(count) for result, count in state["totals"].items()}
    assert by_result["passed"] > 0 and by_result["failed"] > 0
    assert {ratio["metric"]["suite"], upper["metric"]["suite"], window_probes["metric"]["suite"]} == {"probes"}
    assert ratio["value"] == pytest.approx(state["window"]["pass_ratio"])
    assert upper["value"] == pytest.approx(state["window"]["wilson_upper"])
    assert window_probes["value"] == state["window"]["probes"] == 3 * ROUNDS
    assert coverage == pytest.approx(state["pool"]["coverage"]) == 1.0  # 12 draws from 8 probes
    assert errors == {key: float(count) for key, count in state["errors"].items()}
    assert set(errors) == {"HTTP 502"}  # mcq-4 is in the first cycle, like every probe


def test_prometheus_reads_each_suites_probes_and_window_by_its_suite_label(tmp_path, probe_manifest, guard_tsv):
    """Two suites (ShopBench's critical probes, the OCR guard): the scraped series carry `suite`, and per suite they
    equal /state's suites."""
    from tests.canary.test_canary_suites import by_suite, replies

    with ScriptedOpenAIServer(default=by_suite(replies(guard_tsv))) as server:
        path = two_suite_config(tmp_path, probe_manifest, guard_tsv, openai_engine(server.base_url),
                                probes={"per_round": 5}, interval_s=0.3)
        canary = Canary(load_canary_config(path), max_rounds=ROUNDS)
        with serving(canary) as url:
            with PrometheusServer(tmp_path / "prom", {"canary": [url.removeprefix("http://")]},
                                  scrape_interval_s=0.5) as prom:
                wait_until(lambda: get_state(url)["rounds"] == ROUNDS and not canary.loop_alive, 30, "four rounds")
                state = get_state(url)
                prom.wait_for(names.CANARY_ROUNDS, lambda r: r and r[0]["value"] == ROUNDS)
                probes = {(item["metric"]["suite"], item["metric"]["result"]): item["value"]
                          for item in prom.query(f"sum by (suite, result) ({names.CANARY_PROBES})")}
                windows = {name: {item["metric"]["suite"]: item["value"] for item in prom.query(name)}
                           for name in (names.CANARY_WINDOW_PROBES, names.CANARY_WINDOW_PASS,
                                        names.CANARY_WINDOW_UPPER)}

    by_state = {(item["suite"], item["result"]) for item in state["recent"]}
    assert {suite for suite, _ in by_state} == {"shopbench", GUARD}, "20 draws from 14 probes reach both suites"
    for suite, part in state["suites"].items():
        window = part["window"]
        assert sum(probes[suite, result] for result in ("passed", "failed", "unparsed", "error")) == window["probes"]
        assert probes[suite, "passed"] == window["passed"]
        assert windows[names.CANARY_WINDOW_PROBES][suite] == window["probes"]
        assert windows[names.CANARY_WINDOW_PASS][suite] == pytest.approx(window["pass_ratio"])
        assert windows[names.CANARY_WINDOW_UPPER][suite] == pytest.approx(window["wilson_upper"])
    assert sum(part["window"]["probes"] for part in state["suites"].values()) == 5 * ROUNDS
