"""One rule decides whether a draft is complete: the wizard's steps and launch / activate
through the service (apps.distributions.completeness) agree, so no draft the wizard refuses
goes live another way."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from apps.distributions.completeness import (
    STEP_TITLES,
    draft_problems,
    first_incomplete,
    step_problems,
)
from apps.distributions.models import Distribution, Recipient
from apps.distributions.services import (
    DistributionError,
    distribution_activate,
    distribution_check_complete,
    distribution_launch,
)
from tests.distributions import pipeline_setup as setup


def assert_refused_at(step: int, error: DistributionError, d: Distribution) -> None:
    """Refused as incomplete, naming `step`, and nothing changed."""
    d.refresh_from_db()
    assert error.key == "distribution_incomplete"
    assert f"step {step} ({STEP_TITLES[step]})" in error.message
    assert d.status == "draft" and d.launched_at is None
    assert not Recipient.objects.filter(distribution=d).exists()


@pytest.mark.parametrize("kind", ["manual", "automatic"])
def test_a_draft_whose_pool_is_empty_is_refused_by_the_service_as_by_the_wizard(
    partner_a, partner_user_a, kind
):
    # given a draft complete in every step but its campaign has no code left
    with schema_context("p_alpha"):
        people = setup.customers(3)
        d = setup.distribution(
            kind=kind, segment=setup.static_segment(people), campaign=setup.campaign(0)
        )
        launch = distribution_launch if kind == "manual" else distribution_activate
        # when it is launched (or activated) through the service, not the wizard
        with pytest.raises(DistributionError) as refused:
            launch(distribution=d, actor=partner_user_a)
        wizard = step_problems(d)
        # then it is refused, naming step 7, with the sentence the wizard shows there
        assert_refused_at(7, refused.value, d)
        assert list(wizard) == [7]
        assert wizard[7][0] in refused.value.message
        assert first_incomplete(d) == 7


def test_the_same_draft_goes_live_once_its_pool_has_codes(partner_a, partner_user_a):
    # given the same draft, its campaign with codes
    with schema_context("p_alpha"):
        people = setup.customers(2)
        d = setup.distribution(segment=setup.static_segment(people), campaign=setup.campaign(2))
        # when
        problems = draft_problems(d)
        launched = distribution_launch(distribution=d, actor=partner_user_a)
        # then
        assert problems == []
        assert launched.status == "live"


def test_a_name_taken_by_another_distribution_is_a_problem_of_step_two(partner_a):
    # given two drafts whose names differ only in case and spacing (the database's unique
    # index compares lower(name) as stored; the rule compares what a person reads)
    with schema_context("p_alpha"):
        campaign = setup.campaign(1)
        setup.distribution(name="Spring sale", campaign=campaign)
        d = setup.distribution(name="SPRING  sale ", campaign=campaign)
        # when
        problems = draft_problems(d)
        # then
        assert [step for step, _ in problems] == [2, 6]
        assert "already named" in problems[0][1]


def test_launching_an_incomplete_draft_names_the_step_and_changes_nothing(
    partner_user_a, django_capture_on_commit_callbacks, in_partner
):
    people = setup.customers(3)
    d = setup.distribution(
        segment=setup.static_segment(people), campaign=setup.campaign(3), channels=[]
    )
    bad = setup.distribution(
        segment=d.segment,
        campaign=d.campaign,
        content={
            "email": {"subject": "Hi {{ customer.shoe_size }}", "html": "<p>x</p>"},
            "sms": setup.SMS,
        },
    )
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(DistributionError) as missing:
            distribution_launch(distribution=d, actor=partner_user_a)
    problems = distribution_check_complete(bad)
    # then
    assert_refused_at(3, missing.value, d)
    assert callbacks == []
    assert [step for step, _ in problems] == [4]
    assert "shoe_size" in problems[0][1]


def test_check_complete_lists_every_missing_step(in_partner):
    empty = Distribution.objects.create(name="", kind="manual")
    # when
    problems = distribution_check_complete(empty)
    # then
    assert [step for step, _ in problems] == [2, 3, 6, 7]
