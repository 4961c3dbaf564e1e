"""API keys and URL credentials reach the endpoint and nothing else: not a file of the run directory (parquet read
both as bytes and as decoded values), not the metrics (node_exporter textfile, a real Pushgateway), not the logs
(the driver's log records at DEBUG, its stdout/stderr, the Ray session's log files), not summary.json's config.

The endpoint is a ScriptedOpenAIServer that answers 401 unless the request carries the right bearer key, so a run
that passes proves the key was sent; one server echoes the Authorization header back in its error body, as a
misconfigured proxy does. The last test has the engine and the judge echo their keys everywhere a server can (an HTML
error page, answers, URLs, base64, keys cut short) and searches for any 8 characters in a row of them (FRAGMENT in
tests/security/leaks.py, the contract of docs/concepts/nothing-lost.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow.parquet as pq
import pytest
import yaml

from ray_eval.cli import main
from ray_eval.testing import ChatRequestInfo, Reply, ScriptedOpenAIServer, constant
from ray_eval.testing.prometheus import PushgatewayServer
from tests.conftest import jpeg_bytes, mcq_row, write_jsonl
from tests.security.leaks import b64, html_error_page, leaks, leaks_in_files, new_key, recorded_logs

pytestmark = pytest.mark.ray

KEY_ENV = "RAY_EVAL_SECURITY_TEST_KEY"
def new_secret() -> str:
    return f"sk-test-{uuid.uuid4().hex}"


def key_checking(secret: str) -> Any:
    """A policy answering only requests with `Authorization: Bearer <secret>` (the right MCQ letter), 401 otherwise."""
    def policy(info: ChatRequestInfo) -> Reply:
        if info.header("authorization") != f"Bearer {secret}":
            return Reply.status(401, message="missing or wrong API key")
        return Reply.text("Answer: B")
    return policy


def echoing(info: ChatRequestInfo) -> Reply:
    """A proxy that quotes the credentials it refused back in its error message."""
    return Reply.status(401, message=f"invalid credentials: Authorization: {info.header('authorization')}")


def dataset(root: Path, n: int = 6, open_question: bool = False) -> Path:
    (root / "media").mkdir(parents=True, exist_ok=True)
    (root / "media" / "a.jpg").write_bytes(jpeg_bytes())
    rows = [mcq_row(f"s{i}") for i in range(n)]
    if open_question:
        rows.append({"id": "open-1", "subset": "Kitchen", "format": "open", "question": "Who wears a hat?",
                     "answer": "two staff", "media": [{"type": "image", "path": "media/a.jpg"}]})
    return write_jsonl(root / "manifest.jsonl", rows)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def decoded_parquet(path: Path) -> str:
    """Every value of a parquet file as text (its pages may be compressed, so the raw bytes alone prove little)."""
    return json.dumps(pq.read_table(path).to_pylist(), default=repr, ensure_ascii=False)


def files_holding(root: Path, secret: str) -> list[str]:
    """The files under `root` whose bytes, or decoded parquet values, contain `secret`."""
    needle = secret.encode()
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if needle in data or (path.suffix == ".parquet" and secret in decoded_parquet(path)):
            found.append(str(path.relative_to(root)))
    return found


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def ray_logs(local_ray, tmp_path_factory) -> list[Path]:
    """The local Ray sessions' log folders (workers' stdout/stderr, raylet, GCS), where a worker's leak would land."""
    folders = sorted(tmp_path_factory.getbasetemp().glob("ray*/session_*/logs"))
    assert folders, "the local Ray session's log folder was not found"
    return folders


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory) -> Iterator[PushgatewayServer]:
    with PushgatewayServer(tmp_path_factory.mktemp("pushgateway")) as gateway:
        yield gateway


def assert_nowhere(secret: str, *, out_dir: Path, texts: dict[str, str], ray_logs: list[Path]) -> None:
    assert files_holding(out_dir, secret) == [], "the secret was written to these run files"
    for name, text in texts.items():
        assert secret not in text, f"the secret is in {name}"
    for folder in ray_logs:
        assert files_holding(folder, secret) == [], "the secret is in the Ray session's logs"


