"""`manage.py seed_demo`: an idempotent demo — a brand admin, two partners, a partner user
each and two merchants each, a program allocated to both partners (1,000 codes each), the
merchants allowed to redeem it, a few redemptions, and per partner a few hundred customers
with orders, events and published codes, one static and one active segment. Run as often as
you like; it only adds what is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone
from django_tenants.utils import schema_context

from apps import rollups
from apps.accounts.models import Membership, User
from apps.accounts.services import membership_grant
from apps.brand.allocations import allocation_generate
from apps.brand.models import Allocation, Program
from apps.brand.services import allocation_create, program_create
from apps.campaigns.models import Campaign, Voucher
from apps.customers.events import events_record_bulk
from apps.customers.models import Customer, Order, Publication, Segment
from apps.customers.orders import new_order_id
from apps.customers.publications import vouchers_publish_bulk
from apps.customers.segments.services import segment_create, segment_evaluate, segment_members_add
from apps.distributions.demo import seed_distributions
from apps.messaging.compose import ChannelContent, compose
from apps.messaging.models import OutboxMessage
from apps.messaging.sending import outbox_send
from apps.messaging.services import outbox_queue
from apps.redemptions.merchants.services import merchant_campaigns_set
from apps.redemptions.models import Channel, Merchant, Redemption
from apps.redemptions.services import Actor, RedemptionError, voucher_redeem
from apps.tenancy.models import Partner
from apps.tenancy.services import partner_build_schema_now, partner_create

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - a published demo login
BRAND_ADMIN = "brand@demo.test"
PARTNERS = (
    ("Northwind Retail", "northwind"),
    ("Contoso Travel", "contoso"),
)
DEMO_PROGRAM = "Welcome 5 off"
DEMO_POOL = 1000
DEMO_CUSTOMERS = 300


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

        self.seed_pools(admin)

        lines = [
            f"  {label:<32} {email:<28} password: {DEMO_PASSWORD}" for label, email, _url in logins
        ]
        text = "Demo logins:\n" + "\n".join(lines) + "\n"
        out = Path(settings.BASE_DIR) / ".data"
        out.mkdir(exist_ok=True)
        (out / "demo-logins.txt").write_text(text)
        self.stdout.write(text)

    def seed_pools(self, admin: User) -> None:
        program = Program.objects.filter(name=DEMO_PROGRAM).first()
        if program is None:
            program = program_create(
                actor=admin,
                terms={
                    "name": DEMO_PROGRAM,
                    "description": "5.00 off a first order; one use per code.",
                    "discount_type": "AMOUNT",
                    "amount_off": 500,
                    "redemption_limit": 1,
                    "code_pattern": "WELCOME-####-####",
                },
            )
        for _name, slug in PARTNERS:
            partner = Partner.objects.get(slug=slug)
            allocation = Allocation.objects.filter(program=program, partner=partner).first()
            if allocation is None:
                allocation = allocation_create(
                    actor=admin, program=program, partner=partner, quantity=DEMO_POOL
                )
            if allocation.status != Allocation.Status.SUCCEEDED:
                # Generated here rather than by the worker so the demo is complete when the
                # server starts; the queued job then finds nothing left to do.
                with schema_context(partner.schema_name):
                    job_run_id = allocation.job_run_id
                    allocation_generate(
                        allocation.pk, job_run_id=str(job_run_id) if job_run_id else None
                    )
            with schema_context(partner.schema_name):
                self.seed_merchants(partner, program)
                self.seed_audience(partner, program)
                self.seed_messages(partner)
                seed_distributions(partner)
        rollups.flush()

    def seed_merchants(self, partner: Partner, program: Program) -> None:
        campaign = Campaign.objects.get(program_id=program.pk)
        merchants = []
        for i in (1, 2):
            user = User.objects.get(email=f"{partner.slug}-shop{i}@demo.test")
            merchant, _ = Merchant.objects.get_or_create(
                user=user,
                defaults={"name": f"{partner.name} shop {i}", "location": f"Demo Street {i}"},
            )
            merchant_campaigns_set(merchant=merchant, campaigns=[campaign])
            merchants.append(merchant)
        if Redemption.objects.exists():
            return
        codes = list(Voucher.objects.filter(campaign=campaign).values_list("code", flat=True)[:5])
        for n, code in enumerate(codes):
            merchant = merchants[n % 2]
            actor = Actor(channel=Channel.WEB, merchant=merchant, user=merchant.user)
            voucher_redeem(actor=actor, code=code, order_amount=2500 + 1000 * n)
        try:  # one refused attempt, so the attempt log shows a failure and its reason
            voucher_redeem(actor=Actor(channel=Channel.WEB, merchant=merchants[0]), code=codes[0])
        except RedemptionError:
            pass

    def seed_audience(self, partner: Partner, program: Program) -> None:
        """Customers, orders and events in a few set-based statements; codes for a third of
        the customers; a static and an active segment."""
        if Customer.objects.filter(source_id="demo-0001").exists():
            return
        countries = ["DE", "FR", "NL", "GB", "US"]
        now = timezone.now()
        customers = Customer.objects.bulk_create(
            Customer(
                source_id=f"demo-{i:04d}",
                name=f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[i % len(LAST_NAMES)]}",
                email=f"customer{i}@{partner.slug}.demo.test",
                phone=f"+4915550{i:05d}",
                city=["Berlin", "Paris", "Utrecht", "Leeds", "Austin"][i % 5],
                country=countries[i % 5],
                metadata={"tier": ["gold", "silver", "bronze"][i % 3]},
                email_consent=i % 4 != 0,
                email_consent_source="demo" if i % 4 != 0 else "",
                email_consent_at=now if i % 4 != 0 else None,
                sms_consent=i % 3 == 0,
                sms_consent_source="demo" if i % 3 == 0 else "",
                sms_consent_at=now if i % 3 == 0 else None,
            )
            for i in range(1, DEMO_CUSTOMERS + 1)
        )
        orders = Order.objects.bulk_create(
            Order(
                public_id=new_order_id(),
                source_id=f"{partner.slug}-order-{c.pk}-{n}",
                customer=c,
                status=[Order.Status.PAID, Order.Status.FULFILLED, Order.Status.CREATED][n % 3],
                amount=1500 + (c.pk * 37 + n * 1000) % 20000,
            )
            for c in customers
            for n in range(c.pk % 4)
        )
        events_record_bulk(
            [(c.pk, "customer.created", {"source": "demo"}) for c in customers]
            + [(o.customer_id, "order.created", {"order": o.public_id}) for o in orders]
        )
        campaign = Campaign.objects.get(program_id=program.pk)
        vouchers_publish_bulk(
            campaign=campaign, customer_ids=[c.pk for c in customers[::3]], channel="demo"
        )
        vip = segment_create(name="VIP list", kind=Segment.Kind.STATIC)
        segment_members_add(segment=vip, customer_ids=[c.pk for c in customers[:25]])
        big_spenders = segment_create(
            name="German big spenders",
            kind=Segment.Kind.ACTIVE,
            filter={
                "match": "all",
                "conditions": [
                    {"field": "country", "op": "is", "value": "DE"},
                    {"field": "total_spent", "op": "gte", "value": 10000},
                ],
            },
        )
        segment_evaluate(segment=big_spenders)

    def seed_messages(self, partner: Partner) -> None:
        """A welcome email and SMS for the first customers who got a code, delivered through
        the sandbox (no channel is connected in the demo) so the Outbox has something to show."""

        if OutboxMessage.objects.exists():
            return
        email = ChannelContent(
            subject="{{ customer.first_name }}, a welcome gift from {{ partner.name }}",
            html=(
                "<p>Hello {{ customer.first_name }},</p>"
                "<p>Here is <strong>{{ voucher.discount }}</strong> your next order: "
                "<strong>{{ voucher.code }}</strong>.</p>"
                '<p><img src="{{ voucher.qr_url }}" alt="QR code of your code" width="160"></p>'
                '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
            ),
        )
        sms = ChannelContent(
            text="{{ partner.name }}: {{ voucher.discount }} with code {{ voucher.code }}"
        )
        publications = Publication.objects.select_related("customer", "voucher__campaign")[:12]
        drafts = []
        for publication in publications:
            for channel, content in (("email", email), ("sms", sms)):
                drafts.append(
                    compose(
                        channel=channel,
                        content=content,
                        customer=publication.customer,
                        voucher=publication.voucher,
                        partner=partner,
                        dedupe_key=f"demo:{publication.pk}:{channel}",
                    )
                )
        outbox_queue(drafts)
        outbox_send("email")
        outbox_send("sms")


FIRST_NAMES = ["Ada", "Ben", "Chloe", "Dev", "Emma", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
LAST_NAMES = ["Meyer", "Dubois", "de Vries", "Smith", "Garcia", "Rossi", "Novak", "Berg"]
