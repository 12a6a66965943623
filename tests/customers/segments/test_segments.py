"""Segments: services (evaluation with entered/left events, static members and CSV upload,
debounced scheduling) and the pages (builder, preview partial, detail, delete, isolation)."""

from __future__ import annotations

import time

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django_tenants.utils import schema_context

from apps.core.redis import redis_client
from apps.customers.models import Customer, Event, Order, Segment, SegmentMembership
from apps.customers.segments import services as services_module
from apps.customers.segments.filters import FilterError
from apps.customers.segments.jobs import segment_evaluate_job, segments_evaluate_all_job
from apps.customers.segments.services import (
    SegmentError,
    segment_create,
    segment_delete,
    segment_evaluate,
    segment_in_use_by,
    segment_members_add,
    segment_members_remove,
    segment_members_upload,
    segment_update,
    segments_evaluate_all,
)
from apps.customers.segments.triggers import segments_schedule_evaluation

BASE = "/p/alpha/segments/"
BIG_SPENDERS = {
    "match": "all",
    "conditions": [
        {"field": "country", "op": "is", "value": "DE"},
        {"field": "total_spent", "op": "gte", "value": 1000},
    ],
}


@pytest.fixture
def customers(partner_a):
    with schema_context(partner_a.schema_name):
        ann = Customer.objects.create(name="Ann", email="ann@x.test", source_id="A1", country="DE")
        bob = Customer.objects.create(name="Bob", email="bob@x.test", source_id="B2", country="DE")
        cid = Customer.objects.create(name="Cid", email="cid@x.test", source_id="C3", country="FR")
        Order.objects.create(public_id="o1", customer=ann, amount=1500, status="PAID")
        Order.objects.create(public_id="o2", customer=cid, amount=5000, status="PAID")
        return {"ann": ann, "bob": bob, "cid": cid}


def members(segment) -> set[str]:
    ids = SegmentMembership.objects.filter(segment=segment).values("customer_id")
    return set(Customer.objects.filter(pk__in=ids).values_list("name", flat=True))


def events(event_type: str) -> list[tuple[str, dict]]:
    return sorted(
        (e.customer.name, e.payload)
        for e in Event.objects.filter(type=event_type).select_related("customer")
    )


# --- services --------------------------------------------------------------------------------


def test_evaluation_records_who_entered_and_who_left(customers, in_partner):
    # given an active segment of German customers who spent 10.00 or more
    segment = segment_create(name="Big spenders", kind="active", filter=BIG_SPENDERS)
    # when it is evaluated the first time
    first = segment_evaluate(segment=segment)
    # then Ann entered
    assert (sorted(first.entered), first.left, first.members) == ([customers["ann"].pk], [], 1)
    assert members(segment) == {"Ann"}
    payload = {"segment_id": segment.pk, "segment": "Big spenders", "kind": "active"}
    assert events("segment.entered") == [("Ann", payload)]

    # given Bob buys and Ann's order is canceled
    Order.objects.create(public_id="o3", customer=customers["bob"], amount=999 + 1)
    Order.objects.filter(public_id="o1").update(status="CANCELED")
    # when evaluated again
    second = segment_evaluate(segment=segment)
    # then Bob entered, Ann left, and the segment row says so
    assert (second.entered, second.left) == ([customers["bob"].pk], [customers["ann"].pk])
    assert members(segment) == {"Bob"}
    assert events("segment.left") == [("Ann", payload)]
    segment.refresh_from_db()
    assert segment.members_count == 1 and segment.evaluated_at is not None

    # when nothing changed, an evaluation changes nothing
    third = segment_evaluate(segment=segment)
    assert (third.entered, third.left, third.members) == ([], [], 1)
    assert Event.objects.filter(type__startswith="segment.").count() == 3


def test_creating_an_active_segment_queues_its_evaluation(
    partner_a, customers, django_capture_on_commit_callbacks, run_jobs
):
    # given / when
    with schema_context(partner_a.schema_name), django_capture_on_commit_callbacks(execute=True):
        segment = segment_create(name="Queued", kind="active", filter=BIG_SPENDERS)
    run_jobs()
    # then the job evaluated it in alpha's schema
    with schema_context(partner_a.schema_name):
        segment.refresh_from_db()
        assert segment.members_count == 1 and segment.evaluated_at is not None


