"""The email channel against a real local SMTP server (aiosmtpd, tests/fakes/smtp.py): the
adapter's error split, one connection per batch, test connection, the outbox end to end, and the
unsubscribe link (page, one-click POST without CSRF, forged and cross-partner tokens)."""

from __future__ import annotations

import random
import re
import smtplib
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.customers.models import Customer, Event
from apps.messaging.adapters.base import OutgoingMessage, PermanentError, RetryableError
from apps.messaging.adapters.email import EmailAdapter
from apps.messaging.adapters.smtp_wire import quote as _quote
from apps.messaging.crypto import encrypt_secrets
from apps.messaging.models import ChannelAccount, OutboxMessage
from apps.messaging.sending import outbox_send
from apps.messaging.services import Draft, channel_account_test, outbox_queue
from apps.messaging.unsubscribe import email_headers, unsubscribe_token, unsubscribe_url
from tests.conftest import committed_db
from tests.factories import CustomerFactory
from tests.fakes.smtp import FakeSmtp, closed_port, silent_server

Status = OutboxMessage.Status


@pytest.fixture
def smtp():
    with FakeSmtp() as server:
        yield server


@pytest.fixture
def smtp_auth():
    with FakeSmtp(username="shop@alpha.test", password="right-password") as server:
        yield server


def _adapter(server, *, password: str = "", username: str = "", **config) -> EmailAdapter:
    return EmailAdapter(
        config={
            "mode": "smtp",
            "host": server.host,
            "port": server.port,
            "username": username,
            "from_email": "Alpha Retail <offers@alpha.test>",
            **config,
        },
        secrets={"password": password} if password else {},
    )


