"""A tiny scripted HTTP server for the Intercom answers Prism cannot give.

Prism (tests/fakes/prism.py) serves Intercom's official spec and is what the Intercom tests
use for the normal flow; it can only answer status codes the spec documents, and the spec
documents no 429 or 5xx (nor a 401 on GET /me). This server answers whatever a test scripts:
queued answers first (`then`), then `default`, optionally after a delay (timeouts). It records
every request (`requests`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.served import ServedFake


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_list(code: str, message: str) -> dict[str, Any]:
    """An Intercom error body."""
    return {
        "type": "error.list",
        "request_id": "fake",
        "errors": [{"code": code, "message": message}],
    }


class ScriptedIntercom(ServedFake):
    def __init__(self, default: Answer | None = None) -> None:
        self.default = default or Answer(500, error_list("server_error", "Server error"))
        self.queue: list[Answer] = []
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.delay = 0.0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def then(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """Queue one answer (used before `default`)."""
        self.queue.append(Answer(status, body, headers or {}))

    def next_answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> Answer:
        with self._lock:
            self.requests.append((method, path, headers, body))
            return self.queue.pop(0) if self.queue else self.default


class _Handler(BaseHTTPRequestHandler):
    fake: ScriptedIntercom
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects from a real API

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        answer = self.fake.next_answer(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        if self.fake.delay:
            time.sleep(self.fake.delay)
        data = json.dumps(answer.body).encode() if answer.body is not None else b""
        try:
            self.send_response(answer.status)
            if data:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass

    do_GET = do_POST = do_PUT = _serve  # noqa: N815 - http.server's naming


ScriptedIntercom.handler = _Handler
