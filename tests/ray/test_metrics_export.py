"""Run metrics against real servers: Debian's Pushgateway and Prometheus on 127.0.0.1, the values read back through
Prometheus' HTTP API and compared with summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ray_eval.cli import main
from ray_eval.testing.prometheus import PrometheusServer, PushgatewayServer

pytestmark = pytest.mark.ray
RULES = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus" / "ray-eval-rules.yaml"


@pytest.fixture(scope="module")
def monitoring(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("monitoring")
    with PushgatewayServer(workdir / "pushgateway") as gateway, \
            PrometheusServer(workdir / "prometheus", {"pushgateway": [gateway.address]},
                             rule_files=[RULES]) as prometheus:
        yield gateway, prometheus


def write_config(tmp_path: Path, manifest: Path, name: str, gateway: PushgatewayServer, extra: str = "") -> Path:
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        f"dataset: {{path: {manifest}}}\n"
        "engine: {kind: scripted, accuracy: 1.0}\n"
        f"run: {{out_dir: {tmp_path / 'runs'}, run_id: {name}, model_label: candidate-7}}\n"
        "statistics: {bootstrap_resamples: 200}\n"
        f"metrics: {{pushgateway_url: '{gateway.url}', environment: ci, push_interval_s: 0}}\n" + extra,
        encoding="utf-8",
    )
    return config


def values(prometheus: PrometheusServer, expr: str, key: str) -> dict[str, float]:
    return {item["metric"].get(key, ""): item["value"] for item in prometheus.query(expr)}


def test_pushed_run_metrics_equal_the_summary_and_survive_the_next_run(local_ray, mixed_dataset, monitoring,
                                                                        tmp_path: Path) -> None:
    gateway, prometheus = monitoring
    manifest, rows = mixed_dataset
    assert main(["run", "-c", str(write_config(tmp_path, manifest, "good", gateway))]) == 0
    summary = json.loads((tmp_path / "runs" / "good" / "summary.json").read_text())
    assert summary["metrics"]["errors"] == [] and summary["metrics"]["pushes"] >= 1
    group = '{model="candidate-7",dataset="manifest",environment="ci",job="ray-eval"'
    run_id = prometheus.wait_for(f'rayeval_run_info{group}}}', lambda r: r and r[0]["metric"]["run_id"] == "good")
    assert run_id[0]["metric"]["config_fingerprint"] == summary["config_fingerprint"]

    scores = summary["suites"][0]["scores"]
    overall = values(prometheus, f'rayeval_score_ratio{group},dimension="overall"}}', "group")
    assert overall["overall"] == pytest.approx(scores["overall"]["score"] / 100)
    by_subset = values(prometheus, f'rayeval_score_ratio{group},dimension="subset"}}', "group")
    assert by_subset == pytest.approx({name: g["score"] / 100 for name, g in scores["by_subset"].items()})
    lower = values(prometheus, f'rayeval_score_ci_lower_ratio{group},dimension="format"}}', "group")
    assert lower == pytest.approx({name: g["score_ci"][0] / 100 for name, g in scores["by_format"].items()})
    samples = values(prometheus, f"rayeval_samples_total{group}}}", "status")
    assert samples == {"ok": summary["counts"]["results"] - summary["counts"]["errors"]} and samples["ok"] == len(rows)
    latency_count = prometheus.query(f"rayeval_inference_latency_seconds_count{group}}}")[0]["value"]
    assert latency_count == len(rows)
    tokens = values(prometheus, f"rayeval_tokens_total{group}}}", "kind")
    assert tokens == {"prompt": scores["tokens"]["prompt"], "completion": scores["tokens"]["completion"]}
    assert prometheus.query(f"rayeval_gate_passed{group}}}")[0]["value"] == 1
    assert prometheus.query(f"rayeval_run_in_progress{group}}}")[0]["value"] == 0
    first_success = prometheus.query(f"rayeval_last_success_timestamp_seconds{group}}}")[0]["value"]
    assert not prometheus.query(f"rayeval_previous_score_ratio{group}}}")  # the first run of this group

    # A worse run of the same group: the gate fails, the previous score is the first run's, and the time of the
    # last success stays the first run's.
    worse = write_config(tmp_path, manifest, "worse", gateway, "gate: {min_pass_rate: 0.99}\n").read_text()
    (tmp_path / "worse.yaml").write_text(worse.replace("accuracy: 1.0", "accuracy: 0.3"))
    assert main(["run", "-c", str(tmp_path / "worse.yaml")]) == 1
    worse_summary = json.loads((tmp_path / "runs" / "worse" / "summary.json").read_text())
    prometheus.wait_for(f"rayeval_gate_passed{group}}} == 0")
    previous = values(prometheus, f'rayeval_previous_score_ratio{group},dimension="overall"}}', "group")
    assert previous["overall"] == pytest.approx(scores["overall"]["score"] / 100)
    now = values(prometheus, f'rayeval_score_ratio{group},dimension="overall"}}', "group")
    assert now["overall"] == pytest.approx(worse_summary["suites"][0]["scores"]["overall"]["score"] / 100)
    assert prometheus.query(f"rayeval_last_success_timestamp_seconds{group}}}")[0]["value"] == first_success
    status = values(prometheus, f"rayeval_gate_status{group}}}", "status")
    assert status == {"passed": 0, "failed": 1, "undecided": 0, "incomplete": 0}
    checks = values(prometheus, f"rayeval_gate_check_passed{group}}}", "check")
    assert checks == {"overall pass rate": 0}
    # The shipped alert rules, loaded into this Prometheus, fire on it.
    firing = prometheus.wait_for('ALERTS{alertname="RayEvalGateFailed",alertstate="firing"}', timeout_s=60)
    assert firing[0]["metric"]["model"] == "candidate-7" and firing[0]["metric"]["environment"] == "ci"