def _message(n: int, to: str = "", **kwargs) -> OutgoingMessage:
    return OutgoingMessage(
        id=n,
        channel="email",
        to=to or f"r{n}@example.test",
        subject=f"Your code {n}",
        text=f"Code: ABC-{n}",
        html=f"<p>Code: <b>ABC-{n}</b></p>",
        headers={
            "List-Unsubscribe": f"<http://localhost:8000/p/alpha/m/u/t{n}/>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        **kwargs,
    )


def _account(server, *, password: str = "", username: str = "", rate_limit: int = 100):
    """An email account in smtp mode pointing at the fake (call inside the partner schema)."""
    return ChannelAccount.objects.create(
        channel="email",
        config={
            "mode": "smtp",
            "host": server.host,
            "port": server.port,
            "username": username,
            "use_tls": False,
            "use_ssl": False,
            "from_email": "Alpha Retail <offers@alpha.test>",
            "reply_to": "help@alpha.test",
        },
        secrets_encrypted=encrypt_secrets({"password": password} if password else {}),
        rate_limit=rate_limit,
    )


def _queue(*customers: Customer) -> list[OutboxMessage]:
    return outbox_queue(
        [
            Draft(
                channel="email",
                customer=c,
                subject="Your code",
                body_text="Your code: ABC-123",
                body_html="<p>Your code: <strong>ABC-123</strong></p>",
                payload={"headers": email_headers(c.pk)},
            )
            for c in customers
        ]
    )


# --- the adapter ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_batch_goes_over_one_connection_with_text_html_and_headers(smtp):
    # given
    adapter = _adapter(smtp, reply_to="help@alpha.test")
    # when
    results = list(adapter.send_many([_message(n) for n in range(3)]))
    # then every message was accepted, over a single connection
    assert smtp.connections == 1
    assert len(smtp.received) == 3
    first = smtp.received[0].message
    assert smtp.received[0].text.strip() == "Code: ABC-0"
    assert "<b>ABC-0</b>" in smtp.received[0].html
    assert first["List-Unsubscribe"] == "<http://localhost:8000/p/alpha/m/u/t0/>"
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["From"] == "Alpha Retail <offers@alpha.test>"
    assert first["Reply-To"] == "help@alpha.test"
    # and the provider id is the Message-ID the server received
    ids = [result.provider_id for _, result in results]
    assert ids == [r.message["Message-ID"] for r in smtp.received]
    assert all(re.fullmatch(r"<[^@]+@alpha\.test>", i) for i in ids)


@pytest.mark.slow
def test_451_is_retryable_and_550_permanent_and_the_batch_goes_on(smtp):
    # given
    smtp.answers["later@example.test"] = "451 4.7.1 Greylisted, try again later"
    smtp.answers["nobody@example.test"] = "550 5.1.1 No such user here"
    smtp.answers["spam@example.test"] = "554 5.7.1 Rejected by policy"
    batch = [
        _message(1, "later@example.test"),
        _message(2, "nobody@example.test"),
        _message(3, "spam@example.test"),
        _message(4, "fine@example.test"),
    ]
    # when
    results = dict((m.to, r) for m, r in _adapter(smtp).send_many(batch))
    # then
    later, nobody, spam = (
        results["later@example.test"],
        results["nobody@example.test"],
        results["spam@example.test"],
    )
    assert isinstance(later, RetryableError) and later.key == "temporary_failure"
    assert "451" in later.reason and "later@example.test" in later.reason
    assert isinstance(nobody, PermanentError) and nobody.key == "invalid_address"
    assert "nobody@example.test" in nobody.reason and "550 5.1.1 No such user" in nobody.reason
    assert isinstance(spam, PermanentError) and spam.key == "rejected"
    assert [r.rcpt_tos for r in smtp.received] == [["fine@example.test"]]
    assert smtp.connections == 1


@pytest.mark.slow
def test_a_refused_sender_is_permanent(smtp):
    # given
    smtp.sender_answers["offers@alpha.test"] = "553 5.7.1 Sender address not owned by you"
    # when
    ((_, result),) = _adapter(smtp).send_many([_message(1)])
    # then
    assert isinstance(result, PermanentError) and result.key == "sender_not_allowed"
    assert "offers@alpha.test" in result.reason and "553" in result.reason
    assert smtp.received == []


@pytest.mark.slow
def test_a_bad_password_fails_every_message_with_bad_credentials(smtp_auth):
    # given
    adapter = _adapter(smtp_auth, username="shop@alpha.test", password="wrong")
    # when
    results = [r for _, r in adapter.send_many([_message(1), _message(2)])]
    # then
    assert all(isinstance(r, PermanentError) and r.key == "bad_credentials" for r in results)
    assert "username and password" in results[0].reason
    assert smtp_auth.received == []


@pytest.mark.slow
def test_the_right_password_signs_in_and_sends(smtp_auth):
    # given
    adapter = _adapter(smtp_auth, username="shop@alpha.test", password="right-password")
    # when
    ((_, result),) = adapter.send_many([_message(1)])
    # then
    assert result.provider_id
    assert smtp_auth.logins == ["shop@alpha.test"] and len(smtp_auth.received) == 1


@pytest.mark.slow
def test_the_platform_credentials_never_go_to_a_partner_server(smtp, settings):
    # given platform credentials, and a partner server that offers no AUTH at all
    settings.EMAIL_HOST_USER = "platform@coupons.test"
    settings.EMAIL_HOST_PASSWORD = "platform-secret"
    # when the partner account has no username
    ((_, result),) = _adapter(smtp).send_many([_message(1)])
    # then no sign-in was attempted (it would fail: the server offers no AUTH)
    assert result.provider_id and len(smtp.received) == 1


def test_a_server_that_is_down_is_retryable_for_the_whole_batch():
    # given nobody listening
    adapter = EmailAdapter(
        config={"mode": "smtp", "host": "127.0.0.1", "port": closed_port()}, secrets={}
    )
    # when
    results = [r for _, r in adapter.send_many([_message(1), _message(2)])]
    # then
    assert [r.key for r in results] == ["connection_refused", "connection_refused"]
    assert all(isinstance(r, RetryableError) for r in results)
    assert "refused the connection" in results[0].reason


@pytest.mark.slow
def test_a_silent_server_times_out(settings):
    settings.MESSAGING_TIMEOUT = 1
    with silent_server() as (host, port):
        # given a server that accepts and never answers
        adapter = EmailAdapter(config={"mode": "smtp", "host": host, "port": port}, secrets={})
        # when
        ((_, result),) = adapter.send_many([_message(1)])
    # then
    assert isinstance(result, RetryableError) and result.key == "timeout"
    assert "1 seconds" in result.reason


@pytest.mark.slow
def test_a_dropped_connection_is_reopened_once(smtp):
    # given a server that hangs up (421) after two messages on a connection
    smtp.hangup_after = 2
    # when four messages go
    results = [r for _, r in _adapter(smtp).send_many([_message(n) for n in range(4)])]
    # then the adapter reconnected once and everything arrived
    assert all(r.provider_id for r in results)
    assert smtp.connections == 2 and len(smtp.received) == 4


@pytest.mark.slow
def test_a_second_drop_makes_the_rest_retryable(smtp):
    # given a server that hangs up after every message
    smtp.hangup_after = 1
    # when
    results = [r for _, r in _adapter(smtp).send_many([_message(n) for n in range(4)])]
    # then: one on the first connection, one after the single reconnect, the rest retry later
    assert [getattr(r, "key", "sent") for r in results] == [
        "sent",
        "sent",
        "temporary_failure",
        "temporary_failure",
    ]
    assert all(isinstance(r, RetryableError) for r in results[2:])
    assert len(smtp.received) == 2


@pytest.mark.slow
def test_a_drop_after_the_content_went_out_is_not_sent_again(smtp):
    # given a server that takes the message and hangs up without confirming it
    smtp.drop_after_data_for = {"r1@example.test"}
    # when
    results = [r for _, r in _adapter(smtp).send_many([_message(1), _message(2)])]
    # then the first is "outcome unknown" (never resent), the second goes on a new connection
    assert isinstance(results[0], PermanentError) and results[0].key == "outcome_unknown"
    assert results[1].provider_id
    assert [r.rcpt_tos for r in smtp.received] == [["r1@example.test"], ["r2@example.test"]]


@pytest.mark.slow
def test_an_unusable_address_is_permanent(smtp):
    # when
    ((_, result),) = _adapter(smtp).send_many([_message(1, to="not an address")])
    # then
    assert isinstance(result, PermanentError) and result.key == "invalid_address"
    assert smtp.received == []


def test_platform_mode_uses_the_configured_backend(settings):
    # given the test settings' in-memory backend
    settings.DEFAULT_FROM_EMAIL = "Coupons <no-reply@coupons.test>"
    adapter = EmailAdapter(
        config={"mode": "platform", "from_email": "ignored@alpha.test"}, secrets={}
    )
    # when
    result = adapter.send(_message(1))
    # then
    (sent,) = mail.outbox
    assert sent.from_email == "Coupons <no-reply@coupons.test>"
    assert sent.alternatives[0][1] == "text/html"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent.extra_headers["Message-ID"] == result.provider_id
    assert "there is no server to connect to" in adapter.test_connection()


@pytest.mark.slow
def test_platform_mode_over_smtp_uses_the_platform_server_and_sender(smtp, settings):
    # given the platform's sender is an SMTP server (the fake)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp.host, smtp.port
    settings.DEFAULT_FROM_EMAIL = "Coupons <no-reply@coupons.test>"
    adapter = EmailAdapter(config={"mode": "platform", "reply_to": "help@alpha.test"}, secrets={})
    # when
    checked = adapter.test_connection()
    ((_, result),) = adapter.send_many([_message(1)])
    # then the partner learns nothing of the operator's server or account
    assert checked == (
        "The platform's sender is ready: its server accepts mail from no-reply@coupons.test."
    )
    (received,) = smtp.received
    assert received.mail_from == "no-reply@coupons.test"
    assert received.message["Reply-To"] == "help@alpha.test"
    assert result.provider_id == received.message["Message-ID"]


# --- the message as bytes -------------------------------------------------------------------

_DATE = re.compile(rb"^Date: [^\r]*\r\n", re.MULTILINE)


def _django_bytes(adapter: EmailAdapter, message: OutgoingMessage, boundary: str) -> bytes:
    """What Django writes for the message (the way _transmit sends it), Date left out."""
    mime = adapter._email(message, "<1.2.3@alpha.test>").message()
    if mime.is_multipart():
        mime.set_boundary(f"=={boundary}==")
    return _DATE.sub(b"Date: -\r\n", mime.as_bytes(linesep="\r\n"))


def _raw_bytes(adapter: EmailAdapter, message: OutgoingMessage, boundary: str) -> bytes | None:
    raw = adapter._raw(message, "<1.2.3@alpha.test>", boundary=boundary)
    return None if raw is None else _DATE.sub(b"Date: -\r\n", raw.content)


_LONG_LINK = "<http://localhost:8000/p/alpha/m/u/WzEsImVtYWlsIl0:1uABCDEFGHIJKLMNOPQRSTUVWXYZab/>"


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"html": ""},
        {"subject": "Café für Zoë — 10 % de réduction", "name": "Zoë Ünal"},
        {"text": "Grüße\r\nline two\rline three\n", "html": "<p>€ 5</p>\r\n"},
        {"name": 'Smith, "Jo" (VIP)', "to": "jo.smith+vip@Example-Shop.TEST"},
        {"subject": "A long subject that will have to be folded " * 3},
        {"subject": "x" * 120, "name": ""},
        {"headers": {"List-Unsubscribe": f"{_LONG_LINK}, <mailto:u@alpha.test?subject=u>"}},
        {"headers": {"List-Unsubscribe": _LONG_LINK, "X-Campaign": "Été  2024 "}},
        {"text": "z" * 998 + "\n" + "é" * 499},
    ],
)
def test_the_message_written_directly_is_byte_for_byte_djangos(smtp, changes):
    # given
    adapter = _adapter(smtp, reply_to="help@alpha.test")
    message = replace(_message(7), **{"name": "Ann Example", **changes})
    # when
    raw = _raw_bytes(adapter, message, "ab" * 16)
    # then
    assert raw is not None
    assert raw == _django_bytes(adapter, message, "ab" * 16)