@pytest.mark.parametrize("source", ["env", "file"])
def test_api_key_is_sent_and_never_written(source: str, local_ray, ray_logs: list[Path],
                                           pushgateway: PushgatewayServer, tmp_path: Path, monkeypatch,
                                           capfd) -> None:
    secret = new_secret()
    manifest = dataset(tmp_path / "data")
    out_dir, textfile = tmp_path / "runs", tmp_path / "textfile" / "rayeval.prom"
    textfile.parent.mkdir()
    if source == "env":
        monkeypatch.setenv(KEY_ENV, secret)
        key_config: dict[str, Any] = {"api_key_env": KEY_ENV}
    else:
        key_file = tmp_path / "secrets" / "api-key"  # a mounted secret: outside the run directory
        key_file.parent.mkdir()
        key_file.write_text(secret + "\n", encoding="utf-8")
        key_config = {"api_key_file": str(key_file)}
    with ScriptedOpenAIServer(default=key_checking(secret), model="shop-vl") as server, recorded_logs() as logs:
        config = write_config(tmp_path / "eval.yaml", {
            "dataset": {"path": str(manifest)},
            "engine": {"kind": "openai", "base_url": server.base_url, "model": "shop-vl", "max_retries": 0,
                       **key_config},
            "run": {"out_dir": str(out_dir), "run_id": f"key-{source}"},
            "gate": {"max_error_rate": 0.0},
            "metrics": {"textfile": str(textfile), "pushgateway_url": pushgateway.url, "push_interval_s": 0,
                        "environment": f"security-{source}"},
        })
        exit_code = main(["run", "-c", str(config)])
        requests = server.requests
    captured = capfd.readouterr()

    # The key really went out, in the Authorization header of every request, and only there: every sample passed.
    assert exit_code == 0, captured.err[-3000:]
    assert len(requests) == 6 and {info.header("authorization") for info in requests} == {f"Bearer {secret}"}
    assert all(secret not in json.dumps(info.body) for info in requests)
    run_dir = out_dir / f"key-{source}"
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["counts"]["passed"] == 6 and summary["metrics"]["errors"] == []
    # The config records where the key comes from, never the key.
    engine = summary["config"]["engine"]
    if source == "env":
        assert engine["api_key_env"] == KEY_ENV and engine["api_key_file"] is None
    else:
        assert engine["api_key_file"] == key_config["api_key_file"] and engine["api_key_env"] is None
    assert {"report.html", "summary.md", "junit.xml", "results.parquet", "run.json"} <= set(files_under(run_dir))

    gateway_text = pushgateway.metrics_text()
    assert f'environment="security-{source}"' in gateway_text  # the run's metrics were pushed
    assert "rayeval_run_info" in textfile.read_text(encoding="utf-8")
    assert any("ray_eval" in line for line in logs.lines)  # the recorder saw the run's own log records
    assert_nowhere(secret, out_dir=out_dir, ray_logs=ray_logs, texts={
        "the textfile": textfile.read_text(encoding="utf-8"), "the Pushgateway's /metrics": gateway_text,
        "stdout": captured.out, "stderr": captured.err, "the log records": "\n".join(logs.lines)})


def test_api_key_echoed_by_the_server_is_not_written(local_ray, ray_logs: list[Path], tmp_path: Path, monkeypatch,
                                                      capfd) -> None:
    secret = new_secret()
    monkeypatch.setenv(KEY_ENV, secret)
    manifest = dataset(tmp_path / "data")
    out_dir = tmp_path / "runs"
    checked = key_checking(secret)

    def policy(info: ChatRequestInfo) -> Reply:  # sample s0 meets the echoing proxy; the others are answered
        return echoing(info) if info.sample_id == "s0" else checked(info)

    with ScriptedOpenAIServer(default=policy, model="shop-vl") as server, recorded_logs() as logs:
        config = write_config(tmp_path / "eval.yaml", {
            "dataset": {"path": str(manifest)},
            "engine": {"kind": "openai", "base_url": server.base_url, "model": "shop-vl", "max_retries": 0,
                       "api_key_env": KEY_ENV},
            "run": {"out_dir": str(out_dir), "run_id": "echo"},
        })
        main(["run", "-c", str(config)])
        refused = [info for info in server.requests if info.sample_id == "s0"]
    captured = capfd.readouterr()
    # The echo really happened: the refused request carried the key, and its error row exists.
    assert refused and refused[0].header("authorization") == f"Bearer {secret}"
    results = pq.read_table(out_dir / "echo" / "results.parquet").to_pandas().set_index("sample_id")
    assert results.loc["s0", "status"] == "error" and "401" in results.loc["s0", "error"]
    assert_nowhere(secret, out_dir=out_dir, ray_logs=ray_logs, texts={
        "stdout": captured.out, "stderr": captured.err, "the log records": "\n".join(logs.lines)})


