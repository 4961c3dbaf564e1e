"""A canary of two suites, ShopBench's critical probes and a generated OCR guard: one rotation over both, each probe
asked with its suite's header and scored by its suite's scorers, the metrics and /state labelled by suite, and the
alert (and --once's verdict) raised when any suite is surely below its own target."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import httpx
import pytest

from ray_eval.canary import Canary, load_canary_config, wilson_interval
from ray_eval.cli import main
from ray_eval.data.acceptable_answers import acceptable_answers
from ray_eval.errors import ConfigError
from ray_eval.metrics import names
from ray_eval.testing import ChatRequestInfo, Reply, ScriptedOpenAIServer
from tests.canary.conftest import GUARD, correct_reply, get_state, openai_engine, probe_rows, serving, two_suite_config
from tests.canary.test_canary_scripted import metric_values, value

SHOP = "shopbench"


def guard_answers(guard: Path) -> dict[str, str]:
    """Each OCR question's first acceptable answer (a cell may list several)."""
    with guard.open(encoding="utf-8", newline="") as handle:
        return {row["index"]: acceptable_answers(row["answer"])[0] for row in csv.DictReader(handle, delimiter="\t")}


def replies(guard: Path, wrong_guard: int = 2, wrong_shop: tuple[str, ...] = ("mcq-2",)) -> dict[tuple[str, str], str]:
    """Every ShopBench probe right but `wrong_shop`; the guard's answers said in a sentence (which token_f1, the
    ShopBench default for open answers, would mostly fail), its last `wrong_guard` ones unreadable."""
    shop = {(SHOP, row["id"]): "Answer: A" if row["id"] in wrong_shop else correct_reply(row)
            for row in probe_rows() if row.get("critical")}
    answers = sorted(guard_answers(guard).items())
    right = len(answers) - wrong_guard
    return shop | {(GUARD, sample_id): f"The sign in the picture reads {answer}." if index < right
                   else "I cannot read any text there." for index, (sample_id, answer) in enumerate(answers)}


def by_suite(scripted: dict[tuple[str, str], str]):
    """Answer by (suite header, sample id): a probe sent without its suite gets a 400, not another suite's answer."""
    def policy(info: ChatRequestInfo) -> Reply:
        text = scripted.get((info.suite or "", info.sample_id or ""))
        return Reply.text(text) if text is not None else Reply.status(400, message="no such (suite, sample)")
    return policy


def test_each_probe_goes_with_its_suite_is_scored_by_its_suites_scorer_and_is_labelled(tmp_path, probe_manifest,
                                                                                       guard_tsv):
    with ScriptedOpenAIServer(default=by_suite(replies(guard_tsv))) as server:
        config = load_canary_config(two_suite_config(tmp_path, probe_manifest, guard_tsv,
                                                     openai_engine(server.base_url)))
        canary = Canary(config)
        with serving(canary) as url:
            state = wait_for_round(url)
            metrics = metric_values(httpx.get(f"{url}/metrics", timeout=5).text)
        sent = sorted((request.suite, request.sample_id) for request in server.requests)

    assert sent == sorted(replies(guard_tsv)), "one round over the whole pool, each probe with its suite's header"
    by_probe = {(item["suite"], item["probe_id"]): item["result"] for item in state["recent"]}
    assert len(by_probe) == 14
    not_passed = {key: result for key, result in by_probe.items() if result != "passed"}
    # The guard's sentences pass under ocr_contains_any, its suite's scorer; its unreadable replies do not.
    assert not_passed == {(SHOP, "mcq-2"): "failed", (GUARD, "ocr-0004"): "failed", (GUARD, "ocr-0005"): "failed"}
    assert state["pool"]["probes"] == 14 and state["pool"]["coverage"] == 1.0
    assert {suite: (part["probes"], part["window"]["probes"], part["window"]["passed"])
            for suite, part in state["suites"].items()} == {SHOP: (8, 8, 7), GUARD: (6, 6, 4)}
    assert state["window"]["probes"] == 14 and state["window"]["alert"] is False

    probes = names.CANARY_PROBES
    assert value(metrics, probes, suite=SHOP, subset="ShopFront", category="Fine-grained Single-instance",
                 result="failed") == 1
    by_suite_result = {(suite, result): sum(count for (name, labels), count in metrics.items() if name == probes
                                            and dict(labels)["suite"] == suite and dict(labels)["result"] == result)
                       for suite in (SHOP, GUARD) for result in ("passed", "failed")}
    assert by_suite_result == {(SHOP, "passed"): 7, (SHOP, "failed"): 1, (GUARD, "passed"): 4, (GUARD, "failed"): 2}
    for suite, (passed, total) in {SHOP: (7, 8), GUARD: (4, 6)}.items():
        assert value(metrics, names.CANARY_WINDOW_PROBES, suite=suite) == total
        assert value(metrics, names.CANARY_WINDOW_PASS, suite=suite) == pytest.approx(passed / total)
        assert value(metrics, names.CANARY_WINDOW_UPPER, suite=suite) == pytest.approx(wilson_interval(passed,
                                                                                                       total)[1])