def test_invalid_filters_and_names_are_refused(customers, in_partner):
    bad = {"match": "all", "conditions": [{"field": "birthdate", "op": "after", "value": "x"}]}
    with pytest.raises(FilterError, match=r"Condition 1 \(birthdate\) “x” is not a date"):
        segment_create(name="Bad", kind="active", filter=bad)
    with pytest.raises(SegmentError, match="needs at least one condition"):
        segment_create(name="Empty", kind="active", filter={"match": "all", "conditions": []})
    segment_create(name="Twice", kind="static")
    with pytest.raises(SegmentError, match="already exists"):
        segment_create(name="  twice ", kind="static")
    assert Segment.objects.count() == 1


def test_editing_the_filter_replaces_it(customers, in_partner):
    segment = segment_create(name="DE", kind="active", filter=BIG_SPENDERS)
    new = {"match": "any", "conditions": [{"field": "country", "op": "is", "value": "FR"}]}
    segment_update(segment=segment, name="France", filter=new)
    segment.refresh_from_db()
    assert (segment.name, segment.filter["match"]) == ("France", "any")
    assert segment_evaluate(segment=segment).members == 1


def test_static_members_chosen_and_removed(customers, in_partner):
    segment = segment_create(name="VIP", kind="static")
    added = segment_members_add(
        segment=segment, customer_ids=[customers["ann"].pk, customers["bob"].pk]
    )
    again = segment_members_add(segment=segment, customer_ids=[customers["ann"].pk])
    removed = segment_members_remove(segment=segment, customer_ids=[customers["bob"].pk])
    segment.refresh_from_db()
    assert (added, again, removed, segment.members_count) == (2, 0, 1, 1)
    assert members(segment) == {"Ann"}
    assert [name for name, _ in events("segment.entered")] == ["Ann", "Bob"]
    # a static segment's evaluation only recounts
    assert segment_evaluate(segment=segment).entered == []


def test_static_upload_matches_source_ids_and_emails(customers, in_partner):
    # given a CSV with a header, a source id, an email in other case, a blank and strays
    segment = segment_create(name="Upload", kind="static")
    content = b"\xef\xbb\xbfsource_id\nA1\nCID@X.test\n\nnobody@x.test\nZ9\nA1\n"
    # when
    result = segment_members_upload(segment=segment, content=content)
    # then
    assert (result.values, result.added, result.unmatched) == (5 - 1, 2, 2)
    assert result.unmatched_sample == ["nobody@x.test", "Z9"]
    assert members(segment) == {"Ann", "Cid"}


def test_bad_uploads_say_what_to_do(customers, in_partner):
    segment = segment_create(name="Upload", kind="static")
    with pytest.raises(SegmentError, match="not UTF-8"):
        segment_members_upload(segment=segment, content=b"\xff\xfe\x00A")
    with pytest.raises(SegmentError, match="no source ids or emails"):
        segment_members_upload(segment=segment, content=b"email\n\n")
    active = segment_create(name="Active", kind="active", filter=BIG_SPENDERS)
    with pytest.raises(SegmentError, match="edit the filter instead"):
        segment_members_upload(segment=active, content=b"A1\n")


def test_deleting_a_segment(customers, in_partner):
    segment = segment_create(name="Gone", kind="static")
    segment_members_add(segment=segment, customer_ids=[customers["ann"].pk])
    # the hook for distributions says nothing uses it yet
    assert segment_in_use_by(segment) is None
    segment_delete(segment=segment)
    assert not Segment.objects.exists() and not SegmentMembership.objects.exists()
    assert Customer.objects.count() == 3


def test_a_segment_used_by_a_live_distribution_cannot_be_deleted(partner_a, customers):
    from apps.distributions.models import Distribution

    with schema_context(partner_a.schema_name):
        # given a live distribution on the segment, and a draft on another
        segment = segment_create(name="Used", kind="static")
        Distribution.objects.create(name="Spring welcome", status="live", segment=segment)
        other = segment_create(name="Draft only", kind="static")
        draft = Distribution.objects.create(name="Draft", segment=other)
        # when / then: refused, naming the distribution, and nothing is lost
        with pytest.raises(SegmentError, match="“Used” is used by the distribution “Spring"):
            segment_delete(segment=segment)
        assert Segment.objects.filter(pk=segment.pk).exists()
        # a draft does not hold a segment: it just loses it
        segment_delete(segment=other)
        draft.refresh_from_db()
        assert draft.segment_id is None


