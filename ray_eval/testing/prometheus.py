"""Real Prometheus and Pushgateway servers for tests: Debian's binaries, bound to 127.0.0.1 on free ports, with their
data in a folder of the caller's, stopped (by their own process ids) when the `with` block ends.

    with PushgatewayServer(tmp) as gateway, PrometheusServer(tmp, {"pushgateway": [gateway.address]}) as prom:
        ...push...
        prom.wait_for('rayeval_score_ratio{dimension="overall"}')

Waiting is polling with a deadline: the servers are other processes, and their readiness and scrapes are only
observable through their HTTP APIs.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

POLL_S = 0.2


class MonitoringBinaryMissing(RuntimeError):
    """A Prometheus binary is not installed (Debian: apt-get install prometheus prometheus-pushgateway)."""


def find_binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        raise MonitoringBinaryMissing(
            f"{name} is not installed: `make install` installs Debian's prometheus and prometheus-pushgateway")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (httpx.HTTPError, OSError) as exc:  # not up yet
            last_error, value = exc, None
        if value:
            return value
        time.sleep(POLL_S)
    raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s"
                       + (f" (last error: {last_error})" if last_error else ""))


class _Server:
    """A child process listening on 127.0.0.1:port, ready when GET /-/ready answers 200."""

    binary: str

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / f"{self.binary}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def __enter__(self):
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen([find_binary(self.binary), *self.arguments()], stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.workdir)
        try:
            wait_until(self._ready, 30, f"{self.binary} on {self.address} to be ready")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.binary} exited with {self.process.returncode}: "
                               f"{self.log_path.read_text()[-2000:]}")
        return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200

    def stop(self) -> None:
        """Stop the process this object started (by its id), and only that one."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class PushgatewayServer(_Server):
    binary = "prometheus-pushgateway"

    def arguments(self) -> list[str]:
        # Debian builds the gateway to persist to /var/lib/prometheus/pushgateway.data, shared by every instance:
        # an empty file name keeps this one's metrics in its memory only.
        return [f"--web.listen-address={self.address}", "--persistence.file=", "--log.level=warn"]

    def metrics_text(self) -> str:
        """What the gateway exposes, as Prometheus would scrape it."""
        response = httpx.get(f"{self.url}/metrics", timeout=5)
        response.raise_for_status()
        return response.text


class PrometheusServer(_Server):
    binary = "prometheus"

    def __init__(self, workdir: Path, targets: Mapping[str, Sequence[str]], scrape_interval_s: float = 1.0,
                 rule_files: Sequence[Path] = (), honor_labels: Sequence[str] = ("pushgateway",)):
        super().__init__(workdir)
        self.targets = {job: list(addresses) for job, addresses in targets.items()}
        self.scrape_interval_s = scrape_interval_s
        self.rule_files = [str(Path(path).resolve()) for path in rule_files]
        self.honor_labels = set(honor_labels)

    def arguments(self) -> list[str]:
        interval = f"{max(1, round(self.scrape_interval_s * 1000))}ms"
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": self.rule_files,
            "scrape_configs": [
                # A pushed group's own job/instance labels must survive the scrape: honor_labels, as Pushgateway's
                # documentation asks.
                {"job_name": job, "honor_labels": job in self.honor_labels, "static_configs": [{"targets": addresses}]}
                for job, addresses in self.targets.items()
            ],
        }
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return [f"--config.file={config_path}", f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address={self.address}", "--log.level=warn"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) of a PromQL expression: [{"metric": {...}, "value": float}]."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        response.raise_for_status()
        data = response.json()["data"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": float(data["result"][1])}]
        return [{"metric": item["metric"], "value": float(item["value"][1])} for item in data["result"]]

    def wait_for(self, expr: str, predicate: Callable[[list[dict[str, Any]]], bool] = bool,
                 timeout_s: float = 30) -> list[dict[str, Any]]:
        """Poll a query until its result satisfies `predicate` (default: not empty), and return that result."""
        def satisfied():
            result = self.query(expr)
            return result if predicate(result) else None

        return wait_until(satisfied, timeout_s, f"query {expr!r} to hold")

    def alerts(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/alerts", timeout=5)
        response.raise_for_status()
        return response.json()["data"]["alerts"]