@pytest.mark.slow
def test_random_messages_are_written_as_django_writes_them_or_left_to_it(smtp):
    # given messages made of characters that make header folding and encoding differ
    rng = random.Random(8)  # noqa: S311 - reproducible test data
    alphabet = "abcXYZ  \t,;:\"'<>()@.\\=?_-éü€\x7f"
    adapter = _adapter(smtp, reply_to="help@alpha.test")

    def text(longest: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))

    written = 0
    for n in range(400):
        message = replace(
            _message(n),
            name=rng.choice(["", text(12), text(90)]),
            subject=rng.choice([text(20), text(100), "w" * rng.randint(60, 120)]),
            text=rng.choice(["a", text(40), "é\n" * 3, "z" * 999, "a\r\n\r\nb\n"]),
            html=rng.choice(["", "<p>" + text(20), "<b>é</b>\r"]),
            headers={"X-Tag": text(100)} if n % 2 else _message(n).headers,
        )
        # when
        raw = _raw_bytes(adapter, message, f"{n:032x}")
        # then
        if raw is not None:
            written += 1
            assert raw == _django_bytes(adapter, message, f"{n:032x}"), message
    assert written > 300


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes",
    [
        {"text": "y" * 999},  # Django switches to quoted-printable
        {"subject": "Hello\nBcc: everyone@example.test"},  # Django refuses it
        {"name": "Ann\r\n"},
        {"headers": {"Date": "Mon, 1 Jan 2024 00:00:00 -0000"}},
        {"headers": {"to": "someone@else.test"}},
        {"headers": {"Bad Name": "x"}},
        {"to": '"ann smith"@example.test'},
        {"text": ""},
        {"text": "lone \udc80 surrogate"},
    ],
)
def test_unusual_messages_are_left_to_django(smtp, changes):
    message = replace(_message(1), **changes)
    assert _adapter(smtp)._raw(message, "<1@alpha.test>") is None