def test_evaluate_all_and_the_debounced_trigger(
    partner_a, customers, django_capture_on_commit_callbacks
):
    queue = django_rq.get_queue("default")
    redis_client().delete(f"segments:evaluate-pending:{partner_a.schema_name}")
    with schema_context(partner_a.schema_name):
        segment_create(name="One", kind="active", filter=BIG_SPENDERS)
        segment_create(
            name="Two",
            kind="active",
            filter={
                "match": "all",
                "conditions": [{"field": "country", "op": "is", "value": "FR"}],
            },
        )
        segment_create(name="List", kind="static")
        # when the trigger is pulled three times (each after its commit)
        before = len(queue.scheduled_job_registry.get_job_ids())
        for _ in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                segments_schedule_evaluation()
        # then one run is scheduled
        assert len(queue.scheduled_job_registry.get_job_ids()) == before + 1
        # and running it evaluates both active segments and re-arms the trigger
        totals = segments_evaluate_all_job()
        assert totals == {"segments": 2, "entered": 2, "left": 0, "failed": 0}
        assert not redis_client().exists(f"segments:evaluate-pending:{partner_a.schema_name}")
        assert segments_evaluate_all()["entered"] == 0
    for job_id in queue.scheduled_job_registry.get_job_ids()[before:]:
        queue.scheduled_job_registry.remove(job_id, delete_job=True)


def test_the_evaluate_segments_command(partner_a, partner_b, customers, capsys):
    with schema_context(partner_a.schema_name):
        segment = segment_create(name="Cmd", kind="active", filter=BIG_SPENDERS)
    call_command("evaluate_segments", partner="alpha")
    assert "alpha: 1 segments, 1 entered, 0 left, 0 failed" in capsys.readouterr().out
    with schema_context(partner_a.schema_name):
        segment.refresh_from_db()
        assert segment.members_count == 1


# --- pages -----------------------------------------------------------------------------------


def builder_post(name="Builder", kind="active", match="all", rows=(), **extra):
    data = {
        "name": name,
        "kind": kind,
        "match": match,
        "field": [],
        "key": [],
        "op": [],
        "value": [],
        "days": [],
    }
    for row in rows:
        for part in ("field", "key", "op", "value", "days"):
            data[part].append(row.get(part, ""))
    data.update(extra)
    return data


def test_create_an_active_segment_in_the_builder(client, partner_user_a, partner_a, customers):
    # given
    client.force_login(partner_user_a)
    assert client.get(f"{BASE}new/").status_code == 200
    # when
    response = client.post(
        f"{BASE}new/",
        builder_post(
            name="German buyers",
            rows=[
                {"field": "country", "op": "is", "value": "de"},
                {"field": "orders_count", "op": "gte", "value": "1"},
            ],
        ),
    )
    # then
    assert response.status_code == 302, response.content.decode()[-2000:]
    with schema_context(partner_a.schema_name):
        segment = Segment.objects.get()
        assert response["Location"] == f"{BASE}{segment.pk}/"
        assert segment.filter["conditions"][1] == {"field": "orders_count", "op": "gte", "value": 1}
        segment_evaluate(segment=segment)
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Ann" in page.content.decode() and "Cid" not in page.content.decode()


