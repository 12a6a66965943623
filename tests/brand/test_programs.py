"""Programs in the brand console: create, edit, list, and the live code preview."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from apps.brand.models import Allocation, Program
from tests.factories import ProgramFactory

VALID = {
    "name": "Spring sale",
    "description": "Ten off in spring",
    "discount_type": "AMOUNT",
    "amount_off": "1000",
    "redemption_limit": "1",
    "active": "on",
    "code_length": "10",
    "code_charset": "alphanumeric",
}


def post(client, url, **changes):
    data = {**VALID, **changes}
    return client.post(url, {k: v for k, v in data.items() if v is not None})


def test_brand_admin_creates_a_program(client, brand_admin):
    # given
    client.force_login(brand_admin)
    # when
    response = post(
        client,
        "/brand/programs/new/",
        discount_type="PERCENT",
        amount_off="",
        percent_off="15",
        amount_limit="2500",
        redemption_limit="",
        start_date="2026-03-01T09:00",
        expiration_date="2026-06-01T00:00",
        valid_days=["0", "4"],
        valid_hours_start="09:00",
        valid_hours_end="17:30",
        code_pattern="spring-####-####",
    )
    # then
    program = Program.objects.get()
    assert response.status_code == 302
    assert response.url == f"/brand/programs/{program.pk}/"
    assert program.created_by == brand_admin
    assert (program.percent_off, program.amount_limit, program.amount_off) == (15, 2500, None)
    assert program.redemption_limit is None  # empty = unlimited
    assert program.valid_days == [0, 4]
    assert (program.valid_hours_start, program.valid_hours_end) == (
        dt.time(9, 0),
        dt.time(17, 30),
    )
    assert program.code_pattern == "spring-####-####"
    page = client.get(response.url).content.decode()
    assert re.search(r"15(\.00)?% off \(up to 25\.00\)", page)
    assert re.search(r"SPRING-[A-Z0-9]{4}-[A-Z0-9]{4}", page)


@pytest.mark.parametrize(
    "changes, field, problem",
    [
        ({"amount_off": ""}, "amount_off", "An amount discount needs the amount off"),
        ({"amount_off": "-3"}, "amount_off", "greater than or equal to 0"),
        (
            {"discount_type": "PERCENT", "percent_off": "0"},
            "percent_off",
            "above 0 and at most 100",
        ),
        (
            {"discount_type": "PERCENT", "percent_off": "150"},
            "percent_off",
            "above 0 and at most 100",
        ),
        ({"discount_type": "PERCENT"}, "percent_off", "above 0 and at most 100"),
        ({"discount_type": "UNIT"}, "unit_off", "needs how many units"),
        (
            {"start_date": "2026-05-01T00:00", "expiration_date": "2026-04-01T00:00"},
            "expiration_date",
            "The expiration must be after the start.",
        ),
        ({"valid_hours_start": "09:00"}, "valid_hours_end", "Give both daily times"),
        (
            {"valid_hours_start": "09:00", "valid_hours_end": "09:00"},
            "valid_hours_end",
            "must not start and end together",
        ),
        ({"valid_days": ["9"]}, "valid_days", "Select a valid choice"),
        ({"redemption_limit": "0"}, "redemption_limit", "usable at least once"),
        ({"code_pattern": "SPRING"}, "code_pattern", "at least one '#'"),
        ({"code_pattern": "SPRING ####"}, "code_pattern", "without spaces"),
        ({"code_length": "3"}, "code_length", "between 4 and 64"),
        ({"code_prefix": "NO SPACE"}, "code_prefix", "The prefix"),
        ({"code_postfix": "ÜBER"}, "code_postfix", "The postfix"),
        (
            {"code_charset": "custom", "code_custom_charset": "A"},
            "code_custom_charset",
            "at least 2 distinct characters",
        ),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_bad_program_input_is_explained_next_to_its_field(
    client, brand_admin, changes, field, problem
):
    # given
    client.force_login(brand_admin)
    # when
    response = post(client, "/brand/programs/new/", **changes)
    # then
    page = response.content.decode()
    assert response.status_code == 400
    match = re.search(rf'id="id_{field}_error">([^<]*)<', page)
    assert match, f"no error next to {field}"
    assert problem in match.group(1).replace("&#x27;", "'")
    assert not Program.objects.exists()


def test_fields_of_another_discount_type_are_dropped(client, brand_admin):
    # given
    client.force_login(brand_admin)
    # when a percent value lingers in an amount program
    post(client, "/brand/programs/new/", percent_off="20", amount_limit="100", unit_off="2")
    # then
    program = Program.objects.get()
    assert (program.amount_off, program.percent_off, program.amount_limit, program.unit_off) == (
        1000,
        None,
        None,
        None,
    )


def test_edit_changes_terms_but_not_the_format_once_allocated(client, brand_admin, partner_a):
    # given a program with codes already allocated
    program = ProgramFactory(name="Old", code_length=8)
    Allocation.objects.create(program=program, partner=partner_a, quantity=5)
    client.force_login(brand_admin)
    page = client.get(f"/brand/programs/{program.pk}/edit/").content.decode()
    assert "Fixed: codes of this format were allocated already." in page
    # when
    response = post(client, f"/brand/programs/{program.pk}/edit/", name="New", code_length="20")
    # then
    program.refresh_from_db()
    assert response.status_code == 302
    assert (program.name, program.code_length) == ("New", 8)


def test_edit_before_any_allocation_may_change_the_format(client, brand_admin):
    # given
    program = ProgramFactory(code_length=8)
    client.force_login(brand_admin)
    # when
    post(client, f"/brand/programs/{program.pk}/edit/", code_length="12", code_prefix="X-")
    # then
    program.refresh_from_db()
    assert (program.code_length, program.code_prefix) == (12, "X-")


def test_program_list_searches_paginates_and_has_an_empty_state(client, brand_admin):
    client.force_login(brand_admin)
    # given nothing
    assert "No programs yet" in client.get("/brand/programs/").content.decode()
    # given 26 programs
    for i in range(25):
        ProgramFactory(name=f"Weekly {i}")
    ProgramFactory(name="Black Friday", description="the big one")
    # then
    assert "Page 1 of 2" in client.get("/brand/programs/").content.decode()
    found = client.get("/brand/programs/?q=big+one").content.decode()
    assert "Black Friday" in found and "Weekly" not in found
    assert "No match" in client.get("/brand/programs/?q=nothing").content.decode()


def test_preview_fragment_shows_five_samples_and_the_capacity(client, brand_admin):
    # given
    client.force_login(brand_admin)
    # when htmx asks with the format fields
    response = client.get(
        "/brand/programs/preview/",
        {"code_charset": "digits", "code_length": "4", "code_pattern": "SPRING-####-##"},
        HTTP_HX_REQUEST="true",
    )
    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert len(re.findall(r"SPRING-[2-9]{4}-[2-9]{2}", page)) == 5
    assert "262,144 distinct codes; up to 131,072 can be allocated" in page


def test_preview_of_a_bad_format_shows_the_reason(client, brand_admin):
    client.force_login(brand_admin)
    # when
    bad_pattern = client.get(
        "/brand/programs/preview/", {"code_charset": "alphanumeric", "code_pattern": "NOHASH"}
    ).content.decode()
    bad_length = client.get(
        "/brand/programs/preview/", {"code_charset": "letters", "code_length": "x"}
    ).content.decode()
    # then
    assert "The pattern must contain at least one &#x27;#&#x27;" in bad_pattern
    assert "Check the code format: Enter a whole number." in bad_length


def test_preview_of_a_huge_format_stays_readable(client, brand_admin):
    client.force_login(brand_admin)
    page = client.get(
        "/brand/programs/preview/", {"code_charset": "alphanumeric", "code_length": "64"}
    ).content.decode()
    assert "about 1." in page and "× 10⁹⁵" in page


def test_the_form_page_renders_the_preview_of_its_initial_format(client, brand_admin):
    client.force_login(brand_admin)
    page = client.get("/brand/programs/new/").content.decode()
    assert 'hx-get="/brand/programs/preview/"' in page
    assert len(re.findall(r'<span class="code">[A-Z0-9]{10}</span>', page)) == 5