@pytest.mark.slow
def test_a_charset_other_than_utf8_is_left_to_django(smtp, settings):
    settings.DEFAULT_CHARSET = "iso-8859-1"
    assert _adapter(smtp)._raw(_message(1), "<1@alpha.test>") is None


@pytest.mark.slow
def test_written_messages_arrive_with_their_headers_parts_and_encodings(smtp):
    # given one plain message, one in other scripts, and one Django writes (a long line)
    adapter = _adapter(smtp, reply_to="help@alpha.test")
    plain = _message(1)
    accented = replace(
        _message(2),
        subject="Ваш код: ABC-2 🎁",
        name="Zoë, the First",
        text="Grüße\nCode: ABC-2",
        html="<p>Grüße <b>ABC-2</b></p>",
    )
    long_line = replace(_message(3), text="Code " * 300)
    # when
    results = [r for _, r in adapter.send_many([plain, accented, long_line])]
    # then all three arrive, over one connection, each with its own Message-ID
    assert smtp.connections == 1
    assert [r.message["Message-ID"] for r in smtp.received] == [r.provider_id for r in results]
    first, second, third = (r.message for r in smtp.received)
    assert [r.rcpt_tos for r in smtp.received] == [[m.to] for m in (plain, accented, long_line)]
    assert first["Subject"] == "Your code 1" and first["To"] == "r1@example.test"
    assert first["From"] == "Alpha Retail <offers@alpha.test>"
    assert first["Reply-To"] == "help@alpha.test" and first["Date"] is not None
    assert first["MIME-Version"] == "1.0"
    assert first.get_content_type() == "multipart/alternative"
    text, html = first.get_payload()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text["Content-Transfer-Encoding"] == html["Content-Transfer-Encoding"] == "7bit"
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    assert second["Subject"] == "Ваш код: ABC-2 🎁"
    assert second["To"].addresses[0].display_name == "Zoë, the First"
    assert second.get_body(("plain",)).get_content() == "Grüße\r\nCode: ABC-2"
    assert second.get_body(("html",)).get_content() == "<p>Grüße <b>ABC-2</b></p>"
    assert second.get_body(("plain",))["Content-Transfer-Encoding"] == "8bit"
    assert third.get_body(("plain",))["Content-Transfer-Encoding"] == "quoted-printable"
    assert third.get_body(("plain",)).get_content() == "Code " * 300
    assert all(len(line) <= 998 for r in smtp.received for line in r.content.split(b"\r\n"))


