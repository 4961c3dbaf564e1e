"""The monitoring files (monitoring/) stay valid and true to the metric names: promtool checks the alert rules and runs
their unit tests, the rules and the Grafana dashboard use only metrics ray-eval exports (ray_eval/metrics/names.py),
and the rules load unchanged as a Prometheus Operator PrometheusRule's spec.

promtool is required, not optional: `make install-monitoring` installs it, and without it these tests fail."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ray_eval.metrics import names
from tests.markdown import markdown_anchors

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
RULES = MONITORING / "prometheus" / "ray-eval-rules.yaml"
RULE_TESTS = MONITORING / "prometheus" / "ray-eval-rules.test.yaml"
DASHBOARD = MONITORING / "grafana" / "ray-eval-dashboard.json"
MONITORING_README = MONITORING / "README.md"
PROMTOOL_FALLBACK = Path("/usr/bin/promtool")

GROUPS = {"ray-eval-run", "ray-eval-canary"}
ALERTS = {"RayEvalGateFailed", "RayEvalScoreDropped", "RayEvalRunStale", "RayEvalCanaryPassRatioLow",
          "RayEvalCanaryLatencyHigh", "RayEvalCanaryErrors", "RayEvalCanarySilent"}
SEVERITIES = {"critical", "warning"}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# PromQL: string literals (their content is never a metric name), and identifiers (names, functions, keywords).
PROMQL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
PROMQL_IDENTIFIER = re.compile(r"(?<![\w:$.])[A-Za-z_:][\w:]*")
# A metric name anywhere in text (annotations, descriptions): `rayeval_` and at least one more name character.
NAME_IN_TEXT = re.compile(r"(?<![\w:])rayeval_[a-z0-9_]*[a-z0-9]")


# ---- helpers ---------------------------------------------------------------------------------------------------------

def promtool() -> str:
    """promtool's path; a test failure (not a skip) where it is missing."""
    path = shutil.which("promtool") or (str(PROMTOOL_FALLBACK) if PROMTOOL_FALLBACK.exists() else None)
    if path is None:
        pytest.fail("promtool is not installed: `make install-monitoring` installs it (Debian's prometheus "
                    "package); CI runs that before the tests", pytrace=False)
    return path


def run_promtool(*arguments: str) -> str:
    completed = subprocess.run([promtool(), *arguments], capture_output=True, text=True, timeout=120)
    output = f"{completed.stdout}\n{completed.stderr}"
    assert completed.returncode == 0, f"promtool {' '.join(arguments)} exited {completed.returncode}:\n{output}"
    return output


def load_rules() -> dict[str, Any]:
    return yaml.safe_load(RULES.read_text(encoding="utf-8"))