# ---- credentials in a base URL ---------------------------------------------------------------------------------


@dataclass
class UrlCredentialRun:
    out_dir: Path
    exit_code: int
    passwords: tuple[str, str]
    engine_auth: set[str | None]
    judge_auth: set[str | None]
    logs: list[str]


@pytest.fixture(scope="module")
def url_credential_run(local_ray, tmp_path_factory) -> UrlCredentialRun:
    """A run whose engine and judge URLs carry user:password@ credentials (HTTP basic auth)."""
    root = tmp_path_factory.mktemp("url-credentials")
    manifest = dataset(root / "data", n=3, open_question=True)
    engine_password, judge_password = f"pw-engine-{uuid.uuid4().hex}", f"pw-judge-{uuid.uuid4().hex}"
    verdict = json.dumps({"grade": 2, "reason": "matches the reference"})
    with ScriptedOpenAIServer(default=constant("Answer: B"), script={"open-1": [Reply.text("two staff")]},
                              model="shop-vl") as engine, \
            ScriptedOpenAIServer(default=constant(verdict), model="judge-vl") as judge, recorded_logs() as logs:
        def with_credentials(url: str, user: str, password: str) -> str:
            return url.replace("http://", f"http://{user}:{password}@", 1)

        config = write_config(root / "eval.yaml", {
            "dataset": {"path": str(manifest)},
            "engine": {"kind": "openai", "model": "shop-vl", "max_retries": 0,
                       "base_url": with_credentials(engine.base_url, "evaluser", engine_password)},
            "scoring": {"scorers": {"open": "judge"}, "judge": {"engine": {
                "kind": "openai", "model": "judge-vl", "max_retries": 0,
                "base_url": with_credentials(judge.base_url, "judgeuser", judge_password)}}},
            "run": {"out_dir": str(root / "runs"), "run_id": "url-credentials"},
        })
        exit_code = main(["run", "-c", str(config)])
        engine_auth = {info.header("authorization") for info in engine.requests}
        judge_auth = {info.header("authorization") for info in judge.requests}
    return UrlCredentialRun(root / "runs", exit_code, (engine_password, judge_password), engine_auth, judge_auth,
                            logs.lines)


def test_url_credentials_are_used_but_not_written(url_credential_run: UrlCredentialRun, ray_logs: list[Path]) -> None:
    import base64

    run = url_credential_run
    assert run.exit_code == 0
    engine_password, judge_password = run.passwords
    # Not vacuous: both endpoints really got the URL's credentials (as basic auth).
    assert run.engine_auth == {"Basic " + base64.b64encode(f"evaluser:{engine_password}".encode()).decode()}
    assert run.judge_auth == {"Basic " + base64.b64encode(f"judgeuser:{judge_password}".encode()).decode()}
    run_dir = run.out_dir / "url-credentials"
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["engine"]["base_url"].startswith("http://127.0.0.1:")
    assert summary["config"]["engine"]["base_url"].startswith("http://127.0.0.1:")
    assert summary["config"]["scoring"]["judge"]["engine"]["base_url"].startswith("http://127.0.0.1:")
    assert "127.0.0.1" in (run_dir / "report.html").read_text(encoding="utf-8")  # the report names the engine
    for password in run.passwords:
        assert files_holding(run.out_dir, password) == [], "a URL password was written to these run files"
        assert all(files_holding(folder, password) == [] for folder in ray_logs)


def test_url_credentials_are_not_logged(url_credential_run: UrlCredentialRun) -> None:
    logged = "\n".join(url_credential_run.logs)
    assert "/models" in logged or "ray_eval" in logged
    for password in url_credential_run.passwords:
        assert password not in logged