def wait_for_round(url: str) -> dict:
    from ray_eval.testing.prometheus import wait_until

    return wait_until(lambda: (s := get_state(url))["rounds"] >= 1 and s, 30, "a round")


def test_one_suite_surely_below_its_target_alerts_though_the_pooled_ratio_would_not(tmp_path, probe_manifest,
                                                                                   guard_tsv):
    """ShopBench passes 7/8 a round, the guard 1/6; after five rounds, at a target of 0.6, the whole pool's 40/70 =
    57% is not surely below it (Wilson upper bound 68%), but the guard's 5/30 is (33%): the canary alerts."""
    scripted = replies(guard_tsv, wrong_guard=5)
    with ScriptedOpenAIServer(default=by_suite(scripted)) as server:
        path = two_suite_config(tmp_path, probe_manifest, guard_tsv, openai_engine(server.base_url),
                                window=100, min_window_probes=20, target_pass_ratio=0.6)
        canary = Canary(load_canary_config(path))

        async def five_rounds() -> None:
            try:
                for _ in range(5):
                    await canary.run_round()
            finally:
                await canary.stop()

        asyncio.run(five_rounds())
    state = canary.state()
    assert (state["window"]["probes"], state["window"]["passed"]) == (70, 40)
    assert canary.windows.whole.alert is False, "the pooled rule alone would stay quiet"
    assert state["suites"][SHOP]["window"]["alert"] is False
    assert (state["suites"][GUARD]["window"]["passed"], state["suites"][GUARD]["window"]["alert"]) == (5, True)
    assert state["window"]["alert"] is True and state["window"]["alerting_suites"] == [GUARD]
    metrics = metric_values(canary.metrics.text().decode())
    guard_upper = value(metrics, names.CANARY_WINDOW_UPPER, suite=GUARD)
    assert guard_upper == pytest.approx(wilson_interval(5, 30)[1]) and guard_upper < 0.6
    assert value(metrics, names.CANARY_WINDOW_PROBES, suite=GUARD) == 30


