"""Bulk code generation (apps.campaigns.services) in small chunks, so every path runs: the
direct COPY into an empty table, the temporary-table path next to existing codes, progress."""

from __future__ import annotations

from django_tenants.utils import schema_context

from apps.campaigns import services
from apps.campaigns.codegen import Charset, CodeFormat
from apps.campaigns.models import Campaign, Voucher
from tests.factories import ProgramFactory


class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[int, str]] = []

    def update(self, percent: float, message: str = "") -> None:
        self.updates.append((int(percent), message))


def test_chunks_are_distinct_across_the_whole_batch():
    # given a format of 64 codes, asked for half of them in chunks of 5
    fmt = CodeFormat(length=6, charset=Charset.CUSTOM, custom_charset="AB")
    # when
    chunks = list(services._distinct_chunks(fmt, 32, 5))
    # then
    codes = [c for chunk in chunks for c in chunk]
    assert [len(c) for c in chunks] == [5] * 6 + [2]
    assert len(codes) == len(set(codes)) == 32


def test_generation_in_chunks_copies_straight_in_then_tops_up_safely(partner_a, monkeypatch):
    # given small chunks, and a schema without codes
    monkeypatch.setattr(services, "CHUNK", 10)
    program = ProgramFactory(code_prefix="P-", redemption_limit=None)
    seen_chunks: list[int] = []
    with schema_context(partner_a.schema_name):
        assert not Voucher.objects.exists()
        campaign, created = services.campaign_ensure(program)
        progress = Recorder()
        # when
        made = services.vouchers_generate(
            campaign, 35, progress, on_chunk=seen_chunks.append, done_before=5, total=75
        )
        # then
        assert created and made == 35 and campaign.vouchers_count == 35
        assert seen_chunks == [10, 10, 10, 5]
        assert progress.updates[-1] == (53, "Generated 40 of 75 codes")
        # when topping up next to the codes now there (the temporary-table path)
        services.vouchers_generate(campaign, 23)
        # then
        codes = list(Voucher.objects.filter(campaign=campaign).values_list("code", flat=True))
        assert len(codes) == len(set(codes)) == 58 == campaign.vouchers_count
        assert all(c.startswith("P-") for c in codes)
        assert set(Voucher.objects.values_list("redemption_limit", flat=True)) == {None}
        assert services.campaign_ensure(program) == (campaign, False)


def test_a_backslash_in_a_literal_survives_copy(partner_a):
    # given a prefix with COPY's escape character
    program = ProgramFactory(code_prefix="A\\B-", code_length=6)
    with schema_context(partner_a.schema_name):
        campaign, _ = services.campaign_ensure(program)
        # when
        services.vouchers_generate(campaign, 5)
        services.vouchers_generate(campaign, 5)
        # then
        codes = Campaign.objects.get(pk=campaign.pk).vouchers.values_list("code", flat=True)
        assert len(codes) == 10
        assert all(code.startswith("A\\B-") and len(code) == 10 for code in codes)
