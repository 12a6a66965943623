"""`manage.py seed_demo`: an idempotent demo — a brand admin, two partners, a partner user
each and two merchants each. Run as often as you like; it only adds what is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accounts.models import Membership, User
from apps.accounts.services import membership_grant
from apps.tenancy.models import Partner
from apps.tenancy.services import partner_build_schema_now, partner_create

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - a published demo login
BRAND_ADMIN = "brand@demo.test"
PARTNERS = (
    ("Northwind Retail", "northwind"),
    ("Contoso Travel", "contoso"),
)


class Command(BaseCommand):
    help = "Seed an idempotent demo: brand admin, two partners, their users and merchants."

    def handle(self, *args: Any, **options: Any) -> None:
        logins: list[tuple[str, str, str]] = []
        admin = User.objects.filter(email=BRAND_ADMIN).first()
        if admin is None:
            admin = User.objects.create_user(
                BRAND_ADMIN, DEMO_PASSWORD, full_name="Brand Admin", is_brand_admin=True
            )
        logins.append(("Brand admin", BRAND_ADMIN, "/brand/"))

        for name, slug in PARTNERS:
            partner = Partner.objects.filter(slug=slug).first()
            if partner is None:
                partner, _job = partner_create(name=name, slug=slug, actor=admin)
            if partner.status != Partner.Status.READY:
                partner_build_schema_now(Partner.objects.get(pk=partner.pk))
            people = [(f"{slug}@demo.test", Membership.Role.PARTNER_USER, f"{name} team")]
            people += [
                (f"{slug}-shop{i}@demo.test", Membership.Role.MERCHANT, f"{name} shop {i}")
                for i in (1, 2)
            ]
            for email, role, full_name in people:
                if not User.objects.filter(email=email).exists():
                    membership_grant(
                        email=email,
                        partner=partner,
                        role=role,
                        full_name=full_name,
                        password=DEMO_PASSWORD,
                    )
                label = "Partner user" if role == Membership.Role.PARTNER_USER else "Merchant"
                logins.append((f"{label} ({name})", email, partner.url_prefix))

        lines = [
            f"  {label:<32} {email:<28} password: {DEMO_PASSWORD}" for label, email, _url in logins
        ]
        text = "Demo logins:\n" + "\n".join(lines) + "\n"
        out = Path(settings.BASE_DIR) / ".data"
        out.mkdir(exist_ok=True)
        (out / "demo-logins.txt").write_text(text)
        self.stdout.write(text)