def test_a_bad_condition_is_a_form_error_naming_it(client, partner_user_a, partner_a, customers):
    client.force_login(partner_user_a)
    response = client.post(
        f"{BASE}new/",
        builder_post(
            rows=[
                {"field": "country", "op": "is", "value": "DE"},
                {"field": "birthdate", "op": "before", "value": "yesterday"},
            ]
        ),
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert "Condition 2 (birthdate) “yesterday” is not a date" in body
    assert 'id="condition-1-error"' in body and 'aria-describedby="condition-1-error"' in body
    with schema_context(partner_a.schema_name):
        assert not Segment.objects.exists()


def test_add_and_remove_rows_without_javascript(client, partner_user_a, partner_a):
    client.force_login(partner_user_a)
    rows = [{"field": "country", "op": "is", "value": "DE"}]
    added = client.post(f"{BASE}new/", builder_post(rows=rows, action="add")).content.decode()
    assert added.count('data-testid="condition"') == 2
    assert "This field is required" not in added
    removed = client.post(
        f"{BASE}new/", builder_post(rows=rows, action="remove-0")
    ).content.decode()
    assert removed.count('data-testid="condition"') == 0
    # a changed field gets the operators of its type
    rows = [{"field": "total_spent", "op": "is", "value": "5"}]
    refreshed = client.post(
        f"{BASE}new/", builder_post(rows=rows, action="refresh")
    ).content.decode()
    assert '<option value="gt"' in refreshed and '<option value="contains"' not in refreshed
    with schema_context(partner_a.schema_name):
        assert not Segment.objects.exists()


def test_htmx_row_actions_return_only_the_builder(client, partner_user_a, partner_a):
    client.force_login(partner_user_a)
    response = client.post(f"{BASE}new/", builder_post(action="add"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="builder"') and "<html" not in body
    assert 'hx-trigger="load"' in body


def test_preview_partial_counts_and_samples(client, partner_user_a, partner_a, customers):
    client.force_login(partner_user_a)
    rows = [{"field": "country", "op": "is", "value": "DE"}]
    response = client.post(f"{BASE}preview/", builder_post(rows=rows), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'data-testid="preview-count">2<' in body and "Bob" in body and "Cid" not in body
    # errors are shown per condition
    rows.append({"field": "event_in_last_days", "op": "is_true", "value": "", "days": "7"})
    body = client.post(f"{BASE}preview/", builder_post(rows=rows)).content.decode()
    assert "Condition 2 (event_in_last_days) needs an event type" in body


def test_static_segment_pages(client, partner_user_a, partner_a, customers):
    client.force_login(partner_user_a)
    client.post(f"{BASE}new/", builder_post(name="Chosen", kind="static"))
    with schema_context(partner_a.schema_name):
        segment = Segment.objects.get()
    detail = f"{BASE}{segment.pk}/"
    # find and add customers
    found = client.get(detail, {"q": "bob"}).content.decode()
    assert 'name="customer"' in found and "Bob" in found
    client.post(f"{detail}members/", {"action": "add", "customer": [customers["bob"].pk]})
    # upload a CSV
    upload = SimpleUploadedFile("people.csv", b"A1\nnobody@x.test\n", content_type="text/csv")
    response = client.post(f"{detail}members/", {"action": "upload", "file": upload}, follow=True)
    assert "Added 1 of 2 customer(s) from the file. 1 value(s) matched no customer" in (
        response.content.decode()
    )
    with schema_context(partner_a.schema_name):
        assert members(segment) == {"Ann", "Bob"}
    # a bad file is a form error
    bad = SimpleUploadedFile("bad.csv", b"\xff\xfe", content_type="text/csv")
    response = client.post(f"{detail}members/", {"action": "upload", "file": bad})
    assert response.status_code == 400 and "not UTF-8" in response.content.decode()
    # remove
    client.post(f"{detail}members/", {"action": "remove", "member": [customers["ann"].pk]})
    with schema_context(partner_a.schema_name):
        assert members(segment) == {"Bob"}
    assert "Chosen" in client.get(BASE).content.decode()


def test_delete_from_the_page(client, partner_user_a, partner_a):
    client.force_login(partner_user_a)
    with schema_context(partner_a.schema_name):
        segment = segment_create(name="Bye", kind="static")
    assert client.get(f"{BASE}{segment.pk}/delete/").status_code == 405
    page = client.get(f"{BASE}{segment.pk}/").content.decode()
    assert "data-confirm=" in page
    response = client.post(f"{BASE}{segment.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == BASE
    with schema_context(partner_a.schema_name):
        assert not Segment.objects.exists()


def test_another_partners_segment_is_a_404(client, partner_user_b, partner_a, partner_b):
    # given a segment of alpha, and the same id in beta does not exist
    with schema_context(partner_a.schema_name):
        segment = segment_create(name="Alpha only", kind="static")
    client.force_login(partner_user_b)
    # when beta's user asks for it under beta, or under alpha
    for url in (f"/p/beta/segments/{segment.pk}/", f"{BASE}{segment.pk}/"):
        assert client.get(url).status_code == 404
    assert client.post(f"/p/beta/segments/{segment.pk}/delete/").status_code == 404
    with schema_context(partner_a.schema_name):
        assert Segment.objects.filter(pk=segment.pk).exists()


def test_merchants_cannot_see_segments(client, merchant_a, partner_a):
    client.force_login(merchant_a)
    assert client.get(BASE).status_code == 403


def test_audience_changes_pull_the_trigger_but_segment_events_do_not(
    partner_a, django_capture_on_commit_callbacks
):
    from apps.core.redis import redis_client
    from apps.customers.events import event_record, events_record_bulk
    from apps.customers.models import Customer

    flag = f"segments:evaluate-pending:{partner_a.schema_name}"
    with schema_context(partner_a.schema_name):
        customer = Customer.objects.create(source_id="trigger-1")
        # when only segment events are recorded
        redis_client().delete(flag)
        with django_capture_on_commit_callbacks(execute=True):
            events_record_bulk([(customer.pk, "segment.entered", {})])
        # then nothing is scheduled
        assert not redis_client().exists(flag)
        # when an order event is recorded
        with django_capture_on_commit_callbacks(execute=True):
            event_record(customer=customer, type="order.paid", payload={})
        # then an evaluation is pending
        assert redis_client().exists(flag)
    redis_client().delete(flag)


def _break_with_stored_filter(segment, monkeypatch):
    # A filter saved before values were bounded: "after 9999-12-31" overflows Python's dates.
    Segment.objects.filter(pk=segment.pk).update(
        filter={
            "match": "all",
            "conditions": [{"field": "birthdate", "op": "after", "value": "9999-12-31"}],
        }
    )
    return "is out of range"


def _break_in_the_database(segment, monkeypatch):
    # Any database error, not only a refused filter: this segment's statement divides by zero.
    real = services_module.compile_parts

    def compile_parts(data):
        source, where, params = real(data)
        return (source, "1 / 0 = 1", []) if data == BROKEN_FILTER else (source, where, params)

    Segment.objects.filter(pk=segment.pk).update(filter=BROKEN_FILTER)
    monkeypatch.setattr(services_module, "compile_parts", compile_parts)
    return "the database refused its conditions (division by zero)"


BROKEN_FILTER = {"match": "all", "conditions": [{"field": "country", "op": "is", "value": "XX"}]}


@pytest.mark.parametrize("breaking", [_break_with_stored_filter, _break_in_the_database])
def test_a_broken_segment_fails_alone_and_carries_its_error(
    breaking, client, partner_user_a, partner_a, customers, monkeypatch
):
    # given a partner with a broken segment (evaluated first) and a good one
    with schema_context(partner_a.schema_name):
        broken = segment_create(name="A broken", kind="active", filter=BIG_SPENDERS)
        good = segment_create(name="B good", kind="active", filter=BIG_SPENDERS)
        SegmentMembership.objects.create(segment=broken, customer=customers["bob"])
        expected = breaking(broken, monkeypatch)
        # when every segment is evaluated, and the broken one alone by its job
        totals = segments_evaluate_all()
        alone = segment_evaluate_job(broken.pk)
        # then the good one is evaluated
        assert totals == {"segments": 1, "entered": 1, "left": 0, "failed": 1}
        good.refresh_from_db()
        assert members(good) == {"Ann"} and good.evaluated_at and not good.last_error
        # and the broken one kept its members and carries its error
        broken.refresh_from_db()
        assert members(broken) == {"Bob"} and broken.evaluated_at is None
        assert expected in broken.last_error and broken.last_error_at
        assert alone == {"failed": broken.last_error}
    # and its page says so
    client.force_login(partner_user_a)
    body = client.get(f"{BASE}{broken.pk}/").content.decode()
    assert 'data-testid="segment-error"' in body and "could not be evaluated" in body
    # when its conditions are fixed, a successful evaluation clears the error
    monkeypatch.undo()
    with schema_context(partner_a.schema_name):
        Segment.objects.filter(pk=broken.pk).update(filter=BIG_SPENDERS)
        assert segment_evaluate_job(broken.pk) == {"entered": 1, "left": 1, "members": 1}
        broken.refresh_from_db()
        assert broken.last_error == "" and broken.last_error_at is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"field": "total_spent", "op": "gt", "value": "1e999999"}, "“1e999999” is too large"),
        ({"field": "birthdate", "op": "after", "value": "9999-12-31"}, "is out of range"),
    ],
)
def test_huge_values_are_refused_by_the_preview_and_the_save(
    client, partner_user_a, partner_a, row, message
):
    client.force_login(partner_user_a)
    data = builder_post(rows=[row])
    started = time.monotonic()
    # the live preview (what every keystroke posts) and the save share one refusal
    preview = client.post(f"{BASE}preview/", data, HTTP_HX_REQUEST="true")
    saved = client.post(f"{BASE}new/", data)
    assert time.monotonic() - started < 2
    assert preview.status_code == 200 and message in preview.content.decode()
    assert saved.status_code == 400 and message in saved.content.decode()
    with schema_context(partner_a.schema_name):
        assert not Segment.objects.exists()
