"""Validate, redeem and roll back codes: the one place where a code's redemption count moves.

Redeeming is lock → re-check → write (STYLE "Concurrency"): the voucher row is locked with
SELECT … FOR UPDATE, every rule is checked again under the lock, the counter moves with F(),
and a check constraint on the table is the backstop. Every attempt, failed or not, is recorded
with who made it. Error keys are Voucherify's, so the API can return them as they are.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps import rollups
from apps.accounts.models import User
from apps.campaigns.codegen import normalize_code
from apps.campaigns.models import Campaign, DiscountType, Voucher
from apps.core.errors import DomainError
from apps.core.money import AmountError, minor_units
from apps.core.sql import prepared
from apps.customers.events import audience_changed
from apps.redemptions.models import (
    Channel,
    Merchant,
    Redemption,
    RedemptionAttempt,
    rollback_public_id,
)
from apps.tenancy.current import current_partner_id

MAX_CODE_LENGTH = 100
# How long after redeeming a merchant may still roll a redemption back.
ROLLBACK_WINDOW = dt.timedelta(hours=24)


class RedemptionError(DomainError):
    """A refused validation, redemption or rollback. `key` is the API error key; `reason` is
    the finer cause shown in attempt logs (e.g. `outside_valid_window` for the API's
    `voucher_not_active`)."""

    def __init__(self, key: str, message: str, *, reason: str = "", http_status: int = 400):
        super().__init__(message, key=key, http_status=http_status)
        self.reason = reason or key


@dataclass(frozen=True)
class Actor:
    """Who is asking: a merchant (web form or merchant key) or a partner key (merchant None)."""

    channel: str = Channel.WEB
    merchant: Merchant | None = None
    user: Any = None  # the signed-in user on the web form
    api_key_id: int | None = None
    ip: str | None = None

    def attribution(self) -> dict[str, Any]:
        """Who made it, as the columns a redemption and every attempt both record."""
        return {
            "merchant": self.merchant,
            "api_key_id": self.api_key_id,
            # The web form's AnonymousUser has no pk, and no row to point to.
            "user": self.user if getattr(self.user, "pk", None) else None,
            "channel": self.channel,
        }


@dataclass
class Check:
    """The answer to "is this code valid for this order?"."""

    voucher: Voucher
    campaign: Campaign
    order_amount: int | None
    discount: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def amount_after(self) -> int | None:
        return None if self.order_amount is None else self.order_amount - self.discount


def clean_code(raw: object) -> str:
    """The code as stored: NFKC, upper case, no whitespace. Refuses what cannot be a code."""

    if not isinstance(raw, str) or not raw.strip():
        raise RedemptionError("missing_code", "Enter a code.", http_status=400)
    if len(raw) > MAX_CODE_LENGTH * 2:
        raise RedemptionError(
            "not_found",
            f"That is not a code: codes are at most {MAX_CODE_LENGTH} characters long.",
            reason="invalid_code",
            http_status=404,
        )
    code = "".join(normalize_code(raw).split())
    if not code.isascii() or not code.isprintable():
        raise RedemptionError(
            "not_found",
            "That code contains characters no code has (only letters A-Z, digits and "
            "punctuation such as '-'); check for look-alike letters from another alphabet.",
            reason="invalid_code",
            http_status=404,
        )
    if len(code) > MAX_CODE_LENGTH:
        raise RedemptionError(
            "not_found",
            f"That is not a code: codes are at most {MAX_CODE_LENGTH} characters long.",
            reason="invalid_code",
            http_status=404,
        )
    return code


def clean_amount(raw: object) -> int | None:
    """An order amount in minor units, or None (apps.core.money's rule)."""
    if raw is None or raw == "":
        return None
    try:
        return minor_units(raw, digits=True)
    except AmountError as exc:
        raise RedemptionError("invalid_amount", exc.message) from None


def may_redeem(user: Any, campaign: Campaign) -> bool:
    """guardian's `has_perm(user, "redeem_campaign", campaign)` in one query. Its checker
    costs three here on every request (the content type, whose cache django-tenants clears at
    each schema switch, then user and group permissions), on the hottest path of the API;
    raw SQL also skips compiling two subqueries per redemption."""
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    with connection.cursor() as cursor:
        cursor.execute(_MAY_REDEEM_SQL, {"user": user.pk, "object": str(campaign.pk)})
        return bool(cursor.fetchone()[0])


# guardian's tables live in the partner schema (first on the search path); auth and
# content types in public. One grant rule, used by `may_redeem` and by the redemption's lock.
_USER_GROUPS = User.groups.through._meta.db_table


def _grant_sql(object_pk: str) -> str:
    """SQL that is true when %(user)s holds `redeem_campaign` on the campaign whose id (as
    text) is the SQL expression `object_pk`, directly or through a group (as guardian's
    `has_perm` decides it)."""
    match = (
        f"o.object_pk = {object_pk} AND p.codename = 'redeem_campaign' "
        "AND t.app_label = 'campaigns' AND t.model = 'campaign'"
    )
    return f"""(EXISTS (
        SELECT 1 FROM guardian_userobjectpermission o
        JOIN auth_permission p ON p.id = o.permission_id
        JOIN django_content_type t ON t.id = p.content_type_id
        WHERE o.user_id = %(user)s AND {match}
    ) OR EXISTS (
        SELECT 1 FROM guardian_groupobjectpermission o
        JOIN {_USER_GROUPS} g ON g.group_id = o.group_id
        JOIN auth_permission p ON p.id = o.permission_id
        JOIN django_content_type t ON t.id = p.content_type_id
        WHERE g.user_id = %(user)s AND {match}
    ))"""  # noqa: S608 - table names from the models, no input


_MAY_REDEEM_SQL = "SELECT " + _grant_sql("%(object)s")


def _check_rules(
    voucher: Voucher,
    actor: Actor,
    order_amount: int | None,
    now: dt.datetime,
    granted: bool | None = None,
):
    """Every rule, in the order a person would want to hear about them. `granted` is the
    merchant's redeem_campaign grant when the caller already read it with the voucher."""
    campaign = voucher.campaign
    if actor.merchant is not None:
        if not actor.merchant.is_active:
            raise RedemptionError(
                "merchant_not_allowed",
                "This merchant account is disabled; ask the partner to enable it.",
                http_status=403,
            )
        user = actor.merchant.user
        if granted is None:
            granted = user is not None and may_redeem(user, campaign)
        elif user is not None:
            granted = user.is_active and (granted or user.is_superuser)
        if user is None or not granted:
            raise RedemptionError(
                "merchant_not_allowed",
                f"This merchant may not redeem codes of “{campaign.name}”; ask the partner to "
                "allow it.",
                http_status=403,
            )
    if not voucher.active or not campaign.active:
        raise RedemptionError("voucher_disabled", "This code has been disabled.")
    if campaign.start_date and now < campaign.start_date:
        raise RedemptionError(
            "voucher_not_active",
            f"This code is not active yet: it is valid from "
            f"{timezone.localtime(campaign.start_date):%Y-%m-%d %H:%M}.",
        )
    if campaign.expiration_date and now >= campaign.expiration_date:
        raise RedemptionError(
            "voucher_expired",
            f"This code expired on {timezone.localtime(campaign.expiration_date):%Y-%m-%d %H:%M}.",
        )
    if not campaign.in_valid_window(now):
        raise RedemptionError(
            "voucher_not_active",
            f"This code is only valid {campaign.validity_text()}; it cannot be used now.",
            reason="outside_valid_window",
        )
    limit = voucher.redemption_limit
    if limit is not None and voucher.redeemed_quantity >= limit:
        raise RedemptionError(
            "quantity_exceeded",
            "This code has already been used."
            if limit == 1
            else f"This code has already been used the maximum {limit} times.",
        )
    if campaign.discount_type == DiscountType.PERCENT and order_amount is None:
        raise RedemptionError(
            "missing_amount", "Enter the order amount: this code takes a percentage off."
        )
    return Check(voucher, campaign, order_amount, campaign.discount_amount(order_amount))


def _find(code: str, *, lock: bool) -> Voucher:
    qs = Voucher.objects.select_related("campaign")
    if lock:
        qs = qs.select_for_update(of=("self",))
    voucher = qs.filter(code=code).first()
    if voucher is None:
        raise RedemptionError(
            "not_found",
            f"No code “{code}” exists here. Check the spelling and try again.",
            http_status=404,
        )
    return voucher


# The hot path of the API: one statement reads the voucher under its row lock together with
# its campaign and the merchant's grant, one statement writes everything a redemption changes.
# ORM calls would compile five queries per redemption; this keeps redeeming close to the cost
# of its two essential writes (bench/redeem).
_VOUCHER_COLUMNS = [f.column for f in Voucher._meta.concrete_fields]
_CAMPAIGN_COLUMNS = [f.column for f in Campaign._meta.concrete_fields]
_LOCK_SQL = """
    SELECT {voucher}, {campaign},
        %(user)s::bigint IS NOT NULL AND {grant}
    FROM campaigns_voucher v JOIN campaigns_campaign c ON c.id = v.campaign_id
    WHERE v.code = %(code)s
    FOR UPDATE OF v
""".format(  # noqa: S608 - column names from the models, no input
    voucher=", ".join(f"v.{c}" for c in _VOUCHER_COLUMNS),
    campaign=", ".join(f"c.{c}" for c in _CAMPAIGN_COLUMNS),
    grant=_grant_sql("c.id::text"),
)
_WRITE_SQL = """
    WITH v AS (
        UPDATE campaigns_voucher SET redeemed_quantity = redeemed_quantity + 1
        WHERE id = %(voucher)s RETURNING id
    ), r AS (
        INSERT INTO redemptions_redemption (public_id, voucher_id, campaign_id, merchant_id,
            api_key_id, user_id, channel, order_amount, discount_amount, customer_ref,
            tracking_id, metadata, status, created_at, rollback_id, rolled_back_at,
            rollback_reason)
        SELECT %(public_id)s, v.id, %(campaign)s, %(merchant)s, %(api_key)s, %(user)s,
            %(channel)s, %(amount)s, %(discount)s, %(customer_ref)s, %(tracking_id)s,
            %(metadata)s::jsonb, 'SUCCEEDED', %(now)s, '', NULL, ''
        FROM v RETURNING id
    ), a AS (
        INSERT INTO redemptions_redemptionattempt (action, code, voucher_id, merchant_id,
            api_key_id, user_id, channel, ok, reason, order_amount, redemption_id, ip,
            created_at)
        SELECT 'redeem', %(code)s, %(voucher)s, %(merchant)s, %(api_key)s, %(user)s,
            %(channel)s, true, '', %(amount)s, r.id, %(ip)s::inet, %(now)s
        FROM r
    ), d AS (
        INSERT INTO public.brand_rollupdelta (partner_id, program_id, day, published,
            redeemed, discount_total, created_at)
        SELECT %(partner)s, %(program)s, %(day)s, 0, 1, %(discount)s, %(now)s FROM r
    )
    SELECT id FROM r
"""


def _from_row(model: Any, values: Any) -> Any:
    """A model instance from raw column values, with the fields' own conversions (JSON)."""
    fields = model._meta.concrete_fields
    converted = [
        f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db("default", [f.attname for f in fields], converted)


def _lock(code: str, actor: Actor) -> tuple[Voucher, bool | None]:
    """The voucher (with its campaign) locked FOR UPDATE, and whether the actor's merchant
    holds redeem_campaign on it (None for a partner key, which needs no grant)."""
    user = actor.merchant.user if actor.merchant is not None else None
    with prepared(_LOCK_SQL, {"code": code, "user": user.pk if user else None}) as cursor:
        row = cursor.fetchone()
    if row is None:
        raise RedemptionError(
            "not_found",
            f"No code “{code}” exists here. Check the spelling and try again.",
            http_status=404,
        )
    split = len(_VOUCHER_COLUMNS)
    voucher = _from_row(Voucher, row[:split])
    voucher.campaign = _from_row(Campaign, row[split : split + len(_CAMPAIGN_COLUMNS)])
    return voucher, (row[-1] if actor.merchant is not None else None)


def _write_redemption(
    voucher: Voucher, check: Check, actor: Actor, now: dt.datetime, *, code: str, **fields: Any
) -> Redemption:
    redemption = Redemption(
        voucher=voucher,
        campaign=check.campaign,
        order_amount=check.order_amount,
        discount_amount=check.discount,
        created_at=now,
        **actor.attribution(),
        **fields,
    )
    params = {
        "voucher": voucher.pk,
        "public_id": redemption.public_id,
        "campaign": check.campaign.pk,
        "merchant": redemption.merchant_id,
        "api_key": redemption.api_key_id,
        "user": redemption.user_id,
        "channel": redemption.channel,
        "amount": check.order_amount,
        "discount": check.discount,
        "customer_ref": redemption.customer_ref,
        "tracking_id": redemption.tracking_id,
        "metadata": json.dumps(redemption.metadata),
        "now": now,
        "code": code[:MAX_CODE_LENGTH],
        "ip": actor.ip,
        "partner": current_partner_id(),
        "program": check.campaign.program_id,
        "day": timezone.localdate(now),
    }
    with prepared(_WRITE_SQL, params) as cursor:
        row = cursor.fetchone()
    assert row is not None  # INSERT … RETURNING: one row, or the statement raised
    redemption.pk = row[0]
    redemption._state.adding = False
    redemption._state.db = "default"
    transaction.on_commit(rollups.schedule_flush)
    if voucher.published_at is not None:  # a customer's code: their segments may change
        audience_changed(["voucher.redeemed"])
    return redemption


def _log(
    actor: Actor,
    action: str,
    code: str,
    *,
    refused: RedemptionError | None = None,
    voucher: Voucher | None = None,
    order_amount: int | None = None,
    redemption: Redemption | None = None,
) -> None:
    """Record an attempt: successful unless `refused` says why not."""
    RedemptionAttempt.objects.create(
        action=action,
        code=(code or "")[:MAX_CODE_LENGTH],
        voucher=voucher,
        ok=refused is None,
        reason=refused.reason if refused is not None else "",
        order_amount=order_amount,
        redemption=redemption,
        ip=actor.ip,
        **actor.attribution(),
    )


def _text(raw: object, limit: int) -> str:
    """Free text cut to its column; NUL (which PostgreSQL text refuses) becomes U+FFFD."""
    return str(raw or "")[:limit].replace("\x00", "\ufffd")


def _raw_code(raw: object) -> str:
    """The code as typed, for the attempt log. PostgreSQL text cannot hold NUL, so it becomes
    U+FFFD: logging a refused code must never fail the request."""
    return _text(raw, MAX_CODE_LENGTH) if isinstance(raw, str) else ""


def voucher_validate(*, actor: Actor, code: object, order_amount: object = None) -> Check:
    """Is `code` redeemable now by `actor` for this order? Raises RedemptionError if not."""
    try:
        clean = clean_code(code)
        amount = clean_amount(order_amount)
        result = _check_rules(_find(clean, lock=False), actor, amount, timezone.now())
    except RedemptionError as exc:
        _log(actor, RedemptionAttempt.Action.VALIDATE, _raw_code(code), refused=exc)
        raise
    _log(
        actor,
        RedemptionAttempt.Action.VALIDATE,
        clean,
        voucher=result.voucher,
        order_amount=amount,
    )
    return result


def voucher_redeem(
    *,
    actor: Actor,
    code: object,
    order_amount: object = None,
    customer_ref: str = "",
    tracking_id: str = "",
    metadata: dict[str, Any] | None = None,
) -> Redemption:
    """Redeem `code` once. Safe under any concurrency: the limit is re-checked under the
    voucher's row lock."""
    voucher: Voucher | None = None
    try:
        clean = clean_code(code)
        amount = clean_amount(order_amount)
        with transaction.atomic():
            voucher, granted = _lock(clean, actor)
            now = timezone.now()
            check = _check_rules(voucher, actor, amount, now, granted)
            redemption = _write_redemption(
                voucher,
                check,
                actor,
                now,
                code=clean,
                customer_ref=_text(customer_ref, 120),
                tracking_id=_text(tracking_id, 120),
                metadata=metadata or {},
            )
    except RedemptionError as exc:
        _log(
            actor,
            RedemptionAttempt.Action.REDEEM,
            _raw_code(code),
            refused=exc,
            voucher=voucher if voucher is not None and voucher.pk else None,
        )
        raise
    voucher.redeemed_quantity += 1
    return redemption


def redemption_rollback(*, actor: Actor, redemption_id: int | str, reason: str = "") -> Redemption:
    """Undo a redemption: the code can be used again. A merchant may roll back only its own
    redemptions, within ROLLBACK_WINDOW; a partner key may roll back any of the partner's."""
    code = ""
    try:
        with transaction.atomic():
            lookup = (
                {"pk": redemption_id}
                if isinstance(redemption_id, int)
                else {"public_id": _text(redemption_id, 30)}
            )
            redemption = (
                Redemption.objects.select_for_update(of=("self",))
                .select_related("voucher", "campaign")
                .filter(**lookup)
                .first()
            )
            if redemption is None or (
                actor.merchant is not None and redemption.merchant_id != actor.merchant.pk
            ):
                raise RedemptionError(
                    "not_found", "No such redemption.", reason="not_found", http_status=404
                )
            code = redemption.voucher.code
            if redemption.status == Redemption.Status.ROLLED_BACK:
                raise RedemptionError(
                    "already_rolled_back", "This redemption has already been rolled back."
                )
            now = timezone.now()
            if actor.merchant is not None and now - redemption.created_at > ROLLBACK_WINDOW:
                hours = int(ROLLBACK_WINDOW.total_seconds() // 3600)
                raise RedemptionError(
                    "rollback_window_passed",
                    f"Redemptions can be rolled back within {hours} hours; ask the partner.",
                )
            Voucher.objects.filter(pk=redemption.voucher_id).update(
                redeemed_quantity=F("redeemed_quantity") - 1
            )
            redemption.status = Redemption.Status.ROLLED_BACK
            redemption.rolled_back_at = now
            redemption.rollback_reason = (reason or "")[:200]

            redemption.rollback_id = rollback_public_id()
            redemption.save(
                update_fields=["status", "rolled_back_at", "rollback_reason", "rollback_id"]
            )
            _log(
                actor,
                RedemptionAttempt.Action.ROLLBACK,
                code,
                voucher=redemption.voucher,
                redemption=redemption,
            )
            # Taken off the day the redemption was made (rollups.record_redemption): a
            # rollback today of yesterday's redemption must not push today's count below zero.
            rollups.record_redemption(
                program_id=redemption.campaign.program_id,
                discount=redemption.discount_amount,
                when=redemption.created_at,
                delta=-1,
            )
    except RedemptionError as exc:
        _log(actor, RedemptionAttempt.Action.ROLLBACK, code, refused=exc)
        raise
    return redemption
