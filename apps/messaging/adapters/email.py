"""Email through Django's email backends: the partner's own SMTP server, or the platform's
sender (the configured EMAIL_BACKEND and EMAIL_* settings).

`config`: `mode` ("platform" or "smtp"), `host`, `port`, `username`, `use_tls` (STARTTLS),
`use_ssl` (SSL/TLS from the first byte), `from_email`, `reply_to`; `secrets`: `password`.

Every message is an `EmailMultiAlternatives` (plain text plus an HTML alternative) carrying the
message's headers (List-Unsubscribe, List-Unsubscribe-Post) and a Message-ID of our own, which
is the provider id. `send_many` sends a batch over one SMTP connection.

Over SMTP the common message is written straight to bytes (`_raw`): the same bytes Django's
`message().as_bytes()` produces, without building the MIME tree and folding every short header
through `email.header` (that was most of a send job's CPU). Anything out of the ordinary (a
newline in a header, a line over 998 bytes, a header Django treats specially, a charset other
than utf-8) goes through Django; tests compare the two byte for byte.

Error split (the send job retries RetryableError, fails PermanentError at once):
- a 5xx answer for the recipient → `invalid_address` (5.1.x, "no such user") or `rejected`;
  5xx for the sender → `sender_not_allowed`; refused login → `bad_credentials`;
- 4xx answers, refused or reset connections, timeouts, a dropped connection → retryable;
- the connection dropped after the whole message went out but before the server confirmed
  it → `outcome_unknown` (permanent): the server may have it, and sending it again could make
  the customer receive it twice (ARCHITECTURE section 6: at most once).
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import uuid
from collections.abc import Iterable, Iterator
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection, make_msgid
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address
from django.core.validators import validate_email
from django.utils.module_loading import import_string

from apps.messaging.adapters import base
from apps.messaging.adapters.smtp_wire import (
    HEADER_NAME as _HEADER_NAME,
)
from apps.messaging.adapters.smtp_wire import (
    MULTIPART_CT as _MULTIPART_CT,
)
from apps.messaging.adapters.smtp_wire import (
    OWN_HEADERS as _OWN_HEADERS,
)
from apps.messaging.adapters.smtp_wire import (
    SIMPLE_ADDRESS as _SIMPLE_ADDRESS,
)
from apps.messaging.adapters.smtp_wire import (
    Backend as _Backend,
)
from apps.messaging.adapters.smtp_wire import (
    Raw as _Raw,
)
from apps.messaging.adapters.smtp_wire import (
    fold as _fold,
)
from apps.messaging.adapters.smtp_wire import (
    part as _part,
)


def _is_smtp_backend(path: str) -> bool:
    try:
        return issubclass(import_string(path), SmtpBackend)
    except ImportError:
        return False


_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _answer(code: int, reply: bytes | str) -> str:
    return f"{code} {_text(reply)}".strip()


class EmailAdapter(base.BaseAdapter):
    channel = "email"

    def __init__(self, *, config: dict[str, Any], secrets: dict[str, str]) -> None:
        super().__init__(config=config, secrets=secrets)
        self.platform = config.get("mode", "smtp") == "platform"
        if self.platform:
            self.from_email = settings.DEFAULT_FROM_EMAIL
            self.smtp = _is_smtp_backend(settings.EMAIL_BACKEND)
            self.host = settings.EMAIL_HOST
            self.port = int(settings.EMAIL_PORT)
            self.username = settings.EMAIL_HOST_USER
            self.password = settings.EMAIL_HOST_PASSWORD
            self.use_tls = bool(settings.EMAIL_USE_TLS)
            self.use_ssl = bool(getattr(settings, "EMAIL_USE_SSL", False))
        else:
            self.from_email = config.get("from_email") or settings.DEFAULT_FROM_EMAIL
            self.smtp = True
            self.host = (config.get("host") or "").strip()
            self.port = int(config.get("port") or (465 if config.get("use_ssl") else 587))
            self.username = config.get("username") or ""
            self.password = secrets.get("password") or ""
            self.use_tls = bool(config.get("use_tls"))
            self.use_ssl = bool(config.get("use_ssl"))
        self.reply_to = [config["reply_to"]] if config.get("reply_to") else []
        domain = parseaddr(self.from_email)[1].rpartition("@")[2]
        # Our own Message-ID domain: Django's default looks up this machine's FQDN.
        self.msgid_domain = domain or "localhost"
        self._constant_lines = self._constant_header_lines()

    def _constant_header_lines(self) -> tuple[bytes, bytes] | None:
        """The From and Reply-To lines, written once for every message of the adapter; None
        when Django's path must write the messages (and raise its error)."""
        if settings.DEFAULT_CHARSET != "utf-8":
            return None
        try:
            reply_to = _fold("Reply-To", ", ".join(self.reply_to)) if self.reply_to else b""
            return _fold("From", str(self.from_email)), reply_to
        except ValueError:  # a newline in From or Reply-To: BadHeaderError on every message
            return None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # --- connection -----------------------------------------------------------------------

    def _backend(self) -> Any:
        timeout = settings.MESSAGING_TIMEOUT
        if not self.smtp:
            # The platform's non-SMTP backend (files in development, memory in tests, a
            # provider's HTTP API backend in some deployments).
            return get_connection(fail_silently=False, timeout=timeout)
        if not self.host:
            raise base.PermanentError(
                "misconfigured", "No SMTP host is set: enter your server's host name and port."
            )
        if self.use_tls and self.use_ssl:
            raise base.PermanentError(
                "misconfigured", "Choose either STARTTLS or SSL/TLS for the connection, not both."
            )
        try:
            self.envelope_from = sanitize_address(self.from_email, settings.DEFAULT_CHARSET)
        except ValueError as exc:
            raise base.PermanentError(
                "sender_not_allowed",
                f"The From address {self.from_email!r} is not valid: write it as "
                "offers@example.com or Name <offers@example.com>.",
            ) from exc
        # Everything explicit: None would fall back to the platform's EMAIL_* settings and
        # hand the platform's password to a partner's server.
        return _Backend(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            use_ssl=self.use_ssl,
            timeout=timeout,
            ssl_keyfile="",
            ssl_certfile="",
            fail_silently=False,
        )

    def _open(self, backend: Any) -> None:
        """Connect (TLS, login) or raise the ChannelError that says why not."""
        try:
            backend.open()
        except Exception as exc:
            _close(backend)
            raise self._connection_error(exc) from exc

    def _connection_error(self, exc: BaseException) -> base.ChannelError:
        where = self.where
        if isinstance(exc, base.ChannelError):
            return exc
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return base.PermanentError(
                "bad_credentials",
                f"The server {where} refused the username and password "
                f"({_answer(exc.smtp_code, exc.smtp_error)}). Check them in the channel settings.",
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            message = str(exc)
            if "STARTTLS" in message:
                return base.PermanentError(
                    "tls_failed",
                    f"The server {where} does not offer STARTTLS. Choose SSL/TLS (usually port "
                    "465) or no encryption, as your provider documents.",
                )
            return base.PermanentError(
                "auth_unavailable",
                f"The server {where} does not offer sign-in (SMTP AUTH) on this connection. "
                "Many servers offer it only after STARTTLS; or leave the username empty.",
            )
        if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
            return _by_code(
                exc.smtp_code,
                "rejected",
                f"The server {where} refused the session: "
                f"{_answer(exc.smtp_code, exc.smtp_error)}.",
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            return _by_code(
                exc.smtp_code,
                "rejected",
                f"The server {where} answered {_answer(exc.smtp_code, exc.smtp_error)}.",
            )
        if isinstance(exc, ssl.SSLError):
            return base.PermanentError(
                "tls_failed",
                f"The secure connection (TLS) to {where} failed: {exc.reason or exc}. Check the "
                "security setting: port 587 usually uses STARTTLS, port 465 SSL/TLS.",
            )
        if isinstance(exc, socket.gaierror):
            return base.RetryableError(
                "connection_failed",
                f"The host name {self.host!r} could not be resolved. Check the SMTP host.",
            )
        if isinstance(exc, ConnectionRefusedError):
            return base.RetryableError(
                "connection_refused",
                f"The SMTP server at {where} refused the connection. Check the host and port, "
                "and that the server accepts connections from this platform.",
            )
        if isinstance(exc, TimeoutError) or "timed out" in str(exc):
            return base.RetryableError(
                "timeout",
                f"The SMTP server at {where} did not answer within "
                f"{settings.MESSAGING_TIMEOUT} seconds.",
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return base.RetryableError(
                "disconnected", f"The SMTP server at {where} closed the connection ({exc})."
            )
        if isinstance(exc, OSError):
            return base.RetryableError(
                "connection_failed", f"The connection to the SMTP server at {where} failed: {exc}."
            )
        if isinstance(exc, ValueError):
            return base.PermanentError(
                "misconfigured", f"The email settings are not usable: {exc}."
            )
        return base.RetryableError("provider_unavailable", f"The mail backend failed: {exc}.")

    # --- messages -------------------------------------------------------------------------

    def _build(self, message: base.OutgoingMessage) -> tuple[EmailMultiAlternatives | _Raw, str]:
        # Django's address parser lets some nonsense through to the server ("not an address"
        # becomes a local part); a person typed this, so say so instead of asking the server.
        try:
            validate_email(message.to)
        except ValidationError as exc:
            raise base.PermanentError(
                "invalid_address", f"{message.to!r} is not a valid email address."
            ) from exc
        message_id = make_msgid(domain=self.msgid_domain)
        if self.smtp:
            raw = self._raw(message, message_id)
            if raw is not None:
                return raw, message_id
        return self._email(message, message_id), message_id

    def _email(self, message: base.OutgoingMessage, message_id: str) -> EmailMultiAlternatives:
        # formataddr quotes a name with commas or quotes in it.
        to = formataddr((message.name, message.to)) if message.name else message.to
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=self.from_email,
            to=[to],
            reply_to=self.reply_to,
            headers={**message.headers, "Message-ID": message_id},
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        return email

    def _raw(
        self, message: base.OutgoingMessage, message_id: str, *, boundary: str = ""
    ) -> _Raw | None:
        """What `_transmit` sends for `_email(message)`, written directly; None when the
        message needs Django's path. Header by header as Django's message() orders them."""
        constant = self._constant_lines
        if constant is None or not message.text or not _SIMPLE_ADDRESS.fullmatch(message.to):
            return None
        # Newlines make Django raise BadHeaderError (or sanitize_address ValueError): its path
        # gives the error.
        values = [message.name, message.subject, *message.headers.values()]
        if any(not isinstance(v, str) or "\n" in v or "\r" in v for v in values):
            return None
        for name in message.headers:
            if name.lower() in _OWN_HEADERS or not _HEADER_NAME.fullmatch(name):
                return None
        text = _part("plain", message.text)
        html = _part("html", message.html) if message.html else (b"", b"")
        if text is None or html is None:
            return None
        to = formataddr((message.name, message.to)) if message.name else message.to
        from_line, reply_to_line = constant
        lines = [
            _fold("Subject", message.subject),
            from_line,
            _fold("To", to),
            reply_to_line,
            _fold("Date", formatdate(localtime=settings.EMAIL_USE_LOCALTIME)),
            *(_fold(name, value) for name, value in message.headers.items()),
            _fold("Message-ID", message_id),
            b"\r\n",
        ]
        if html[0]:
            # Random: it cannot occur in the text (see _transmit).
            token = (boundary or uuid.uuid4().hex).encode()
            head = [_MULTIPART_CT[0], token, _MULTIPART_CT[1], b"MIME-Version: 1.0\r\n"]
            separator = b"\r\n--==" + token + b"==\r\n"
            body = [b"--==", token, b"==\r\n", text[0], b"\r\n", text[1], separator]
            body += [html[0], b"\r\n", html[1], b"\r\n--==", token, b"==--\r\n"]
        else:
            # A single text/plain message: its part headers come first, as in SafeMIMEText.
            head, body = [text[0]], [text[1]]
        # Django's envelope recipient is sanitize_address(To), from which smtplib takes the
        # address again: for a simple address that is the address itself.
        return _Raw(content=b"".join([*head, *lines, *body]), recipients=[message.to])

    def _message_error(
        self, exc: BaseException, message: base.OutgoingMessage
    ) -> base.ChannelError:
        """A refusal that concerns this message only (the connection stays usable)."""
        to = message.to
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            answer = _answer(code, reply)
            if 400 <= code < 500:
                return base.RetryableError(
                    "temporary_failure",
                    f"The server asked to try {to} again later: {answer}.",
                )
            return base.PermanentError(
                _recipient_key(code, _text(reply)), f"The server refused {to}: {answer}."
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            answer = _answer(exc.smtp_code, exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                return base.RetryableError(
                    "temporary_failure",
                    f"The server asked to try again later for the sender {exc.sender}: {answer}.",
                )
            return base.PermanentError(
                "sender_not_allowed",
                f"The server refused the sender address {exc.sender}: {answer}. Use an address "
                "this server may send from (From, in the channel settings).",
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            answer = _answer(exc.smtp_code, exc.smtp_error)
            return _by_code(
                exc.smtp_code, "rejected", f"The server refused the message to {to}: {answer}."
            )
        if isinstance(exc, BadHeaderError):
            return base.PermanentError(
                "invalid_message", f"The message to {to} has an unusable header: {exc}."
            )
        if isinstance(exc, ValueError | smtplib.SMTPNotSupportedError):
            return base.PermanentError(
                "invalid_address", f"{to!r} is not a usable email address: {exc}."
            )
        return base.PermanentError("rejected", f"The message to {to} could not be sent: {exc}.")

    def send(self, message: base.OutgoingMessage) -> base.SendResult:
        ((_, result),) = self.send_many([message])
        if isinstance(result, base.ChannelError):
            raise result
        return result

    def send_many(
        self, messages: Iterable[base.OutgoingMessage]
    ) -> Iterator[tuple[base.OutgoingMessage, base.SendResult | base.ChannelError]]:
        """One connection for the whole batch. If it drops, reconnect once; if it drops again
        (or cannot be opened), every remaining message gets that retryable error."""
        backend: Any = None
        down: base.ChannelError | None = None
        reconnected = False
        try:
            for message in messages:
                if down is not None:
                    yield message, down
                    continue
                try:
                    email, message_id = self._build(message)
                except base.ChannelError as exc:
                    yield message, exc
                    continue
                except ValueError as exc:
                    yield message, self._message_error(exc, message)
                    continue
                if backend is None:
                    try:
                        backend = self._backend()
                        self._open(backend)
                    except base.ChannelError as exc:
                        down = exc
                        yield message, exc
                        continue
                if not self.smtp:
                    # _build writes bytes only for SMTP.
                    yield message, self._send_other(backend, email, message, message_id)  # type: ignore[arg-type]
                    continue
                while True:
                    outcome = self._send_smtp(backend, email, message, message_id)
                    if not isinstance(outcome, _Dropped):
                        yield message, outcome
                        break
                    _close(backend)
                    if reconnected:
                        down = outcome.error
                        yield message, down
                        break
                    reconnected = True
                    try:
                        self._open(backend)
                    except base.ChannelError as exc:
                        down = exc
                        yield message, exc
                        break
        finally:
            if backend is not None:
                _close(backend)

    def _send_smtp(
        self,
        backend: _Backend,
        email: EmailMultiAlternatives | _Raw,
        message: base.OutgoingMessage,
        mid: str,
    ) -> base.SendResult | base.ChannelError | _Dropped:
        connection = backend.connection
        assert connection is not None  # only called on a backend that _open() opened
        connection.body_sent = False
        try:
            self._transmit(connection, email)
        except smtplib.SMTPServerDisconnected as exc:
            return self._dropped(exc, message, body_sent=connection.body_sent)
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421 or connection.sock is None:
                # "Service not available, closing channel": an answer, so the message was not
                # taken; smtplib has closed the connection.
                return _Dropped(
                    base.RetryableError(
                        "temporary_failure",
                        f"The server {self.where} closed the connection: "
                        f"{_answer(exc.smtp_code, exc.smtp_error)}.",
                    )
                )
            return self._message_error(exc, message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {code for code, _ in exc.recipients.values()}
            if codes == {421}:
                return _Dropped(self._message_error(exc, message))
            return self._message_error(exc, message)
        except (OSError, ValueError) as exc:
            if isinstance(exc, ValueError) or isinstance(exc, smtplib.SMTPException):
                return self._message_error(exc, message)
            return self._dropped(exc, message, body_sent=connection.body_sent)
        return base.SendResult(provider_id=mid, detail={"message_id": mid, "server": self.where})

    def _transmit(self, connection: smtplib.SMTP, email: EmailMultiAlternatives | _Raw) -> None:
        """What Django's SMTP backend does for one message (`_send`), with two costs of a
        batch taken out: the From address is parsed once per batch, not per message, and the
        MIME boundary is a random token, so the generator need not compile a regular
        expression per message to prove it does not occur in the text."""
        if isinstance(email, _Raw):
            connection.sendmail(self.envelope_from, email.recipients, email.content)
            return
        mime = email.message()
        if mime.is_multipart():
            mime.set_boundary(f"=={uuid.uuid4().hex}==")
        encoding = email.encoding or settings.DEFAULT_CHARSET
        recipients = [sanitize_address(address, encoding) for address in email.recipients()]
        # Django 5.2's message() is a SafeMIME* object whose as_bytes() takes linesep; the stubs
        # (django-stubs 6) describe Django 6's stdlib EmailMessage, which has no linesep.
        connection.sendmail(self.envelope_from, recipients, mime.as_bytes(linesep="\r\n"))  # type: ignore[call-arg]

    def _dropped(
        self, exc: BaseException, message: base.OutgoingMessage, *, body_sent: bool
    ) -> base.ChannelError | _Dropped:
        if body_sent:
            return base.PermanentError(
                "outcome_unknown",
                f"The connection to {self.where} dropped after the message to {message.to} was "
                f"sent, before the server confirmed it ({exc}). It was not sent again so that "
                "nobody receives it twice; the server's log tells whether it went out.",
            )
        return _Dropped(self._connection_error(exc))

    def _send_other(
        self, backend: Any, email: EmailMultiAlternatives, message: base.OutgoingMessage, mid: str
    ) -> base.SendResult | base.ChannelError:
        try:
            backend.send_messages([email])
        except smtplib.SMTPException as exc:
            return self._message_error(exc, message)
        except Exception as exc:  # a third-party backend's own errors: worth another try
            return base.RetryableError(
                "provider_unavailable", f"The platform's mail backend failed: {exc}."
            )
        return base.SendResult(provider_id=mid, detail={"message_id": mid, "platform": True})

    # --- test connection ------------------------------------------------------------------

    def test_connection(self) -> str:
        """Connect, start TLS, sign in, and ask whether the server takes mail from our From
        address (MAIL FROM, then RSET: nothing is sent)."""
        if not self.smtp:
            return (
                f"Messages go through the platform's sender ({settings.EMAIL_BACKEND}), from "
                f"{self.from_email}; there is no server to connect to."
            )
        backend = self._backend()
        self._open(backend)
        try:
            connection = backend.connection
            sender = parseaddr(self.from_email)[1]
            try:
                connection.ehlo_or_helo_if_needed()  # done by login or STARTTLS, if either ran
                code, reply = connection.mail(sender)
                if code >= 400:
                    raise smtplib.SMTPSenderRefused(code, reply, sender)
                connection.rset()
            except smtplib.SMTPSenderRefused as exc:
                error = self._message_error(exc, base.OutgoingMessage(id=0, channel="email", to=""))
                raise error from exc
            except (OSError, smtplib.SMTPException) as exc:
                raise self._connection_error(exc) from exc
        finally:
            _close(backend)
        if self.platform:
            # The operator's server and account are none of the partner's business.
            return f"The platform's sender is ready: its server accepts mail from {sender}."
        security = " over SSL/TLS" if self.use_ssl else " with STARTTLS" if self.use_tls else ""
        signed_in = (
            f" and signed in as {self.username}"
            if self.username and self.password
            else " (no sign-in: no username and password set)"
        )
        return (
            f"Connected to {self.where}{security}{signed_in}; "
            f"the server accepts mail from {sender}."
        )


class _Dropped:
    """The connection went away before the message content was sent: reconnect and retry."""

    def __init__(self, error: base.ChannelError) -> None:
        self.error = error


def _close(backend: Any) -> None:
    try:
        backend.close()
    except Exception:  # noqa: S110 - closing a broken connection: nothing left to do
        pass


def _by_code(code: int, permanent_key: str, reason: str) -> base.ChannelError:
    if 400 <= code < 500:
        return base.RetryableError("temporary_failure", reason)
    return base.PermanentError(permanent_key, reason)


def _recipient_key(code: int, reply: str) -> str:
    """`invalid_address` when the server says the mailbox does not exist, else `rejected`
    (policy, spam, blocked sender…)."""
    enhanced = _ENHANCED.match(reply)
    if enhanced:
        return "invalid_address" if enhanced.group(2) == "1" else "rejected"
    return "invalid_address" if code in (550, 551, 553) else "rejected"