def all_rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in document["groups"] for rule in group["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in all_rules(load_rules()) if "alert" in rule]


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target, annotation and query variable."""
    queries = [(f"panel {panel['id']} ({panel['title']}) target {target['refId']}", target["expr"])
               for panel in dashboard_panels(dashboard) for target in panel.get("targets", [])]
    queries += [(f"annotation {item['name']}", item["expr"]) for item in dashboard["annotations"]["list"]
                if "expr" in item]
    queries += [(f"variable {variable['name']}", variable["query"]) for variable in dashboard["templating"]["list"]
                if variable["type"] == "query"]
    return queries


def exported_metrics() -> tuple[set[str], set[str]]:
    """(every metric name names.py exports, the histograms among them: those its comment calls a histogram)."""
    exported = {value for key, value in vars(names).items()
                if key.isupper() and isinstance(value, str) and value.startswith("rayeval_")}
    source = Path(names.__file__).read_text(encoding="utf-8")
    histograms = {match.group(1) for match in
                  re.finditer(r'^\w+ = "(rayeval_\w+)"\s*#\s*histogram\b', source, flags=re.MULTILINE)}
    assert {names.LATENCY, names.CANARY_LATENCY} <= histograms <= exported, histograms
    return exported, histograms


def names_in_promql(expr: str) -> set[str]:
    return {name for name in PROMQL_IDENTIFIER.findall(PROMQL_STRING.sub('""', expr)) if "rayeval" in name}


def unknown_names(used: set[str]) -> set[str]:
    """The names in `used` that are no exported metric, nor a histogram's _bucket/_count/_sum series."""
    exported, histograms = exported_metrics()

    def known(name: str) -> bool:
        return name in exported or any(name.endswith(suffix) and name[: -len(suffix)] in histograms
                                       for suffix in HISTOGRAM_SUFFIXES)

    return {name for name in used if not known(name)}


# ---- promtool --------------------------------------------------------------------------------------------------------

def test_promtool_missing_is_a_failure_not_a_skip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(globals(), "PROMTOOL_FALLBACK", tmp_path / "no-promtool")
    with pytest.raises(pytest.fail.Exception, match="promtool is not installed"):
        promtool()


def test_promtool_checks_the_rules() -> None:
    output = run_promtool("check", "rules", str(RULES))
    assert "SUCCESS" in output, output


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    output = run_promtool("test", "rules", str(RULE_TESTS))
    assert "SUCCESS" in output, output


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_must_not() -> None:
    suite = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    assert suite["rule_files"] == [RULES.name]
    fires, quiet = set(), set()
    for case in suite["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {rule["alert"] for rule in alert_rules()}
    assert alerts - fires == set(), "alerts without a case where they fire"
    assert alerts - quiet == set(), "alerts without a case where they must not fire"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each dashboard query, Grafana's variables filled in, as a recording rule that promtool parses."""
    filled = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d",
              "$model": "m", "$environment": "production", "$dataset": "d", "$suite": "shopbench|guard-ocr"}
    rules = []
    for index, (where, expr) in enumerate(dashboard_queries(load_dashboard())):
        if expr.startswith("label_values("):  # Grafana's function: its first argument is the series selector
            expr = re.fullmatch(r"label_values\((.*),\s*\w+\)", expr).group(1)
        for variable in sorted(filled, key=len, reverse=True):
            expr = expr.replace(variable, filled[variable])
        assert "$" not in expr, f"{where}: a Grafana variable this test does not fill in: {expr}"
        rules.append({"record": f"dashboard:query_{index}:check", "expr": expr})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    run_promtool("check", "rules", str(path))


# ---- the rules -------------------------------------------------------------------------------------------------------

def test_the_groups_and_alerts_are_the_documented_ones() -> None:
    document = load_rules()
    assert {group["name"] for group in document["groups"]} == GROUPS
    assert {rule["alert"] for rule in alert_rules()} == ALERTS
    readme_anchors = markdown_anchors(MONITORING_README)
    assert {alert.lower() for alert in ALERTS} <= readme_anchors, "every alert needs its runbook section"


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook() -> None:
    for rule in alert_rules():
        where = f"{rule['alert']} ({rule['expr'].strip()})"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, where
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            assert str(annotations.get(key, "")).strip(), f"{where}: no {key}"
        assert "$value" in annotations["summary"] + annotations["description"], f"{where}: quotes no value"
        if not rule["expr"].lstrip().startswith("absent("):  # absent()'s one series has no labels to quote
            text = annotations["summary"] + annotations["description"]
            quoted = {"model", "environment"} | ({"dataset"} if "rayeval_canary_" not in rule["expr"] else set())
            assert {label for label in quoted if f"$labels.{label}" not in text} == set(), f"{where}: labels"
        links = re.findall(r"([\w./-]+\.md)#([\w-]+)", annotations["runbook"])  # paths from the checkout's root
        assert ("monitoring/README.md", rule["alert"].lower()) in links, f"{where}: runbook {annotations['runbook']}"
        for file, anchor in links:
            page = ROOT / file
            assert page.is_file() and anchor in markdown_anchors(page), f"{where}: {file}#{anchor} is no section"


def test_the_canary_pass_ratio_alert_waits_for_evidence() -> None:
    (rule,) = [rule for rule in alert_rules() if rule["alert"] == "RayEvalCanaryPassRatioLow"]
    assert names.CANARY_WINDOW_UPPER in rule["expr"] and names.CANARY_WINDOW_PROBES in rule["expr"]
    assert re.search(r"<\s*0\.9\b", rule["expr"]) and re.search(r">=\s*20\b", rule["expr"]), rule["expr"]
    assert rule["for"] == "5m"


def test_the_rules_use_only_exported_metric_names() -> None:
    for rule in all_rules(load_rules()):
        where = rule.get("alert") or rule["record"]
        used = names_in_promql(rule["expr"])
        assert used, f"{where}: its expr names no rayeval_ metric"
        for text in rule.get("annotations", {}).values():
            used |= set(NAME_IN_TEXT.findall(text))
        assert unknown_names(used) == set(), f"{where}: names not in ray_eval/metrics/names.py"


def test_the_rules_load_as_a_prometheus_rule() -> None:
    document = load_rules()
    assert set(document) == {"groups"}, "the file must be exactly a PrometheusRule's spec: only `groups:`"
    manifest = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                "metadata": {"name": "ray-eval", "labels": {"app.kubernetes.io/name": "ray-eval"}},
                "spec": document}
    manifest = yaml.safe_load(yaml.safe_dump(manifest))  # what kubectl would read back
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1" and manifest["kind"] == "PrometheusRule"
    groups = manifest["spec"]["groups"]
    assert isinstance(groups, list) and groups
    for group in groups:
        assert set(group) <= {"name", "interval", "rules", "partial_response_strategy", "limit"}, group.keys()
        assert isinstance(group["name"], str) and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
            assert ("alert" in rule) != ("record" in rule), rule
            assert isinstance(rule["expr"], str) and rule["expr"].strip(), rule
            if "for" in rule:
                assert re.fullmatch(r"(\d+[smhdwy])+", rule["for"]), rule["for"]
            for key in ("labels", "annotations"):
                assert all(isinstance(value, str) for value in rule.get(key, {}).values()), (rule, key)
    # The README's one-liner: the file indented under `spec:` gives the same spec.
    text = ("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: ray-eval\nspec:\n"
            + "".join(f"  {line}" for line in RULES.read_text(encoding="utf-8").splitlines(keepends=True)))
    assert yaml.safe_load(text)["spec"] == document


