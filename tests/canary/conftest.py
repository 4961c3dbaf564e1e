"""A small critical probe pool on disk, a canary config pointed at a scripted server, and the canary served over
real HTTP (uvicorn on a free 127.0.0.1 port, in a thread the fixture stops)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from ray_eval.canary import Canary, CanaryConfig, create_app, load_canary_config
from ray_eval.canary.http import listen_socket
from ray_eval.testing.prometheus import free_port, wait_until
from tests.conftest import jpeg_bytes, mcq_row, write_jsonl

HYGIENE = {"l1": "Perception", "l2": "Hygiene Compliance", "l3": "Attribute Recognition", "l4": "Hygiene Attribute"}


def probe_rows() -> list[dict[str, Any]]:
    """Eight critical probes over two categories and all three formats, and one sample that is not critical."""
    rows = [mcq_row(f"mcq-{i}", answer="ABCD"[i % 4], critical=True) for i in range(5)]
    rows.append({"id": "format-1", "subset": "Kitchen", "format": "format", "question": "Report the kitchen state.",
                 "answer": {"bin_open": False, "staff": 2}, "media": [{"type": "image", "path": "media/b.jpg"}],
                 "labels": HYGIENE, "critical": True})
    rows.append({"id": "open-1", "subset": "Kitchen", "format": "open", "question": "What do the staff wear?",
                 "answer": "white hats and blue gloves", "media": [{"type": "image", "path": "media/b.jpg"}],
                 "labels": HYGIENE, "critical": True})
    rows.append({"id": "open-nolabel", "subset": "Kitchen", "format": "open", "question": "Is the bin open?",
                 "answer": "the bin is closed", "media": [{"type": "image", "path": "media/b.jpg"}], "critical": True})
    rows.append(mcq_row("not-critical", answer="A"))
    return rows


def correct_reply(row: dict[str, Any]) -> str:
    if row["format"] == "format":
        return "```json\n" + json.dumps(row["answer"]) + "\n```"
    return row["answer"] if row["format"] == "open" else f"Answer: {row['answer']}"


@pytest.fixture
def probe_manifest(tmp_path: Path) -> Path:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.jpg").write_bytes(jpeg_bytes("red"))
    (tmp_path / "media" / "b.jpg").write_bytes(jpeg_bytes("white", (96, 64)))
    return write_jsonl(tmp_path / "probes.jsonl", probe_rows())


def canary_config(manifest: Path, base_url: str, *overrides: str) -> CanaryConfig:
    return load_canary_config(None, [
        f"probes.path={manifest}", "probes.per_round=8", "engine.kind=openai", f"engine.base_url={base_url}",
        "engine.model=scripted-model", "engine.max_retries=0", "request_timeout_s=5", "preprocess.max_pixels=20000",
        "sampling.max_tokens=64", *overrides,
    ])


@contextlib.contextmanager
def serving(canary: Canary) -> Iterator[str]:
    """The plain-process app (lifespan and all) on a free 127.0.0.1 port; yields its base URL."""
    port = free_port()
    sock = listen_socket("127.0.0.1", port)
    server = uvicorn.Server(uvicorn.Config(create_app(canary), log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="canary-uvicorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 20, "the canary's server to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        assert not thread.is_alive(), "the canary's server did not stop"


def get_state(base_url: str) -> dict[str, Any]:
    response = httpx.get(f"{base_url}/state", timeout=5)
    response.raise_for_status()
    return response.json()


GUARD = "guard-ocr"  # the second suite of the two-suite canary: the generated OCR guard, scored OCRBench's way


@pytest.fixture
def guard_tsv(tmp_path: Path) -> Path:
    """`ray-eval dataset guard --out DIR --n 6`: six OCR questions (and the other guards) as VLMEvalKit TSV."""
    from ray_eval.cli import main

    assert main(["dataset", "guard", "--out", str(tmp_path / "guard"), "--n", "6"]) == 0
    return tmp_path / "guard" / "guard-ocr.tsv"


def two_suite_config(tmp_path: Path, manifest: Path, guard: Path, engine: dict[str, Any], **top: Any) -> Path:
    """A canary of two suites, ShopBench's 8 critical probes and the OCR guard's 6 questions (its own scorer), all 14
    probes in one round unless `top` says otherwise."""
    path = tmp_path / "canary-suites.yaml"
    path.write_text(json.dumps({
        "suites": [
            {"name": "shopbench", "probes": {"path": str(manifest)}},
            {"name": GUARD, "probes": {"path": str(guard), "critical_only": False},
             "scoring": {"scorers": {"open": "ocr_contains_any"}}},
        ],
        "probes": {"per_round": 14}, "request_timeout_s": 5, "preprocess": {"max_pixels": 20000},
        "sampling": {"max_tokens": 64}, "engine": engine, **top,
    }), encoding="utf-8")
    return path


def openai_engine(base_url: str) -> dict[str, Any]:
    return {"kind": "openai", "base_url": base_url, "model": "scripted-model", "max_retries": 0}