@pytest.mark.slow
def test_a_header_with_a_newline_still_fails_as_before(smtp):
    # given
    bad = replace(_message(1), subject="Hi\nBcc: all@example.test")
    # when
    results = [r for _, r in _adapter(smtp).send_many([bad, _message(2)])]
    # then the bad one fails with its reason and the batch goes on
    assert isinstance(results[0], PermanentError) and results[0].key == "invalid_message"
    assert results[1].provider_id
    assert [r.rcpt_tos for r in smtp.received] == [["r2@example.test"]]


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.test",
        "o'neil+tag@Sub.Example-Shop.TEST",
        "Alpha Retail <offers@alpha.test>",
        '"Smith, Jo" <jo@example.test>',
        '"ann smith"@example.test',
        "a..b@example.test",
        "nonsense",
        "<>",
        "",
    ],
)
def test_envelope_addresses_are_quoted_as_smtplib_quotes_them(address):
    assert _quote(address) == smtplib.quoteaddr(address)


@pytest.mark.slow
def test_the_envelope_has_the_plain_addresses(smtp):
    # given a sender with a display name and a recipient with a name
    adapter = _adapter(smtp)
    message = replace(_message(1), name="Ann, Example")
    # when
    adapter.send(message)
    # then MAIL FROM and RCPT TO carry the addresses only
    (received,) = smtp.received
    assert received.mail_from == "offers@alpha.test"
    assert received.rcpt_tos == ["r1@example.test"]


# --- test connection ------------------------------------------------------------------------


@pytest.mark.slow
def test_test_connection_signs_in_and_checks_the_sender(smtp_auth):
    adapter = _adapter(smtp_auth, username="shop@alpha.test", password="right-password")
    assert adapter.test_connection() == (
        f"Connected to 127.0.0.1:{smtp_auth.port} and signed in as shop@alpha.test; "
        "the server accepts mail from offers@alpha.test."
    )
    assert smtp_auth.received == []  # nothing was sent


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "key", "words"),
    [
        ("bad_password", "bad_credentials", "refused the username and password"),
        ("refused", "connection_refused", "refused the connection"),
        ("starttls", "tls_failed", "does not offer STARTTLS"),
        ("ssl", "tls_failed", "secure connection (TLS)"),
        ("sender", "sender_not_allowed", "refused the sender address"),
        ("no_host", "misconfigured", "No SMTP host"),
    ],
)
def test_test_connection_says_what_is_wrong(smtp_auth, case, key, words):
    # given
    config = {}
    password = "right-password"
    if case == "bad_password":
        password = "wrong"
    elif case == "refused":
        config = {"port": closed_port()}
    elif case == "starttls":
        config = {"use_tls": True}
    elif case == "ssl":
        config = {"use_ssl": True}
    elif case == "sender":
        smtp_auth.sender_answers["offers@alpha.test"] = "553 5.7.1 Not your address"
    elif case == "no_host":
        config = {"host": ""}
    adapter = _adapter(smtp_auth, username="shop@alpha.test", password=password, **config)
    # when
    with pytest.raises((PermanentError, RetryableError)) as caught:
        adapter.test_connection()
    # then
    assert caught.value.key == key
    assert words in caught.value.reason


