"""A real, scripted OpenAI-compatible chat server for tests.

It listens on 127.0.0.1 (a free port) in a background thread and answers
`POST /v1/chat/completions` the way vLLM's OpenAI server does, so the client
code under test runs its real HTTP path (pooling, timeouts, retries, parsing).
What each request gets is decided per sample: the client names the sample in
the `X-Ray-Eval-Sample` header, a script maps sample ids to `Reply` steps (one
per attempt, the last repeating) and everything else goes to a default policy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, cast
from urllib.parse import unquote

from ray_eval.testing.replies import (
    SAMPLE_HEADER,
    ChatRequestInfo,
    Policy,
    Reply,
    _error_body,
    _rough_tokens,
    _text,
    constant,
)

_log = logging.getLogger(__name__)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler must never keep the process (or stop()) waiting
    block_on_close = False
    request_queue_size = 256  # the default 5 drops SYNs when a test opens many connections at once

    def __init__(self, owner: ScriptedOpenAIServer, port: int):
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can stall in sandboxes.
        TCPServer.server_bind(self)
        # __init__ binds ("127.0.0.1", port): the address is an IPv4 (host, port) pair with a str host.
        self.server_name, self.server_port = cast(tuple[str, int], self.server_address[:2])

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away (its timeout, or stop()): nothing to report
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so httpx's pool reuses connections
    server_version = "ScriptedOpenAIServer/1"
    sys_version = ""
    # Headers and body leave in two writes; with Nagle on, delayed ACKs add ~40 ms per request.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection)

    def finish(self) -> None:
        self.server.owner._untrack(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)

    def _send(self, code: int, payload: bytes, content_type: str = "application/json",
              headers: Mapping[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_json(self, code: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(code, json.dumps(obj).encode(), headers=headers)

    def _send_error(self, code: int, message: str) -> None:
        self._send_json(code, _error_body(code, message))

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._send(200, b"", "text/plain")  # vLLM answers an empty 200
        elif path == "/v1/models":
            model = self.server.owner.model
            self._send_json(200, {"object": "list", "data": [
                {"id": model, "object": "model", "created": int(time.time()),
                 "owned_by": "ray-eval-testing", "root": model, "parent": None}]})
        else:
            self._send_error(404, f"no route for GET {path}")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():  # no body framing: answer, then close (we can't find the next request)
            payload = json.dumps(_error_body(411, "Content-Length is required")).encode()
            return self._send(411, payload, headers={"Connection": "close"})
        raw = self.rfile.read(int(length))  # read it all, or keep-alive falls out of step
        path = self.path.split("?", 1)[0]
        if path != "/v1/chat/completions":
            return self._send_error(404, f"no route for POST {path}")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return self._send_error(400, f"request body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return self._send_error(400, "request body must be a JSON object")
        if not isinstance(body.get("messages"), list):
            return self._send_error(400, "'messages' is required and must be a list")
        if body.get("stream"):
            return self._send_error(400, "ScriptedOpenAIServer does not implement streaming")
        self._chat(body)

    def _chat(self, body: dict[str, Any]) -> None:
        owner = self.server.owner
        if not owner._take_slot():
            self.close_connection = True  # stopping while it waited for a slot: drop it unanswered
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        sample = headers.get(SAMPLE_HEADER.lower())
        try:
            info, reply = owner._admit(unquote(sample) if sample is not None else None, body, headers)
        except BaseException:
            owner._release_slot()  # a request that never got in must not keep its slot
            raise
        try:
            if reply is None:
                reply = owner._ask_default(info)
            while True:
                if reply.delay_s and owner._stop_requested.wait(reply.delay_s):
                    self.close_connection = True  # stopping: drop it unanswered
                    return
                if reply.kind != "hang":
                    break
                reply = reply.then or owner._ask_default(info)
            owner._stamp_reply()  # before the bytes go out: a client holding its reply sees it counted
            self._send_reply(reply, info)
        finally:
            owner._leave()

    def _send_reply(self, reply: Reply, info: ChatRequestInfo) -> None:
        if reply.kind == "disconnect":
            self.close_connection = True  # socketserver closes the socket; nothing was written
        elif reply.kind == "status":
            headers = {} if reply.retry_after is None else {"Retry-After": reply.retry_after}
            if isinstance(reply.body, (str, bytes)):
                payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                self._send(reply.status_code, payload, reply.content_type or "text/plain; charset=utf-8", headers)
            else:
                self._send_json(reply.status_code, reply.body, headers)
        elif reply.malformed_kind == "not_json":
            self._send(200, b"<html><body>upstream proxy error</body></html>")
        else:
            completion = self._completion(reply, info)
            if reply.malformed_kind == "no_choices":
                del completion["choices"]
            elif reply.malformed_kind == "empty_choices":
                completion["choices"] = []
            elif reply.malformed_kind == "null_content":
                completion["choices"][0]["message"]["content"] = None
            self._send_json(200, completion)

    def _completion(self, reply: Reply, info: ChatRequestInfo) -> dict[str, Any]:
        prompt = reply.prompt_tokens
        prompt = _rough_tokens(_text(info.body["messages"])) if prompt is None else prompt
        completion = reply.completion_tokens
        completion = _rough_tokens(reply.content) if completion is None else completion
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": info.model or self.server.owner.model,
            "choices": [{"index": 0, "logprobs": None, "finish_reason": reply.finish_reason,
                         "message": {"role": "assistant", "content": reply.content,
                                     "tool_calls": []}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        }


class ScriptedOpenAIServer:
    """An OpenAI-compatible chat server on 127.0.0.1 whose answers a test scripts.

    Use it as a context manager; hand clients `base_url`. It lives in the test
    process only: clients in other processes reach it over HTTP, so it refuses
    to be pickled rather than fail obscurely on its locks and sockets.
    `record_requests=False` keeps no request log (bodies carry base64 media:
    a long run would hold them all in memory); counters still work.
    `slots` bounds the requests being answered at once, like an engine's batch
    slots: the rest wait their turn (None: no bound). A request counts as
    received, and in `max_concurrent`, once it holds a slot.
    `port` (default: a free one) lets a test stop a server and start a new one
    at the same address: an outage of refused connections, then recovery.
    """

    def __init__(self, default: Policy | None = None,
                 script: Mapping[str, list[Reply]] | None = None, model: str = "scripted-model",
                 *, record_requests: bool = True, slots: int | None = None, port: int = 0):
        if slots is not None and slots < 1:
            raise ValueError(f"slots must be at least 1 (or None for no bound); got {slots}")
        self.model = model
        self.slots = slots
        self._port = port
        self._slots = threading.BoundedSemaphore(slots) if slots is not None else None
        self._first_request_at: float | None = None
        self._last_reply_at: float | None = None
        self._record_requests = record_requests
        self._received = 0
        self._default = default or constant("A")
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stop_requested = threading.Event()
        self._scripts: dict[str, tuple[Reply, ...]] = {}
        self._script_steps_used: dict[str, int] = {}
        self._attempts: dict[str | None, int] = {}
        self._requests: list[ChatRequestInfo] = []
        self._policy_errors: list[BaseException] = []
        self._connections: set[socket.socket] = set()
        self._connection_count = 0
        self._in_flight = 0
        self._max_concurrent = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        for sample_id, replies in (script or {}).items():
            self.set_script(sample_id, replies)

    def start(self) -> ScriptedOpenAIServer:
        """Bind a free port and serve in a daemon thread. Calling it again while running is a no-op."""
        if self._stop_requested.is_set():
            raise RuntimeError("a stopped ScriptedOpenAIServer cannot be restarted; make a new one")
        if self._httpd is None:
            self._httpd = _HTTPServer(self, self._port)
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                            name=f"scripted-openai-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, drop open connections (hanging requests included), close the port."""
        with self._lock:
            if self._httpd is None or self._stop_requested.is_set():
                return  # never started, or already stopped
            # Set under the lock that _track takes: a connection either is in the
            # snapshot below or sees the flag and closes itself.
            self._stop_requested.set()
            connections = list(self._connections)
        self._httpd.shutdown()  # returns once serve_forever has left its loop
        for connection in connections:  # wakes handlers waiting for a next keep-alive request
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        assert self._thread is not None
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("ScriptedOpenAIServer lives in the test process; "
                        "pass its base_url to other processes instead")

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ScriptedOpenAIServer is not started")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def set_script(self, sample_id: str, replies: Iterable[Reply] | None) -> None:
        """Script a sample's next attempts (last step repeats); None returns it to the default policy."""
        if replies is None:
            with self._lock:
                self._scripts.pop(sample_id, None)
            return
        steps = tuple(replies)
        if not steps or not all(isinstance(step, Reply) for step in steps):
            raise ValueError("a script is a non-empty list of Reply; pass None to remove it")
        with self._lock:
            self._scripts[sample_id] = steps
            self._script_steps_used[sample_id] = 0  # a new script starts at its first step

    @property
    def requests(self) -> list[ChatRequestInfo]:
        """A snapshot of the valid chat requests received, in arrival order (empty unless recorded)."""
        with self._lock:
            return list(self._requests)

    def attempts(self, sample_id: str | None) -> int:
        """How many chat requests named this sample id (None: those without the header)."""
        with self._lock:
            return self._attempts.get(sample_id, 0)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Block until `count` chat requests have arrived; False on timeout. Sleep-free test sync."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._received >= count, timeout)

    @property
    def max_concurrent(self) -> int:
        """The most chat requests this server was processing at the same time."""
        with self._lock:
            return self._max_concurrent

    @property
    def first_request_at(self) -> float | None:
        """`time.monotonic()` when the first chat request was taken up (None before any): when the engine got busy."""
        with self._lock:
            return self._first_request_at

    @property
    def last_reply_at(self) -> float | None:
        """`time.monotonic()` when the latest chat reply was sent (None before any; a request dropped unanswered is
        none). Stamped before the reply's bytes go out: a client holding its reply always finds it counted."""
        with self._lock:
            return self._last_reply_at

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._connection_count

    @property
    def policy_errors(self) -> list[BaseException]:
        """Exceptions the default policy raised (each was answered with a 500)."""
        with self._lock:
            return list(self._policy_errors)

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            if not self._stop_requested.is_set():
                self._connections.add(connection)
                self._connection_count += 1
                return
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)  # accepted just as stop() began

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _admit(self, sample_id: str | None, body: dict[str, Any],
               headers: dict[str, str]) -> tuple[ChatRequestInfo, Reply | None]:
        """Log the request and take its scripted step (None: ask the default policy)."""
        with self._lock:
            attempt = self._attempts.get(sample_id, 0) + 1
            self._attempts[sample_id] = attempt
            step = None
            if sample_id is not None and (steps := self._scripts.get(sample_id)):
                used = self._script_steps_used.get(sample_id, 0)
                step = steps[min(used, len(steps) - 1)]
                self._script_steps_used[sample_id] = used + 1
            info = ChatRequestInfo.from_request(sample_id, attempt, body, headers)
            if self._first_request_at is None:
                self._first_request_at = time.monotonic()
            self._received += 1
            if self._record_requests:
                self._requests.append(info)
            self._in_flight += 1
            self._max_concurrent = max(self._max_concurrent, self._in_flight)
            self._arrived.notify_all()
        return info, step

    def _take_slot(self) -> bool:
        """Wait for a free slot (at once without `slots`); False when the server stops meanwhile."""
        if self._slots is None:
            return True
        # A timed wait, so a request queued behind hanging ones still sees stop(); a release wakes it at once.
        while not self._slots.acquire(timeout=0.1):
            if self._stop_requested.is_set():
                return False
        return True

    def _stamp_reply(self) -> None:
        with self._lock:
            self._last_reply_at = time.monotonic()

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
        self._release_slot()

    def _release_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _ask_default(self, info: ChatRequestInfo) -> Reply:
        try:
            reply = self._default(info)
            if not isinstance(reply, Reply):
                raise TypeError(f"default policy returned {type(reply).__name__}, not Reply")
            return reply
        except Exception as exc:  # noqa: BLE001 - a test bug: answer 500 and keep it for the test to see
            with self._lock:
                self._policy_errors.append(exc)
            return Reply.status(500, message=f"default policy raised {exc!r}")


__all__ = ["ScriptedOpenAIServer"]