# ---- the dashboard ---------------------------------------------------------------------------------------------------

def test_the_dashboard_is_grafana_json_with_its_variables() -> None:
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] >= 36 and dashboard["uid"] and dashboard["title"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in ("model", "environment"):
        variable = variables[name]
        assert variable["type"] == "query" and variable["datasource"] == DATASOURCE, variable
        assert re.fullmatch(rf"label_values\(.+,\s*{name}\)", variable["query"]), variable["query"]
    # Several suites in one run: the suite variable picks any of them, and every per-suite query matches it.
    suite = variables["suite"]
    assert suite["type"] == "query" and suite["multi"] and suite["includeAll"], suite
    assert re.fullmatch(r"label_values\(rayeval_score_ratio\{.*\},\s*suite\)", suite["query"]), suite["query"]


def test_every_per_suite_query_of_the_dashboard_selects_the_suite_variable() -> None:
    """Series of one suite's results (names.PER_SUITE) are queried by suite; the run's own are not."""
    per_suite = set(names.PER_SUITE) | {name.removesuffix("_total") for name in names.PER_SUITE}
    for where, expr in dashboard_queries(load_dashboard()):
        used = names_in_promql(expr)
        if where.startswith("variable"):
            continue  # the variables list the label values the panels select by
        if used & per_suite:
            assert 'suite=~"$suite"' in expr, f"{where}: a per-suite series not selected by suite: {expr}"
        else:
            assert "suite" not in expr, f"{where}: a run-wide series has no suite label: {expr}"


def test_every_panel_has_a_unique_id_and_the_datasource_variable() -> None:
    panels = dashboard_panels(load_dashboard())
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    for panel in panels:
        where = f"panel {panel['id']} ({panel.get('title')})"
        assert panel.get("datasource") == DATASOURCE, where
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, where
        if panel["type"] == "row":
            continue
        assert panel["targets"], where
        for target in panel["targets"]:
            assert target.get("datasource") == DATASOURCE, f"{where} target {target.get('refId')}"
            assert target["expr"].strip(), where


def test_the_dashboard_uses_only_exported_metric_names_and_shows_what_the_alerts_use() -> None:
    dashboard = load_dashboard()
    for where, expr in dashboard_queries(dashboard):
        if where.startswith("variable"):
            continue  # label_values({__name__=~"rayeval_.+"}, ...) names no single metric
        used = names_in_promql(expr)
        assert used, f"{where}: names no rayeval_ metric: {expr}"
        assert unknown_names(used) == set(), f"{where}: names not in ray_eval/metrics/names.py: {expr}"
    in_text = set(NAME_IN_TEXT.findall(DASHBOARD.read_text(encoding="utf-8")))
    assert unknown_names(in_text) == set()

    def base(name: str) -> str:
        return next((name[: -len(suffix)] for suffix in HISTOGRAM_SUFFIXES if name.endswith(suffix)), name)

    shown = {base(name) for name in in_text}
    alerted = {base(name) for rule in alert_rules() for name in names_in_promql(rule["expr"])}
    assert alerted - shown == set(), "metrics the alerts use but no panel shows"


def test_the_dashboard_has_no_external_links_or_images() -> None:
    dashboard = load_dashboard()
    text = DASHBOARD.read_text(encoding="utf-8")
    assert not re.search(r"https?://|//[\w.-]+\.[a-z]{2,}/|<img|data:image", text, flags=re.IGNORECASE)
    assert dashboard.get("links", []) == []
    assert all(not panel.get("links") for panel in dashboard_panels(dashboard))
