"""The simulated engine's latency (benchmarks/engine_process.py): fixed by default, or lognormal draws that depend
only on the seed and the order requests arrive in; its ideal time and when all its slots were first busy."""

from __future__ import annotations

import math
import statistics

import pytest

from benchmarks.engine_process import LOGNORMAL_8B_H100, EngineTimeline, Latency, main


def draws(latency: Latency, count: int) -> list[float]:
    rng = latency.generator()
    return [latency.draw(rng) for _ in range(count)]


def timeline(slots: int, taken_at: list[float], latencies: list[float]) -> EngineTimeline:
    return EngineTimeline(slots=slots, latency_s=latencies[0], taken_at=taken_at, latencies_s=latencies,
                          max_concurrent=slots, last_reply_at=None, cpu_s=0.0)


def test_fixed_latency_is_the_default_and_the_same_every_time():
    assert draws(Latency(0.2), 5) == [0.2] * 5
    assert Latency(0.2).args() == ["--latency-s", "0.2"]


def test_lognormal_draws_repeat_for_a_seed_and_differ_for_another():
    latency = Latency(1.2, sigma=0.5, seed=7)
    assert draws(latency, 50) == draws(latency, 50)
    assert draws(latency, 50) != draws(Latency(1.2, sigma=0.5, seed=8), 50)
    assert len(set(draws(latency, 50))) == 50


def test_lognormal_draws_have_the_stated_median_and_mean():
    sample = draws(LOGNORMAL_8B_H100, 20_000)
    assert statistics.median(sample) == pytest.approx(1.2, rel=0.03)
    assert statistics.mean(sample) == pytest.approx(LOGNORMAL_8B_H100.mean_s, rel=0.03)
    assert LOGNORMAL_8B_H100.mean_s == pytest.approx(1.2 * math.exp(0.125))


def test_ideal_is_the_work_over_the_slots_but_never_less_than_the_longest_request():
    assert timeline(2, [0, 0, 0, 0], [1.0, 2.0, 3.0, 2.0]).ideal_s == pytest.approx(4.0)
    assert timeline(8, [0, 0], [1.0, 5.0]).ideal_s == pytest.approx(5.0)


def test_all_slots_busy_counts_each_request_for_its_own_latency():
    # Two slots: the first request leaves at 0.5, before the second arrives; the third overlaps the second.
    assert timeline(2, [0.0, 1.0, 1.2], [0.5, 1.0, 1.0]).all_slots_busy_at() == 1.2
    assert timeline(2, [0.0, 1.0, 2.5], [0.5, 1.0, 1.0]).all_slots_busy_at() is None


@pytest.mark.parametrize("argv, message", [
    (["--slots", "4", "--ready-file", "r", "--timeline-file", "t"], "--latency-s is required"),
    (["--slots", "4", "--latency-dist", "lognormal", "--latency-median-s", "1", "--ready-file", "r",
      "--timeline-file", "t"], "--latency-median-s and --latency-sigma are required"),
])
def test_command_line_names_the_missing_latency_option(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
