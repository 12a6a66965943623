"""The customer's columns grouped by how they are written, named once: the customer form, the
services, the export and the CSV import each take the groups they need, so a field added to
Customer is added to all of them here (the order is the form's and the export's)."""

from __future__ import annotations

CHANNELS = ("email", "sms")  # the channels a customer gives marketing consent for

ADDRESS_FIELDS = ("address_line_1", "address_line_2", "postal_code", "city", "state", "country")
# Plain text a person may leave empty ("" when missing, no uniqueness rule).
TEXT_FIELDS = ("name", "phone", *ADDRESS_FIELDS)
# Everything about the person but metadata and consent, in form order.
PROFILE_FIELDS = ("source_id", "name", "email", "phone", *ADDRESS_FIELDS, "birthdate")
# Fields a person or an API call may set directly (consent is given or withdrawn per channel,
# which also records its source and time).
ATTRIBUTES = (*PROFILE_FIELDS, "metadata")
CONSENT_FIELDS = tuple(f"{channel}_consent" for channel in CHANNELS)


def consent_columns(channel: str) -> tuple[str, str, str]:
    """A channel's consent as stored: whether it is given, by which source, and when."""
    return f"{channel}_consent", f"{channel}_consent_source", f"{channel}_consent_at"


CONSENT_COLUMNS = tuple(column for channel in CHANNELS for column in consent_columns(channel))