# ---- a key the servers echo: in an HTML error page, in answers, in URLs and base64 ------------------------------
# Each key (the engine's and the judge's) is given by env, by file or in the base URL's user:password part. The
# engine echoes it across the 200th character of an HTML 500 page (where error text used to be cut before the key
# was removed), cut short at the end or the start of an error message, whole in an answer, and inside a URL and
# base64 in another; the judge echoes its own key in a verdict's reason and in an HTML 500 page. No FRAGMENT
# characters in a row of either key may reach a file of the run directory (parquet cells included), the console,
# the log records, the metrics or Ray's logs.

USERS = ("evaluser", "judgeuser")  # the user names of the URL credentials (their basic-auth headers are searched)


def echo_in_url_and_base64(secret: str) -> str:
    return (f"Answer: B. Fetched https://evaluser:{quote(secret, safe='')}@proxy.example/v1?api_key="
            f"{quote(secret, safe='')} with Basic {b64('evaluser:' + secret)}; token {b64(secret)}")


def authorized(expected: str, replies: dict[str, Reply], default: Reply) -> Any:
    """A policy that answers 401 unless the request carries the expected Authorization header (so a run that is
    answered proves the key was sent), then each sample's scripted reply."""
    def policy(info: ChatRequestInfo) -> Reply:
        if info.header("authorization") != expected:
            return Reply.status(401, message="missing or wrong credentials")
        return replies.get(info.sample_id or "", default)
    return policy


@dataclass
class KeyedEndpoint:
    """One endpoint's key and how the config gives it: an environment variable, a secret file, or the base URL's
    user:password part (then the endpoint receives it as basic auth)."""

    secret: str
    source: str
    user: str
    key_config: dict[str, Any]

    def config(self, base_url: str) -> dict[str, Any]:
        if self.source == "url":
            base_url = base_url.replace("http://", f"http://{self.user}:{quote(self.secret, safe='')}@", 1)
        return {"base_url": base_url, **self.key_config}

    @property
    def authorization(self) -> str:
        return "Basic " + b64(f"{self.user}:{self.secret}") if self.source == "url" else f"Bearer {self.secret}"


def keyed(source: str, user: str, tmp_path: Path, monkeypatch) -> KeyedEndpoint:
    secret = new_key()
    if source == "env":
        variable = f"RAY_EVAL_SECURITY_{user.upper()}_KEY"
        monkeypatch.setenv(variable, secret)
        return KeyedEndpoint(secret, source, user, {"api_key_env": variable})
    if source == "file":
        key_file = tmp_path / "secrets" / user  # a mounted secret: outside the run directory
        key_file.parent.mkdir(exist_ok=True)
        key_file.write_text(secret + "\n", encoding="utf-8")
        return KeyedEndpoint(secret, source, user, {"api_key_file": str(key_file)})
    return KeyedEndpoint(secret, source, user, {})


