"""The wire side of the email adapter: smtplib connections that remember whether the message
content went out (so a dropped connection can be told apart) and quote simple envelope
addresses without re-parsing them, and a writer that turns a message into exactly the bytes
Django's `EmailMultiAlternatives.message().as_bytes()` would produce, without building the MIME
tree (0.05 ms instead of 0.6 ms per message, bench/send). Anything the writer does not handle
the same way is left to Django (`EmailAdapter._raw` returns None)."""

from __future__ import annotations

import functools
import re
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.policy import compat32
from typing import Any

from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import forbid_multi_line_headers


class BodyTracking:
    """Remembers whether the message content was handed to the socket, so a dropped connection
    can be told apart: before that, nothing was delivered and the message may go again; after
    it, the server may have accepted it without our hearing so."""

    body_sent = False

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        # smtplib passes commands as str and the message content (ending "\r\n.\r\n") as bytes.
        if isinstance(s, bytes):
            self.body_sent = True


class QuickQuote(smtplib.SMTP):
    """smtplib's MAIL and RCPT, quoting the address with `quote`: smtplib parses every
    envelope address again (email.utils.parseaddr, some 18 µs, twice a message)."""

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        if any(option.lower() == "smtputf8" for option in options):
            return super().mail(sender, options)
        self.putcmd("mail", f"FROM:{quote(sender)}{self._option_list(options)}")
        return self.getreply()

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        self.putcmd("rcpt", f"TO:{quote(recip)}{self._option_list(options)}")
        return self.getreply()

    def _option_list(self, options: Sequence[str]) -> str:
        return " " + " ".join(options) if options and self.does_esmtp else ""


def quote(address: str) -> str:
    """What smtplib.quoteaddr gives: a plain address needs only the angle brackets; anything
    else is parsed, once (the batch's sender comes again with every message)."""
    if SIMPLE_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return quote_parsed(address)


@functools.lru_cache(maxsize=64)
def quote_parsed(address: str) -> str:
    return smtplib.quoteaddr(address)


class SMTP(BodyTracking, QuickQuote):
    pass


class SMTPSSL(BodyTracking, QuickQuote, smtplib.SMTP_SSL):
    pass


class Backend(SmtpBackend):
    """Django's SMTP backend with the connection class above."""

    connection: SMTP | SMTPSSL | None

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return SMTPSSL if self.use_ssl else SMTP


# --- writing a message to bytes ------------------------------------------------------------------

# What Django's messages are flattened with (SafeMIME*.as_bytes, linesep as in _transmit).
POLICY = compat32.clone(linesep="\r\n")
# Printable ASCII words separated by single spaces: compat32 leaves such a value as it is when
# the line fits in 78 characters, and puts a single word that does not fit on a line of its own.
PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")
HEADER_NAME = re.compile(r"[!-9;-~]+")
# Headers Django's message() writes itself or looks up among the extra headers.
OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "date",
        "message-id",
        "subject",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
# An address that Django's sanitize_address and smtplib's quoteaddr give back unchanged.
ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
SIMPLE_ADDRESS = re.compile(rf"{ATOM}(?:\.{ATOM})*@{LABEL}(?:\.{LABEL})*")
# Django switches a part to quoted-printable above this (RFC 5322 2.1.1).
MAX_LINE = 998
# compat32 folds `multipart/alternative; boundary="=={32 hex}=="` the same way whatever the
# hex digits are (it splits at "; " only): fold it once.
MULTIPART_CT = POLICY.fold_binary(
    "Content-Type", 'multipart/alternative; boundary="==' + "0" * 32 + '=="'
).split(b"0" * 32)
PART_HEAD = {
    (subtype, cte): (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n"
    ).encode()
    for subtype in ("plain", "html")
    for cte in ("7bit", "8bit")
}


def fold(name: str, value: str) -> bytes:
    """The header line as Django's message() and the compat32 generator write it (utf-8)."""
    if PLAIN.fullmatch(value):
        if len(name) + len(value) <= 76:
            return f"{name}: {value}\r\n".encode()
        if " " not in value:
            return f"{name}: \r\n {value}\r\n".encode()
    name, value = forbid_multi_line_headers(name, value, "utf-8")
    return POLICY.fold_binary(name, value)


def part(subtype: str, text: str) -> tuple[bytes, bytes] | None:
    """A text part as SafeMIMEText writes it (7bit or 8bit utf-8, lines ending in CRLF): its
    headers and its content; None when Django would write it another way (quoted-printable for
    long lines) or fail."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: Django's error, not ours to mimic
        return None
    if len(data) > MAX_LINE and max(map(len, data.split(b"\n"))) > MAX_LINE:
        return None
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    cte = "7bit" if data.isascii() else "8bit"
    return PART_HEAD[subtype, cte], data.replace(b"\n", b"\r\n")


@dataclass(frozen=True, slots=True)
class Raw:
    """A message already written to bytes, with its envelope recipients."""

    content: bytes
    recipients: list[str]
