"""The canary's parts on their own: rotation, Wilson bounds, the anti-flap window, configuration and probe loading."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from ray_eval.canary import ProbeWindow, Rotation, load_canary_config, load_probes, wilson_interval
from ray_eval.canary.once import RoundVerdict
from ray_eval.errors import ConfigError, DatasetError
from tests.canary.conftest import canary_config

REPO = Path(__file__).resolve().parents[2]


# ---- rotation --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pool", "per_round"), [(10, 3), (8, 8), (7, 2), (5, 9), (1, 1)])
def test_rotation_covers_the_pool_in_ceil_pool_over_per_round_rounds(pool, per_round):
    rotation = Rotation(pool, per_round, seed=4)
    rounds_needed = math.ceil(pool / min(per_round, pool))
    seen = set()
    for _ in range(rounds_needed):
        assert rotation.coverage < 1.0, "covered before the last round: the rounds overlapped"
        chosen = rotation.next_round()
        assert len(chosen) == min(per_round, pool) == len(set(chosen)), "a round never repeats a probe"
        seen.update(chosen)
    assert seen == set(range(pool))
    assert rotation.coverage == 1.0


def test_rotation_is_deterministic_per_seed_and_reshuffles_every_cycle():
    def rounds(seed: int) -> list[list[int]]:
        rotation = Rotation(10, 3, seed)
        return [rotation.next_round() for _ in range(12)]

    assert rounds(1) == rounds(1)
    assert rounds(1) != rounds(2)
    flat = [index for chosen in rounds(1) for index in chosen]  # 36 draws: three full cycles and six more
    cycles = [flat[0:10], flat[10:20], flat[20:30]]
    assert all(sorted(cycle) == list(range(10)) for cycle in cycles), "each cycle visits every probe once"
    assert cycles[0] != cycles[1] != cycles[2], "a new permutation each cycle"
    rotation = Rotation(10, 3, 1)
    for _ in range(4):
        rotation.next_round()
    assert rotation.cycle == 1


def test_a_round_spanning_two_cycles_has_no_duplicate():
    for seed in range(50):
        rotation = Rotation(5, 4, seed)
        for _ in range(20):
            chosen = rotation.next_round()
            assert len(set(chosen)) == 4


# ---- Wilson bounds and the window --------------------------------------------------------------------------------


@pytest.mark.parametrize(("passed", "total", "lower", "upper"), [
    # by hand: centre = (p + z²/2n) / (1 + z²/n), half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n), z = 1.95996
    (8, 10, 0.49016, 0.94332),
    (49, 50, 0.89505, 0.99646),
    (20, 20, 0.83887, 1.0),   # 20 / (20 + z²)
    (0, 5, 0.0, 0.43448),     # z² / (5 + z²)
    (1, 2, 0.09453, 0.90547),
])
def test_wilson_bounds_match_hand_computed_values(passed, total, lower, upper):
    got = wilson_interval(passed, total)
    assert got == pytest.approx((lower, upper), abs=1e-5)


def test_wilson_bounds_of_an_empty_window_say_nothing_is_known_and_bad_counts_are_refused():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_one_failed_probe_among_many_passes_does_not_alert():
    window = ProbeWindow(size=50, min_probes=20, target=0.9)
    for index in range(60):
        window.add(index != 37)
        lower, upper = window.bounds
        assert upper >= 0.9, f"one failure pushed the upper bound to {upper} after {window.probes} probes"
        assert not window.alert
    assert window.probes == 50 and window.passed == 49 and window.pass_ratio == pytest.approx(0.98)


def test_a_run_of_failures_alerts_only_once_the_minimum_count_is_reached():
    window = ProbeWindow(size=50, min_probes=20, target=0.9)
    for count in range(1, 20):
        window.add(False)
        assert window.bounds[1] < 0.9 or count < 2  # the bound is below the target almost at once ...
        assert not window.alert, f"alerted on {count} probe(s), below the minimum of 20"
    window.add(False)
    assert window.probes == 20 and window.alert  # ... but the alert waits for the minimum count


def test_the_window_forgets_old_failures_and_recovers():
    window = ProbeWindow(size=30, min_probes=10, target=0.9)
    for _ in range(30):
        window.add(False)
    assert window.alert
    for _ in range(30):
        window.add(True)
    assert not window.alert and window.pass_ratio == 1.0
    summary = window.summary()
    assert summary["probes"] == 30 and summary["wilson_upper"] == 1.0 and summary["alert"] is False


# ---- configuration -------------------------------------------------------------------------------------------------


def test_defaults_and_the_example_config():
    config = load_canary_config(REPO / "configs" / "canary.yaml")
    assert config.server.host == "127.0.0.1" and config.server.port == 9400
    defaults = (config.interval_s, config.window, config.min_window_probes, config.stale_after_intervals)
    assert defaults == (300, 50, 20, 3)
    assert config.probes.critical_only and config.probes.per_round == 8
    assert config.engine.api_key_env and str(config.probes.path) == "data/sample/manifest.jsonl"
    assert config.engine_for_probes().timeout_s == config.request_timeout_s


@pytest.mark.parametrize(("override", "expected"), [
    ("probes.per_rond=3", "probes.per_rond: unknown field (did you mean 'per_round'?)"),
    ("intervl_s=3", "intervl_s: unknown field (did you mean 'interval_s'?)"),
    ("server.hots=0.0.0.0", "server.hots: unknown field (did you mean 'host'?)"),
    ("engine.base_ur=x", "engine.base_ur: unknown field (did you mean 'base_url'?)"),
    ("interval_s=0", "interval_s: Input should be greater than 0"),
    ("probes.per_round=0", "probes.per_round: Input should be greater than or equal to 1"),
    ("server.port=70000", "server.port"),
    ("engine.kind=vllm", "engine: Input tag 'vllm'"),
    ("engine.kind=scripted", "engine.base_url: unknown field for this engine kind"),
    ("gate.min_pass_rate=0.5", "--set gate.min_pass_rate=0.5: gate: unknown field (gate is a section of the "
                               "evaluation's config, not of this one)"),
    ("min_window_probes=60", "min_window_probes (60) must not exceed window (50)"),
])
def test_config_errors_name_the_field(probe_manifest, override, expected):
    with pytest.raises(ConfigError) as caught:
        canary_config(probe_manifest, "http://127.0.0.1:9/v1", override)
    assert expected in str(caught.value)
    assert caught.value.exit_code == 2


def test_the_judge_is_refused_with_a_clear_error(probe_manifest):
    for override, field in (("scoring.scorers.open=judge", "scoring.scorers"),
                            ("scoring.judge.engine.kind=openai", "scoring.judge")):
        with pytest.raises(ConfigError) as caught:
            canary_config(probe_manifest, "http://127.0.0.1:9/v1", override)
        assert f"{field}: Value error" in str(caught.value) and "judge" in str(caught.value)
        assert "token_f1" in str(caught.value), "the error says what to use instead"


def test_serve_config_validates_and_names_the_builder():
    from ray.serve.schema import HTTPOptionsSchema, ServeApplicationSchema, ServeDeploySchema

    from ray_eval.canary.serve_app import build_app
    from ray_eval.serving.serve_configs import _field_names, _unknown_keys

    data = yaml.safe_load((REPO / "serve_configs" / "canary.yaml").read_text(encoding="utf-8"))
    schema = ServeDeploySchema.model_validate(data)
    # Serve ignores unknown keys; a typo must not vanish (the same check as load_serve_config's).
    assert _unknown_keys(data, _field_names(ServeDeploySchema), "") == []
    assert _unknown_keys(data["http_options"], _field_names(HTTPOptionsSchema), "http_options") == []
    assert _unknown_keys(data["applications"][0], _field_names(ServeApplicationSchema), "applications[0]") == []
    assert schema.http_options.host == "127.0.0.1"
    (app,) = schema.applications
    assert app.import_path == "ray_eval.canary.serve_app:build_app" and app.route_prefix == "/canary"
    assert (REPO / app.args["config"]).is_file()
    with pytest.raises(ConfigError, match="args"):
        build_app({})


def test_the_scripted_stand_in_is_refused_by_the_serve_app(tmp_path, probe_manifest):
    from ray_eval.canary.serve_app import build_app

    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump({"probes": {"path": str(probe_manifest)}, "engine": {"kind": "scripted"}}))
    assert load_canary_config(path).engine.kind == "scripted"  # `ray-eval canary` starts it
    with pytest.raises(ConfigError, match="engine.kind scripted: .* not by the canary's Serve app"):
        build_app({"config": str(path)})


# ---- one round on its own (--once) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("answered", "passed", "exit_code"), [(8, 8, 0), (8, 6, 0), (8, 5, 1), (7, 7, 3), (7, 2, 3)])
def test_a_round_is_healthy_when_answered_and_not_surely_below_target(answered, passed, exit_code):
    verdict = RoundVerdict(probes=8, answered=answered, passed=passed, target_pass_ratio=0.9)
    assert verdict.exit_code == exit_code and verdict.healthy is (exit_code == 0)
    line = verdict.line()
    assert line.startswith(f"canary: {'healthy' if exit_code == 0 else 'unhealthy'}, {answered}/8 probes answered, "
                           f"pass rate {passed / 8:.1%}")
    assert line == line.splitlines()[0], "one line"
    if exit_code == 3:
        assert line.endswith(f": {8 - answered} probe(s) got no answer from the endpoint")
    if exit_code == 1:
        assert line.endswith(f"below the target 90% (Wilson upper bound {wilson_interval(passed, 8)[1]:.1%})")
    health = verdict.health()
    assert health["status"] == ("ok" if exit_code == 0 else "unhealthy") and ("reason" in health) is (exit_code != 0)


# ---- the probe pool ------------------------------------------------------------------------------------------------


def test_the_pool_holds_the_critical_probes_with_their_images(probe_manifest):
    pool = load_probes(canary_config(probe_manifest, "http://127.0.0.1:9/v1"))
    expected = [f"mcq-{i}" for i in range(5)] + ["format-1", "open-1", "open-nolabel"]
    assert [probe.id for probe in pool.probes] == expected
    assert all(probe.media_parts == 1 for probe in pool.probes)
    assert {probe.category for probe in pool.probes} == {"Fine-grained Single-instance", "Hygiene Compliance", "(none)"}
    everything = load_probes(canary_config(probe_manifest, "http://127.0.0.1:9/v1", "probes.critical_only=false",
                                           "probes.limit=9"))
    assert len(everything.probes) == 9 and everything.probes[-1].id == "not-critical"


def test_a_pool_without_probes_or_with_bad_rows_is_refused(tmp_path, probe_manifest):
    from tests.conftest import mcq_row, write_jsonl

    none_critical = write_jsonl(tmp_path / "plain.jsonl", [mcq_row("x", image="media/a.jpg")])
    with pytest.raises(DatasetError, match="no usable critical samples"):
        load_probes(canary_config(none_critical, "http://127.0.0.1:9/v1"))
    bad = write_jsonl(tmp_path / "bad.jsonl", [mcq_row("y", answer="Z", critical=True)])
    with pytest.raises(DatasetError, match="bad row"):
        load_probes(canary_config(bad, "http://127.0.0.1:9/v1"))


# ---- the reference page --------------------------------------------------------------------------------------------


def test_every_canary_field_is_described_and_the_reference_page_is_current():
    from ray_eval.canary.docs import BEGIN, END, PAGE, canary_config_reference

    reference = canary_config_reference()
    rows = [line for line in reference.splitlines() if line.startswith("| `")]
    assert len(rows) > 40 and all(not line.rstrip().endswith("|  |") for line in rows), "a field without description"
    for key in ("probes.per_round", "window", "min_window_probes", "stale_after_intervals", "server.host"):
        assert f"| `{key}` |" in reference
    readme = (REPO / PAGE).read_text(encoding="utf-8")
    if BEGIN not in readme:
        pytest.skip(f"{PAGE} has no canary reference section yet")
    assert readme[readme.index(BEGIN): readme.index(END) + len(END)] == reference, \
        f"run: python -m ray_eval.canary.docs --write (it rewrites {PAGE})"


def test_an_engine_failing_oddly_is_that_probes_error_with_the_key_redacted(probe_manifest):
    import asyncio

    from ray_eval.canary import Canary

    secret = "sk-unit-0d7c"

    class Broken:
        async def chat(self, request):
            if request.sample_id == "mcq-0":
                raise RuntimeError(f"client bug near {secret}")
            return type("Answer", (), {"text": "Answer: A", "latency_s": 0.01})()

        async def aclose(self):
            pass

    config = canary_config(probe_manifest, "http://127.0.0.1:9/v1", "engine.api_key_env=KEY")
    canary = Canary(config, engine=Broken(), environ={"KEY": secret})
    results = {item.probe_id: item for item in asyncio.run(canary.run_round())}
    assert results["mcq-0"].result == "error" and results["mcq-0"].error_type == "RuntimeError"
    assert results["mcq-0"].error == "RuntimeError: client bug near [redacted]"
    assert results["mcq-0"].answered is False and results["mcq-4"].answered is True
    assert results["mcq-4"].result == "passed" and results["mcq-1"].result == "failed"  # mcq-4's answer is A
    assert canary.state()["errors"] == {"RuntimeError": 1} and secret not in repr(canary.state())
