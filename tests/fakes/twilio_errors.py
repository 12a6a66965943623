"""A tiny local fake of Twilio's REST API for the answers Prism cannot give.

The Twilio spec documents only the success answers, so Prism (`Prefer: code=…`) cannot answer
400, 401, 429 or 500, and it accepts any credentials. This fake answers every request with the
status and body a test sets, in Twilio's error format (`code`, `message`, `more_info`,
`status`), optionally with headers (Retry-After) or after a delay (timeouts), and records what
it was asked. Happy paths go through Prism (tests/fakes/prism.py).

    with TwilioErrorFake() as fake:
        fake.answer(400, code=21211, message="The 'To' number 123 is not a valid phone number.")
        settings.TWILIO_API_BASE_URL = fake.url
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Answer:
    status: int = 500
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    form: dict[str, list[str]]
    authorization: str


class TwilioErrorFake:
    def __init__(self) -> None:
        self.current = Answer(body={"code": 20500, "message": "Internal Server Error"})
        self.requests: list[Seen] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                fake.requests.append(
                    Seen(
                        method=self.command,
                        path=self.path,
                        form=parse_qs(raw),
                        authorization=self.headers.get("Authorization", ""),
                    )
                )
                answer = fake.current
                if answer.delay:
                    time.sleep(answer.delay)
                payload = json.dumps(answer.body).encode() if answer.body is not None else b""
                try:
                    self.send_response(answer.status)
                    if answer.body is not None:
                        self.send_header("Content-Type", "application/json")
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_DELETE = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(
        self,
        status: int,
        *,
        code: int | None = None,
        message: str = "",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer every following request with `status` and a Twilio error body."""
        body = {
            "code": code if code is not None else status,
            "message": message or f"HTTP {status}",
            "more_info": f"https://www.twilio.com/docs/errors/{code or status}",
            "status": status,
        }
        self.current = Answer(status=status, body=body, headers=headers or {}, delay=delay)

    def respond(self, status: int, body: dict[str, Any]) -> None:
        """Answer every following request with `status` and this JSON body (e.g. a 201 with a
        message, to read back what the SDK sent)."""
        self.current = Answer(status=status, body=body)

    def start(self) -> TwilioErrorFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TwilioErrorFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