@pytest.mark.slow
def test_test_connection_times_out(settings):
    settings.MESSAGING_TIMEOUT = 1
    with silent_server() as (host, port):
        adapter = EmailAdapter(config={"mode": "smtp", "host": host, "port": port}, secrets={})
        with pytest.raises(RetryableError) as caught:
            adapter.test_connection()
    assert caught.value.key == "timeout"
    assert "did not answer within 1 seconds" in caught.value.reason


@pytest.mark.slow
def test_the_channel_page_test_records_the_answer(smtp_auth, in_partner):
    # given an account with a wrong password
    account = _account(smtp_auth, username="shop@alpha.test", password="wrong")
    # when
    ok, message = channel_account_test(account=account)
    # then
    assert not ok and "refused the username and password" in message
    assert account.last_test_ok is False


# --- the outbox, end to end -----------------------------------------------------------------


@pytest.mark.slow
def test_queued_emails_are_delivered_with_unsubscribe_headers(smtp, in_partner):
    # given
    _account(smtp)
    ann = CustomerFactory(ann=True)
    _queue(ann)
    # when
    totals = outbox_send("email")
    # then
    assert totals["sent"] == 1
    (received,) = smtp.received
    assert received.rcpt_tos == ["ann@example.test"]
    assert "ABC-123" in received.text and "<strong>ABC-123</strong>" in received.html
    headers = received.message
    assert headers["List-Unsubscribe"].strip() == f"<{unsubscribe_url(ann.pk)}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["Reply-To"] == "help@alpha.test"
    row = OutboxMessage.objects.get()
    assert row.status == Status.SENT and row.sent_at is not None
    assert row.provider_id == headers["Message-ID"]


@pytest.mark.slow
def test_sending_a_batch_reads_nothing_row_by_row(smtp, in_partner):
    # given
    _account(smtp, rate_limit=1000)
    _queue(*(CustomerFactory(email=f"a{n}@example.test") for n in range(2)))
    with CaptureQueriesContext(connection) as two:
        outbox_send("email")
    _queue(*(CustomerFactory(email=f"b{n}@example.test") for n in range(8)))
    # when
    with CaptureQueriesContext(connection) as eight:
        totals = outbox_send("email")
    # then
    assert totals["sent"] == 8 and len(smtp.received) == 10
    assert len(eight.captured_queries) == len(two.captured_queries)
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}


@pytest.mark.slow
def test_the_queue_kick_starts_the_send_job(
    partner_a, smtp, run_jobs, django_capture_on_commit_callbacks
):
    with schema_context(partner_a.schema_name):
        # given
        _account(smtp)
        ann = CustomerFactory(ann=True)
        with django_capture_on_commit_callbacks(execute=True):
            _queue(ann)
    # when the worker runs the jobs the kick queued
    run_jobs("default")
    # then
    with schema_context(partner_a.schema_name):
        assert OutboxMessage.objects.get().status == Status.SENT
    assert len(smtp.received) == 1


@pytest.mark.slow
def test_451_puts_the_message_back_to_pending_with_a_backoff(partner_a, smtp, settings):
    settings.MESSAGING_RETRY_BASE = 60
    with schema_context(partner_a.schema_name):
        # given
        _account(smtp)
        smtp.answers["ann@example.test"] = "451 4.7.1 Greylisted"
        _queue(CustomerFactory(ann=True))
        # when
        totals = outbox_send("email")
        # then
        row = OutboxMessage.objects.get()
        assert totals["retry"] == 1
        assert (row.status, row.attempts, row.error_key) == (
            Status.PENDING,
            1,
            "temporary_failure",
        )
        assert row.next_attempt_at > timezone.now() + timedelta(seconds=30)
        assert "451 4.7.1 Greylisted" in row.last_error
        # and when the server accepts it at the next attempt
        del smtp.answers["ann@example.test"]
        OutboxMessage.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        outbox_send("email")
        row.refresh_from_db()
        assert (row.status, row.attempts) == (Status.SENT, 2)
        assert len(smtp.received) == 1