def test_once_judges_each_suite_against_its_target_and_names_the_one_below(tmp_path, probe_manifest, guard_tsv,
                                                                           capsys):
    with ScriptedOpenAIServer(default=by_suite(replies(guard_tsv))) as server:
        path = two_suite_config(tmp_path, probe_manifest, guard_tsv, openai_engine(server.base_url),
                                target_pass_ratio=0.8)
        assert main(["canary", "-c", str(path), "--once"]) == 0
        out, err = capsys.readouterr()
    state = json.loads(out)
    guard = state["health"]["suites"][GUARD]
    assert (guard["probes"], guard["passed"], guard["below_target"]) == (6, 4, False)
    assert guard["wilson_upper"] == pytest.approx(wilson_interval(4, 6)[1])
    assert err.splitlines()[-1] == "canary: healthy, 14/14 probes answered, pass rate 78.6%"

    with ScriptedOpenAIServer(default=by_suite(replies(guard_tsv, wrong_guard=6))) as server:
        path = two_suite_config(tmp_path, probe_manifest, guard_tsv, openai_engine(server.base_url),
                                target_pass_ratio=0.8)
        assert main(["canary", "-c", str(path), "--once"]) == 1
        out, err = capsys.readouterr()
    assert json.loads(out)["health"]["suites"][SHOP]["below_target"] is False
    assert err.splitlines()[-1] == (f"canary: unhealthy, 14/14 probes answered, pass rate 50.0%: suite {GUARD}: 0/6 "
                                    f"passed, 95% sure the pass rate is below the target 80% (Wilson upper bound "
                                    f"{wilson_interval(0, 6)[1]:.1%})")


def test_the_scripted_stand_in_answers_each_suite_from_its_own_file(tmp_path, probe_manifest, guard_tsv, capsys):
    engine = {"kind": "scripted", "policy": "oracle", "accuracy": 1.0, "seed": 0, "model": "scripted-stand-in"}
    path = two_suite_config(tmp_path, probe_manifest, guard_tsv, engine)
    assert main(["canary", "-c", str(path), "--once"]) == 0
    out, err = capsys.readouterr()
    state = json.loads(out)
    assert state["errors"] == {} and state["suites"][GUARD]["window"]["passed"] == 6
    assert err.splitlines()[-1].startswith("canary: healthy, 14/14 probes answered")


@pytest.mark.parametrize(("change", "expected"), [
    ({"probes": {"path": "x.jsonl"}}, "probes.path: with suites, each suite has its own probes block"),
    ({"scoring": {"open_pass_threshold": 0.3}}, "scoring.open_pass_threshold: with suites, each suite has its own "
                                                "scoring block (suites[i].scoring)"),
    ({"suites": [{"name": "a", "probes": {"path": "x.jsonl"}}, {"name": "a", "probes": {"path": "y.tsv"}}]},
     "suites: the name 'a' is used twice; suite names must be unique"),
    ({"suites": [{"name": "a", "probes": {"path": "x.jsonl", "per_round": 3}}]},
     "per_round: the rotation draws over the whole pool; set probes.per_round at the top level"),
    ({"suites": [{"name": "Shop Bench", "probes": {"path": "x.jsonl"}}]}, "suites.0.name"),
    ({"suites": [], "probes": {"per_round": 3}}, "probes.path or suites is required"),
])
def test_suite_configs_are_refused_in_one_line_naming_the_field(tmp_path, change, expected):
    base = {"suites": [{"name": "shopbench", "probes": {"path": "x.jsonl"}}],
            "engine": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}}
    path = tmp_path / "canary.yaml"
    path.write_text(json.dumps(base | change), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_canary_config(path)
    assert expected in str(caught.value) and caught.value.exit_code == 2


def test_a_one_pool_canary_is_one_suite_named_after_its_file(probe_manifest):
    from tests.canary.conftest import canary_config

    (suite,) = canary_config(probe_manifest, "http://127.0.0.1:9/v1", "scoring.open_pass_threshold=0.3",
                             "probes.limit=3").probe_suites()
    assert (suite.name, suite.probes.path, suite.scoring.open_pass_threshold) == ("probes", probe_manifest, 0.3)
    assert suite.probes.limit == 3


def test_a_missing_probe_file_is_refused_naming_its_suite(tmp_path, probe_manifest):
    from ray_eval.canary import load_probes
    from ray_eval.errors import DatasetError

    path = two_suite_config(tmp_path, probe_manifest, tmp_path / "missing.tsv", openai_engine("http://127.0.0.1:9/v1"))
    with pytest.raises(DatasetError) as caught:
        load_probes(load_canary_config(path))
    assert str(caught.value) == f"suite {GUARD}: dataset file {tmp_path / 'missing.tsv'} does not exist"
