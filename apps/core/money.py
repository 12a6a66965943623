"""Amounts of money: integers in minor units (2599 is 25.99), checked in one place.

Every way an amount comes in (the API's JSON numbers, order lines, the merchant form's "25.99")
goes through `minor_units`, so the same bounds and the same messages apply everywhere.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from apps.core.errors import DomainError

MAX_AMOUNT = 10**12  # minor units: ten billion in a two-decimal currency


class AmountError(DomainError):
    """An amount that cannot be used, with a sentence naming the field and what to write."""

    key = "invalid_amount"


def json_kind(value: object) -> str:
    """The JSON name of a value's type, for messages ("not a string")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def minor_units(value: object, *, where: str = "The order amount", digits: bool = False) -> int:
    """`value` as a whole, non-negative number of minor units no larger than MAX_AMOUNT.
    `digits` also takes a string of digits ("2599", from a form or a query string)."""
    if isinstance(value, str) and digits:
        try:
            value = int(value.strip())
        except ValueError:
            raise AmountError(
                f"{where} must be a whole number of minor units (cents), e.g. 2599 for 25.99."
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AmountError(
            f"{where} must be a whole number of minor units (cents), e.g. 2599 for 25.99, "
            f"not {json_kind(value)}."
        )
    if value < 0:
        raise AmountError(f"{where} cannot be negative.")
    if value > MAX_AMOUNT:
        raise AmountError(f"{where} is too large (at most {MAX_AMOUNT:,}).")
    return value


def decimal_minor_units(text: str, *, where: str = "The order amount") -> int:
    """A typed amount in major units ("25.99") → 2599. Refuses rather than rounds, so a typo
    never turns into a different discount."""
    raw = text.strip().replace(" ", "")
    if "," in raw:
        raise AmountError(
            "Write the amount with a dot for the cents and no thousands separator, e.g. 1250.99."
        )
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise AmountError(f"Enter {where.lower()} as a number, e.g. 25.99.") from None
    if not amount.is_finite():
        raise AmountError(f"Enter {where.lower()} as a number, e.g. 25.99.")
    if amount < 0:
        raise AmountError(f"{where} cannot be negative.")
    # Size first: multiplying an absurd exponent such as 1e999999 would overflow.
    if amount > Decimal(MAX_AMOUNT) / 100:
        raise AmountError(f"{where} is too large: at most {MAX_AMOUNT // 100:,}.")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise AmountError("Enter at most two digits after the dot (whole cents), e.g. 25.99.")
    return minor_units(int(cents), where=where)