@pytest.mark.slow
def test_550_fails_the_message_with_the_reason(smtp, in_partner):
    # given
    _account(smtp)
    smtp.answers["ann@example.test"] = "550 5.1.1 <ann@example.test>: User unknown"
    _queue(CustomerFactory(ann=True))
    # when
    outbox_send("email")
    # then
    row = OutboxMessage.objects.get()
    assert (row.status, row.error_key) == (Status.FAILED, "invalid_address")
    assert "ann@example.test" in row.last_error and "550 5.1.1" in row.last_error
    assert row.next_attempt_at is None


@pytest.mark.slow
def test_a_bad_password_fails_the_messages_with_bad_credentials(smtp_auth, in_partner):
    # given
    _account(smtp_auth, username="shop@alpha.test", password="wrong")
    _queue(CustomerFactory(ann=True), CustomerFactory(email="bob@example.test"))
    # when
    outbox_send("email")
    # then
    rows = OutboxMessage.objects.all()
    assert {(r.status, r.error_key) for r in rows} == {(Status.FAILED, "bad_credentials")}
    assert smtp_auth.received == []


def test_a_server_that_is_down_leaves_the_messages_to_retry(in_partner):
    # given an account whose server is down
    ChannelAccount.objects.create(
        channel="email", config={"mode": "smtp", "host": "127.0.0.1", "port": closed_port()}
    )
    _queue(CustomerFactory(ann=True))
    # when
    outbox_send("email")
    # then
    row = OutboxMessage.objects.get()
    assert (row.status, row.attempts, row.error_key) == (
        Status.PENDING,
        1,
        "connection_refused",
    )
    assert row.next_attempt_at is not None


@pytest.mark.slow
def test_a_send_job_run_twice_sends_once(smtp, in_partner):
    # given
    _account(smtp)
    _queue(*[CustomerFactory(email=f"c{n}@example.test") for n in range(5)])
    # when
    first = outbox_send("email")
    second = outbox_send("email")
    # then
    assert (first["sent"], second["sent"]) == (5, 0)
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == [f"c{n}@example.test" for n in range(5)]


@pytest.mark.slow
@committed_db()
def test_two_concurrent_send_jobs_send_each_message_once(
    partner_a, smtp, settings, empty_partner_schemas
):
    settings.MESSAGING_BATCH_SIZE = 7
    with schema_context(partner_a.schema_name):
        # given 60 queued emails
        _account(smtp, rate_limit=1000)
        _queue(*[CustomerFactory(email=f"c{n}@example.test") for n in range(60)])
    barrier = threading.Barrier(2)
    totals: list[dict] = []

    def worker():
        with schema_context(partner_a.schema_name):
            barrier.wait()
            totals.append(outbox_send("email"))
        connection.close()

    # when two jobs drain the outbox at the same time
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then every message arrived exactly once and every row is sent
    recipients = [r.rcpt_tos[0] for r in smtp.received]
    assert len(recipients) == len(set(recipients)) == 60
    assert sum(t["sent"] for t in totals) == 60
    with schema_context(partner_a.schema_name):
        assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}


# --- unsubscribe ----------------------------------------------------------------------------


def _url(token: str, slug: str = "alpha") -> str:
    return f"/p/{slug}/m/u/{token}/"