@pytest.mark.parametrize("source", ["env", "file", "url"])
def test_no_part_of_an_echoed_key_is_written(source: str, local_ray, ray_logs: list[Path],
                                             pushgateway: PushgatewayServer, tmp_path: Path, monkeypatch,
                                             capfd) -> None:
    engine, judge = (keyed(source, user, tmp_path, monkeypatch) for user in USERS)
    key = engine.secret
    engine_policy = authorized(engine.authorization, {
        "s0": Reply.status(500, body=html_error_page(key), content_type="text/html"),
        "s1": Reply.text(f"Answer: B. (debug: the key you sent is {key})"),
        "s2": Reply.text(echo_in_url_and_base64(key)),
        "s3": Reply.status(401, message=f"invalid API key {key[:14]}"),  # the server cut it short
        "s4": Reply.status(401, message=f"{key[-14:]} is not a valid key"),
        # Different answers: the judge's cache would otherwise answer open-2 with open-1's verdict.
        "open-1": Reply.text("two staff"), "open-2": Reply.text("two staff wear hats"),
    }, Reply.text("Answer: B"))
    judge_policy = authorized(judge.authorization, {
        "open-1": Reply.text(json.dumps({"grade": 2, "reason": f"matches; judge key {judge.secret}"})),
        "open-2": Reply.status(500, body=html_error_page(judge.secret), content_type="text/html"),
    }, Reply.text("{}"))
    manifest = dataset(tmp_path / "data", n=7)
    write_jsonl(manifest, [*map(json.loads, manifest.read_text(encoding="utf-8").splitlines()), *(
        {"id": f"open-{i}", "subset": "Kitchen", "format": "open", "question": "Who wears a hat?",
         "answer": "two staff", "media": [{"type": "image", "path": "media/a.jpg"}]} for i in (1, 2))])
    out_dir, textfile = tmp_path / "runs", tmp_path / "textfile" / "rayeval.prom"
    textfile.parent.mkdir()
    with ScriptedOpenAIServer(default=engine_policy, model="shop-vl") as engine_server, \
            ScriptedOpenAIServer(default=judge_policy, model="judge-vl") as judge_server, recorded_logs() as logs:
        config = write_config(tmp_path / "eval.yaml", {
            "dataset": {"path": str(manifest)},
            "engine": {"kind": "openai", "model": "shop-vl", "max_retries": 0, **engine.config(engine_server.base_url)},
            "scoring": {"scorers": {"open": "judge"}, "judge": {"engine": {
                "kind": "openai", "model": "judge-vl", "max_retries": 0, **judge.config(judge_server.base_url)}}},
            "run": {"out_dir": str(out_dir), "run_id": f"echo-{source}", "abort_after_consecutive_failures": 100,
                    "max_engine_error_rate": 1.0},
            "metrics": {"textfile": str(textfile), "pushgateway_url": pushgateway.url, "push_interval_s": 0,
                        "environment": f"echo-{source}"},
        })
        main(["run", "-c", str(config)])
        engine_auth = {info.header("authorization") for info in engine_server.requests}
        judge_auth = {info.header("authorization") for info in judge_server.requests}
    captured = capfd.readouterr()

    # Not vacuous: both keys were sent, and every echo reached the run as a row.
    assert engine_auth == {engine.authorization} and judge_auth == {judge.authorization}
    results = pq.read_table(out_dir / f"echo-{source}" / "results.parquet").to_pandas().set_index("sample_id")
    assert len(results) == 9, captured.err[-3000:]
    row = results.loc["s0"]
    assert row["status"] == "error" and row["error"].startswith("HTTP 500: <html><head><title>500 Internal")
    assert "Authorization: Bearer [redacted]" in row["error"]
    assert results.loc["s1", "response"] == "Answer: B. (debug: the key you sent is [redacted])"
    assert results.loc["s1", "passed"], "the redacted answer is still scored"
    # A basic-auth header of the URL's own credentials goes whole; of a user and the API key, the key's characters.
    basic = "[redacted]" if source == "url" else f"{b64('evaluser:')}[redacted]"
    assert results.loc["s2", "response"] == ("Answer: B. Fetched https://evaluser:[redacted]@proxy.example/v1?api_key="
                                             f"[redacted] with Basic {basic}; token [redacted]")
    assert results.loc["s3", "error"] == "HTTP 401: invalid API key [redacted]"
    assert results.loc["s4", "error"] == "HTTP 401: [redacted] is not a valid key"
    assert results.loc["s5", "response"] == "Answer: B" and results.loc["s5", "passed"]
    assert json.loads(results.loc["open-1", "score_details"])["reason"] == "matches; judge key [redacted]"
    assert results.loc["open-2", "error_stage"] == "judge" and "Bearer [redacted]" in results.loc["open-2", "error"]

    for report in ("junit.xml", "report.html"):  # the reports show those rows: redacted, not left out
        assert "[redacted]" in (out_dir / f"echo-{source}" / report).read_text(encoding="utf-8")

    texts = {"stdout": captured.out, "stderr": captured.err, "the log records": "\n".join(logs.lines),
             "the textfile": textfile.read_text(encoding="utf-8"),
             "the Pushgateway's /metrics": pushgateway.metrics_text()}
    assert f'environment="echo-{source}"' in texts["the Pushgateway's /metrics"]
    for secret in (engine.secret, judge.secret):
        assert leaks_in_files(out_dir, secret, USERS) == {}, "a part of the key was written to these run files"
        for name, text in texts.items():
            assert leaks(text, secret, USERS) == [], f"a part of the key is in {name}"
        for folder in ray_logs:
            assert leaks_in_files(folder, secret, USERS) == {}, "a part of the key is in the Ray session's logs"
