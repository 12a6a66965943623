"""Who may be messaged on a channel, and why a message is skipped: one rule, used by the
one-by-one queue (`skip_reason`, apps.messaging.services) and by the set-based queue
(`skip_reason_sql`, apps.messaging.bulk). The checks are listed once, in order: the first that
fails names the reason.
"""

from __future__ import annotations

from typing import Any

from apps.customers.fields import consent_columns

# Which customer field holds the address, and which consent a channel needs.
ADDRESS_FIELD = {"email": "email", "sms": "phone", "mailchimp": "email", "intercom": "email"}
# Which of the customer's consents (apps.customers.fields.CHANNELS) a channel needs.
CONSENT_CHANNEL = {"email": "email", "sms": "sms", "mailchimp": "email", "intercom": "email"}
CONSENT_FIELD = {channel: consent_columns(of)[0] for channel, of in CONSENT_CHANNEL.items()}
SKIP_REASONS = {
    "no_consent": "The customer has not agreed to (or opted out of) messages on this channel.",
    "no_address": "The customer has no address for this channel.",
}
# The checks, in order: (reason, does the customer lack it?) for Python and for SQL.
_CHECKS: list[tuple[str, str]] = [("no_address", "address"), ("no_consent", "consent")]


def skip_reason(channel: str, customer: Any, recipient: str) -> str:
    """ "" when the message may go, else the key of the reason it is skipped. `customer` None
    is an explicit recipient typed by staff (a test message): no consent applies."""
    if customer is None:
        return "" if recipient else "no_address"
    for reason, check in _CHECKS:
        if check == "address" and not recipient:
            return reason
        if check == "consent" and not getattr(customer, CONSENT_FIELD[channel]):
            return reason
    return ""


def skip_reason_sql(channel: str, *, alias: str, text: bool = False) -> str:
    """The same rule as a SQL CASE over the customer row `alias`: the reason's key, or with
    `text` the sentence (from %(reason_<key>)s parameters, see `skip_reason_params`)."""
    sql = {
        "address": f"COALESCE({alias}.{ADDRESS_FIELD[channel]}, '') = ''",
        "consent": f"NOT {alias}.{CONSENT_FIELD[channel]}",
    }
    whens = " ".join(
        f"WHEN {sql[check]} THEN " + (f"%(reason_{reason})s" if text else f"'{reason}'")
        for reason, check in _CHECKS
    )
    return f"CASE {whens} ELSE '' END"


def skip_reason_params() -> dict[str, str]:
    return {f"reason_{reason}": SKIP_REASONS[reason] for reason, _ in _CHECKS}
