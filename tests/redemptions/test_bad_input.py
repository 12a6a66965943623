"""Bad input to the redemption service: each gets a clear error naming the problem, changes
no voucher or redemption, and is still recorded in the attempt log."""

from __future__ import annotations

import pytest

from apps.redemptions.models import Redemption, RedemptionAttempt
from apps.redemptions.services import (
    MAX_CODE_LENGTH,
    RedemptionError,
    redemption_rollback,
    voucher_redeem,
    voucher_validate,
)


def _state(voucher):
    voucher.refresh_from_db()
    return voucher.redeemed_quantity, Redemption.objects.count()


@pytest.mark.parametrize(
    "typed",
    [
        "spring-aaaa",  # lower case
        "  SPRING-AAAA\t",  # spaces around
        "SPRING - AAAA",  # spaces inside, as read out over the phone
        "Spring-aAaA\n",
        "ＳＰＲＩＮＧ－ＡＡＡＡ",  # full-width forms from an East Asian keyboard (NFKC)
    ],
)
def test_harmless_variants_of_a_code_are_normalised_and_accepted(shop, typed):
    actor, voucher = shop
    # when
    redemption = voucher_redeem(actor=actor, code=typed)
    # then
    assert redemption.voucher == voucher
    assert RedemptionAttempt.objects.get().code == "SPRING-AAAA"


@pytest.mark.parametrize(
    "typed, key, reason, sentence",
    [
        ("SPRING-AAAА", "not_found", "invalid_code", "look-alike letters"),  # Cyrillic А
        ("SPRΙNG-AAAA", "not_found", "invalid_code", "look-alike letters"),  # Greek Ι
        ("SPRING-AAAA\x00", "not_found", "invalid_code", "look-alike letters"),
        ("SPRING-AAAA\u200b", "not_found", "invalid_code", "look-alike letters"),  # zero width
        ("A" * 10_240, "not_found", "invalid_code", f"at most {MAX_CODE_LENGTH} characters"),
        ("A" * (MAX_CODE_LENGTH + 1), "not_found", "invalid_code", "at most"),
        ("SPRING-AAAB", "not_found", "not_found", "Check the spelling"),
        ("", "missing_code", "missing_code", "Enter a code"),
        ("   ", "missing_code", "missing_code", "Enter a code"),
        (None, "missing_code", "missing_code", "Enter a code"),
        (12345, "missing_code", "missing_code", "Enter a code"),
        (["SPRING-AAAA"], "missing_code", "missing_code", "Enter a code"),
    ],
    ids=[
        "cyrillic",
        "greek",
        "nul",
        "zero-width",
        "10kb",
        "101",
        "unknown",
        "empty",
        "blank",
        "none",
        "number",
        "list",
    ],
)
@pytest.mark.parametrize("service", [voucher_validate, voucher_redeem], ids=["check", "redeem"])
def test_bad_codes_get_a_clear_error_and_change_nothing(
    shop, service, typed, key, reason, sentence
):
    actor, voucher = shop
    before = _state(voucher)
    # when
    with pytest.raises(RedemptionError) as exc:
        service(actor=actor, code=typed, order_amount=1000)
    # then
    assert (exc.value.key, exc.value.reason) == (key, reason)
    assert sentence in exc.value.message
    assert _state(voucher) == before
    attempt = RedemptionAttempt.objects.get()
    assert (attempt.ok, attempt.reason, attempt.merchant) == (False, reason, actor.merchant)
    assert len(attempt.code) <= MAX_CODE_LENGTH and "\x00" not in attempt.code


@pytest.mark.parametrize(
    "amount, sentence",
    [
        (-1, "cannot be negative"),
        ("-2599", "cannot be negative"),
        (10**13, "too large"),
        ("9" * 400, "too large"),
        ("25.99", "whole number of minor units"),
        (25.99, "whole number of minor units"),
        ("1e3", "whole number of minor units"),
        ("abc", "whole number of minor units"),
        (True, "whole number of minor units"),
        ({"value": 1}, "whole number of minor units"),
    ],
)
@pytest.mark.parametrize("service", [voucher_validate, voucher_redeem], ids=["check", "redeem"])
def test_bad_amounts_get_a_clear_error_and_change_nothing(shop, service, amount, sentence):
    actor, voucher = shop
    before = _state(voucher)
    # when
    with pytest.raises(RedemptionError) as exc:
        service(actor=actor, code="SPRING-AAAA", order_amount=amount)
    # then
    assert exc.value.key == "invalid_amount"
    assert sentence in exc.value.message
    assert _state(voucher) == before
    attempt = RedemptionAttempt.objects.get()
    assert (attempt.ok, attempt.reason, attempt.code) == (False, "invalid_amount", "SPRING-AAAA")


def test_zero_and_the_largest_amount_are_accepted(shop):
    actor, _ = shop
    # when / then
    assert voucher_validate(actor=actor, code="SPRING-AAAA", order_amount=0).discount == 0
    assert voucher_validate(actor=actor, code="SPRING-AAAA", order_amount=10**12).discount == 500


def test_nul_in_free_text_is_stored_safely(shop):
    # given text PostgreSQL cannot hold, as an API client might send it
    actor, _ = shop
    # when
    redemption = voucher_redeem(actor=actor, code="SPRING-AAAA", customer_ref="card\x00 42")
    # then
    redemption.refresh_from_db()
    assert redemption.customer_ref == "card\ufffd 42"


def test_rollback_of_a_malformed_id_is_not_found(shop):
    actor, _ = shop
    # when / then
    for bad in ("r_\x00", "x" * 10_000, "' OR 1=1 --"):
        with pytest.raises(RedemptionError) as exc:
            redemption_rollback(actor=actor, redemption_id=bad)
        assert exc.value.key == "not_found"
