"""A local SMTP server for the email adapter's tests and bench/send: aiosmtpd on 127.0.0.1.

- `received` keeps every accepted message (envelope and the parsed email);
- `answers` maps a recipient address to the reply its RCPT TO gets ("451 4.7.1 Try again
  later", "550 5.1.1 No such user"); every other recipient is accepted;
- `sender_answers` does the same for MAIL FROM addresses ("553 5.7.1 Sender not owned");
- `password` (with `username`) makes the server require AUTH before MAIL;
- `hangup_after` makes it answer 421 and close the connection at the MAIL command after that
  many messages on one connection (a server limiting messages per connection);
- `drop_after_data_for` makes it take the whole message for those recipients and then close
  the connection without answering (the "did it go or not?" case).

With `keep_messages=False` it keeps only the Message-IDs (bench/send's 20,000 messages).

Run as a process for the benchmark: `python -m tests.fakes.smtp --port N`; it prints
"ready" and then answers lines on stdin: "stats" → a JSON object
{"received", "distinct", "connections", "cpu"}, "reset", "quit".
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import logging
import re
import resource
import socket
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# aiosmtpd logs every command at INFO.
logging.getLogger("mail.log").setLevel(logging.ERROR)


class _Controller(Controller):
    def factory(self):
        # AUTH without TLS is what a local test server without a certificate has to allow.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return super().factory()


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()  # type: ignore[union-attr]


class FakeSmtp:
    """Start with `start()` (or as a context manager); `host`/`port` are what to connect to."""

    def __init__(
        self,
        *,
        port: int | None = None,
        username: str = "",
        password: str = "",
        keep_messages: bool = True,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.username = username
        self.password = password
        self.keep_messages = keep_messages
        self.answers: dict[str, str] = {}
        self.sender_answers: dict[str, str] = {}
        self.hangup_after: int | None = None
        self.drop_after_data_for: set[str] = set()
        self.received: list[Received] = []
        self.message_ids: list[bytes] = []
        self.connections = 0
        self.logins: list[str] = []
        self._lock = threading.Lock()
        auth: dict[str, Any] = {}
        if password:
            auth = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,  # a local test server has no certificate
            }
        self.controller = _Controller(self, hostname=self.host, port=self.port, **auth)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeSmtp:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> FakeSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.message_ids.clear()
            self.connections = 0

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    # --- aiosmtpd hooks -----------------------------------------------------------------

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = (
            auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if ok:
            self.logins.append(self.username)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        if not getattr(session, "fake_counted", False):
            session.fake_counted = True
            session.fake_messages = 0
            with self._lock:
                self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.hangup_after is not None and getattr(session, "fake_messages", 0) >= (
            self.hangup_after
        ):
            server.loop.call_soon(server.transport.close)
            return "421 4.7.0 Too many messages on one connection, closing"
        if address in self.sender_answers:
            return self.sender_answers[address]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.answers.get(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        with self._lock:
            match = _MESSAGE_ID.search(content)
            self.message_ids.append(match.group(1) if match else b"")
            if self.keep_messages:
                self.received.append(
                    Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(content))
                )
        session.fake_messages = getattr(session, "fake_messages", 0) + 1
        if self.drop_after_data_for & set(envelope.rcpt_tos):
            server.transport.abort()
        return "250 2.0.0 Message accepted"

    def stats(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with self._lock:
            return {
                "received": len(self.message_ids),
                "distinct": len(set(self.message_ids)),
                "connections": self.connections,
                # CPU seconds of the whole process (meaningful when it runs on its own)
                "cpu": usage.ru_utime + usage.ru_stime,
            }


@contextmanager
def silent_server() -> Iterator[tuple[str, int]]:
    """A port that accepts TCP connections and never says a word (an SMTP timeout)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield "127.0.0.1", sock.getsockname()[1]


def closed_port() -> int:
    """A port nobody listens on (connection refused)."""
    return free_port()


def main() -> int:
    parser = argparse.ArgumentParser(description="A local SMTP server for bench/send.")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = FakeSmtp(port=args.port, keep_messages=False).start()
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(server.stats()), flush=True)
            elif command == "reset":
                server.reset()
                print("ok", flush=True)
            elif command == "quit":
                break
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