def test_the_headers_name_the_one_click_url(partner_a, settings):
    settings.UNSUBSCRIBE_MAILTO = "unsubscribe@coupons.test"
    with schema_context(partner_a.schema_name):
        ann = CustomerFactory(ann=True)
        headers = email_headers(ann.pk)
    url = f"http://localhost:8000/p/alpha/m/u/{unsubscribe_token(ann.pk, schema_name='p_alpha')}/"
    assert headers == {
        "List-Unsubscribe": f"<{url}>, <mailto:unsubscribe@coupons.test?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_the_link_asks_first_and_changes_nothing_on_get(partner_a, client):
    with schema_context(partner_a.schema_name):
        # given
        ann = CustomerFactory(ann=True, email="anna.smith@example.test")
        token = unsubscribe_token(ann.pk)
    # when
    response = client.get(_url(token))
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "Unsubscribe a•••@example.test from Alpha Retail emails?" in page
    assert "anna.smith" not in page
    with schema_context(partner_a.schema_name):
        assert Customer.objects.get(pk=ann.pk).email_consent is True


def test_the_button_unsubscribes(partner_a):
    browser = Client(enforce_csrf_checks=True)
    with schema_context(partner_a.schema_name):
        # given the page with its form
        ann = CustomerFactory(ann=True)
        _queue(ann)  # one email still waiting
        url = _url(unsubscribe_token(ann.pk))
    page = browser.get(url).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    # when the person presses the button
    response = browser.post(url, {"csrfmiddlewaretoken": csrf})
    # then
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    with schema_context(partner_a.schema_name):
        ann.refresh_from_db()
        assert ann.email_consent is False and ann.email_consent_source == "unsubscribe_link"
        assert OutboxMessage.objects.get().status == Status.SKIPPED
        event = Event.objects.get(customer=ann, type="customer.unsubscribed")
        assert event.payload == {"channel": "email", "source": "unsubscribe_link"}


def test_the_one_click_post_works_without_csrf_and_twice(partner_a):
    mail_client = Client(enforce_csrf_checks=True)
    with schema_context(partner_a.schema_name):
        ann = CustomerFactory(ann=True)
        url = _url(unsubscribe_token(ann.pk))
    # when a mail client POSTs as RFC 8058 says, twice
    for _ in range(2):
        response = mail_client.post(
            url,
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200
    # then the customer is out, recorded once
    with schema_context(partner_a.schema_name):
        assert Customer.objects.get(pk=ann.pk).email_consent is False
        assert Event.objects.filter(customer=ann, type="customer.unsubscribed").count() == 1


@pytest.mark.parametrize("how", ["garbage", "tampered_id", "other_salt"])
def test_a_forged_token_is_a_404_and_changes_nothing(partner_a, client, how):
    with schema_context(partner_a.schema_name):
        # given
        ann = CustomerFactory(ann=True)
        other = CustomerFactory(email="bob@example.test")
        good = unsubscribe_token(ann.pk)
    if how == "garbage":
        token = "not-a-token"
    elif how == "tampered_id":
        # Bob's payload with the rest (timestamp, signature) of Ann's token
        bob = signing.Signer(salt="x").sign_object([other.pk, "email"]).split(":")[0]
        token = bob + good[good.index(":") :]
    else:
        token = signing.Signer(salt="someone-else").sign_object([ann.pk, "email"])
    # when
    responses = [client.get(_url(token)), client.post(_url(token))]
    # then
    for response in responses:
        assert response.status_code == 404
        assert "The link is invalid" in response.content.decode()
    with schema_context(partner_a.schema_name):
        assert Customer.objects.filter(email_consent=False).count() == 0
        assert not Event.objects.filter(type="customer.unsubscribed").exists()


def test_a_token_of_another_partner_is_useless_here(partner_a, partner_b, client):
    with schema_context(partner_a.schema_name):
        # given a customer of alpha…
        ann = CustomerFactory(ann=True)
    # …and beta's token for the same customer id
    token = unsubscribe_token(ann.pk, schema_name=partner_b.schema_name)
    # when it is used under alpha's URL
    response = client.post(_url(token, "alpha"))
    # then
    assert response.status_code == 404
    with schema_context(partner_a.schema_name):
        assert Customer.objects.get(pk=ann.pk).email_consent is True
    # and alpha's own token is refused under beta's URL
    assert (
        client.post(_url(unsubscribe_token(ann.pk, schema_name="p_alpha"), "beta")).status_code
        == 404
    )


def test_a_token_for_a_deleted_customer_is_a_404(partner_a, client):
    with schema_context(partner_a.schema_name):
        ann = CustomerFactory(ann=True)
        token = unsubscribe_token(ann.pk)
        ann.delete()
    assert client.post(_url(token)).status_code == 404
