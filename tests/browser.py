"""Headless Chromium for the tests that check what report.html shows: started by the tests, driven over the DevTools
protocol on a pipe (no port, no extra package), ended by its own process id.

Chromium is Debian's package (`make install-monitoring`); a missing browser fails the test, never skips it.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest


def chromium_binary() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: `make install-monitoring` installs Debian's chromium, which the "
                    "report's browser tests need (they must not be skipped)")
    return path


def chromium_env() -> dict[str, str]:
    # No session bus in CI containers: without this, Chromium spends seconds timing out on D-Bus.
    return {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"}


def chromium_flags(profile: Path) -> list[str]:
    return ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", f"--user-data-dir={profile}"]




class DevTools:
    """A headless Chromium with `--remote-debugging-pipe`: commands go to its fd 3, answers come from its fd 4.
    Started with posix_spawn (the test process runs Ray's threads, where a preexec_fn is unsafe); every wait has a
    deadline; the browser is ended by its own process id. It starts on the first `open`, so a missing Chromium fails
    the test itself."""

    def __init__(self, profile: Path, stderr_path: Path, timeout_s: float = 30.0):
        self.profile, self.stderr_path, self.timeout_s = profile, stderr_path, timeout_s
        self.events: list[dict[str, Any]] = []
        self.pid: int | None = None
        self._next_id = 0
        self._buffer = b""

    def _start(self) -> None:
        binary = chromium_binary()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Park the child's ends above 3 and 4, so the dup2 onto 3 and 4 never overwrites one of them.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 32) for fd in (to_browser_r, from_browser_w)]
        os.close(to_browser_r)
        os.close(from_browser_w)
        log = os.open(self.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        argv = [binary, *chromium_flags(self.profile), "--remote-debugging-pipe", "--enable-logging=stderr", "--v=0",
                "about:blank"]
        try:
            self.pid = os.posix_spawn(binary, argv, chromium_env(), file_actions=[
                (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2),
                (os.POSIX_SPAWN_DUP2, high[0], 3), (os.POSIX_SPAWN_DUP2, high[1], 4)])
        finally:
            for fd in (*high, log, null):
                os.close(fd)

    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def wait_for(self, wanted, what: str) -> dict[str, Any]:
        """The first message `wanted` accepts; the others are kept in `events`."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if wanted(message):
                    return message
                self.events.append(message)
                if message.get("method") == "Page.javascriptDialogOpening":  # never leave a dialog blocking
                    self._send("Page.handleJavaScriptDialog", {"accept": False}, message.get("sessionId"))
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"Chromium: no {what} within {self.timeout_s:.0f} s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise EOFError(f"Chromium closed its DevTools pipe while waiting for {what}")
            self._buffer += chunk

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        sent = self._send(method, params, session)
        answer = self.wait_for(lambda message: message.get("id") == sent, f"answer to {method}")
        assert "error" not in answer, f"{method}: {answer['error']}"
        return answer["result"]

    def open(self, url: str) -> str:
        """A new tab showing `url`, loaded (its scripts ran); returns the DevTools session of the tab."""
        if self.pid is None:
            self._start()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call("Page.navigate", {"url": url}, session=session)
        self.wait_for(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session,
                      "load event")
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def set_viewport(self, session: str, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)

    def screenshot(self, session: str, path: Path, clip: dict[str, float] | None = None) -> Path:
        """A PNG of the page (or of `clip`, in CSS pixels of the page), written to `path`."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        data = self.call("Page.captureScreenshot", params, session)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def problems(self, session: str) -> list[str]:
        """CSP violations, console errors, uncaught exceptions and dialogs (alert, confirm ...) of a tab so far."""
        found = []
        for event in self.events:
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Log.entryAdded" and (params["entry"]["level"] == "error"
                                               or params["entry"]["source"] == "security"):
                found.append(f"log: {params['entry']['text']}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console: {params.get('args')}")
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog: {params.get('type')} {params.get('message')!r}")
        return found

    def close(self) -> None:
        if self.pid is None:
            return
        try:
            self._send("Browser.close")
        except OSError:
            pass
        os.close(self._to_browser)
        os.close(self._from_browser)
        exited = os.pidfd_open(self.pid)
        try:
            if not select.select([exited], [], [], 15)[0]:
                os.kill(self.pid, signal.SIGKILL)
        finally:
            os.close(exited)
        os.waitpid(self.pid, 0)
