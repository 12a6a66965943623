"""Merge tags: rendering in the sandbox (HTML escaped and sanitized, text not escaped), every
kind of template problem named with its line at compose time, `render` refusing an invalid
template, nh3 sanitizing, the plain-text alternative, and the context built from real rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django import forms
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.customers.models import Customer
from apps.messaging.images import SAMPLE_CODE
from apps.messaging.templating import (
    MERGE_TAGS,
    TemplateError,
    clean_template_field,
    html_to_text,
    message_context,
    render,
    sample_context,
    sanitize_html,
    sanitize_template,
    validate_template,
)
from tests.factories import CampaignFactory, VoucherFactory


def _keys(source: str) -> list[str]:
    return [problem.key for problem in validate_template(source)]


# --- Rendering -----------------------------------------------------------------------------


def test_text_rendering_fills_merge_tags_and_does_not_escape():
    # given
    context = sample_context()
    context["customer"]["first_name"] = "Ann & Bob"
    context["voucher"]["expiration_date"] = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)

    # when
    text = render(
        "Hi {{ customer.first_name }}, use {{ voucher.code }} for {{ voucher.discount }} "
        'until {{ voucher.expiration_date|date:"j F Y" }}.',
        context,
        html=False,
    )

    # then
    assert text == f"Hi Ann & Bob, use {SAMPLE_CODE} for 10% off until 30 June 2026."


def test_html_rendering_escapes_customer_values():
    # given: a customer whose name is markup
    context = sample_context()
    context["customer"]["name"] = "<script>alert('x')</script> & co"

    # when
    html = render("<p>Hello {{ customer.name }}</p>", context, html=True)

    # then
    assert "<script>" not in html
    assert html == "<p>Hello &lt;script&gt;alert('x')&lt;/script&gt; &amp; co</p>"


def test_html_rendering_sanitizes_the_result():
    # given: a javascript: link from customer metadata and markup in a template literal, which
    # autoescaping alone would let through
    context = sample_context()
    context["customer"]["metadata"] = {"site": "javascript:alert(1)"}
    source = '<a href="{{ customer.metadata.site }}">site</a>{{ "<script>alert(2)</script>" }}'

    # when
    html = render(source, context, html=True)

    # then
    assert "javascript:" not in html
    assert "script" not in html
    assert html == '<a rel="noopener noreferrer">site</a>'


def test_metadata_keys_are_merge_tags_and_missing_ones_render_empty():
    # given
    context = sample_context()
    source = "{{ customer.metadata.tier }}/{{ customer.metadata.missing|default:'none' }}"

    # when
    problems = validate_template(source)
    text = render(source, context, html=False)

    # then
    assert problems == []
    assert text == "gold/none"


def test_now_as_and_with_aliases_render_without_touching_the_callers_context():
    # given
    context = sample_context()
    source = (
        '{% now "Y" as year %}{% with first=customer.first_name c=customer %}'
        "{{ first }} {{ c.last_name }} {{ year }}{% endwith %}"
    )

    # when
    text = render(source, context, html=False)

    # then
    assert text == f"Ann Example {timezone.now().year}"
    assert "year" not in context


def test_every_listed_merge_tag_is_accepted():
    # given: a template using every tag of the merge-tag menu
    source = " ".join("{{ " + tag.name.replace("<key>", "tier") + " }}" for tag in MERGE_TAGS)

    # when
    problems = validate_template(source)
    text = render(source, sample_context(), html=False)

    # then
    assert problems == []
    assert "Ann Example" in text and SAMPLE_CODE in text and "gold" in text


# --- Problems at compose time --------------------------------------------------------------


def test_unknown_merge_tag_is_named_with_a_suggestion_and_the_list():
    # when
    problems = validate_template("Hello\n{{ customer.nme }}")

    # then
    assert len(problems) == 1
    problem = problems[0]
    assert problem.key == "unknown_merge_tag"
    assert problem.line == 2
    assert "Unknown merge tag {{ customer.nme }}" in problem.message
    assert "Did you mean {{ customer.name }}?" in problem.message
    assert "Available: customer.name, customer.first_name" in problem.message


def test_variables_inside_tags_and_filter_arguments_are_checked():
    # given: misspellings in an if condition, an elif and a filter argument
    source = (
        "{% if voucher.cde and customer.metadata.vip %}a{% elif partner.nam %}b{% endif %}"
        "{{ customer.metadata.tier|default:customer.cty }}"
    )

    # when
    messages = [problem.message for problem in validate_template(source)]

    # then
    assert len(messages) == 3
    assert any("{{ voucher.cde }}" in m for m in messages)
    assert any("{{ partner.nam }}" in m for m in messages)
    assert any("{{ customer.cty }}" in m for m in messages)


def test_aliases_are_checked_where_they_are_used():
    # when
    problems = validate_template(
        "{% with c=customer %}{{ c.nme }}{% endwith %}{{ c }}{{ customer }}"
    )

    # then: c.nme is unknown, c outside its block is unknown, a whole group is not a tag
    assert [p.key for p in problems] == ["unknown_merge_tag"] * 3
    assert "{{ c.nme }}" in problems[0].message


def test_unknown_and_forbidden_filters_are_named():
    # when
    problems = validate_template("{{ customer.name|safe }}\n{{ customer.name|shout }}")

    # then
    assert [(p.key, p.line) for p in problems] == [
        ("filter_not_allowed", 1),
        ("unknown_filter", 2),
    ]
    assert "The filter |safe cannot be used" in problems[0].message
    assert "Unknown filter |shout" in problems[1].message
    assert "truncatechars" in problems[1].message


@pytest.mark.parametrize(
    "source,tag",
    [
        ("{% load humanize %}", "load"),
        ('{% include "x.html" %}', "include"),
        ('{% url "portal:home" %}', "url"),
        ('{% extends "base.html" %}', "extends"),
        ("{% csrf_token %}", "csrf_token"),
        ("{% debug %}", "debug"),
        ("{% block a %}x{% endblock %}", "block"),
        ("{% autoescape off %}{{ customer.name }}{% endautoescape %}", "autoescape"),
        ("{% for x in customer.metadata.list %}.{% endfor %}", "for"),
        ("{% shout %}", "shout"),
    ],
)
def test_tags_outside_the_whitelist_are_refused(source, tag):
    # when
    problems = validate_template("Hi\n" + source)

    # then: one problem naming the tag (not its closing word), at its line
    assert [(p.key, p.line) for p in problems] == [("tag_not_allowed", 2)]
    assert f"The tag {{% {tag} %}} cannot be used in messages" in problems[0].message


def test_forbidden_tags_never_render():
    # when / then
    with pytest.raises(TemplateError) as raised:
        render("{% load static %}{% static 'x' %}", sample_context(), html=True)
    assert raised.value.key == "invalid_template"
    assert {p.key for p in raised.value.problems} == {"tag_not_allowed"}


def test_syntax_errors_are_reported_with_their_line():
    # when
    problems = validate_template("one\ntwo\n{% if customer.name %}three")

    # then
    assert [(p.key, p.line) for p in problems] == [("template_syntax", 3)]
    assert "Unclosed tag" in problems[0].message


def test_a_syntax_error_does_not_hide_unknown_merge_tags_and_filters():
    # when: the if is never closed, so the template cannot be parsed as a whole
    problems = validate_template("{{ customer.nme }}\n{{ voucher.code|safe }}\n{% if x %}")

    # then
    assert [(p.key, p.line) for p in problems] == [
        ("unknown_merge_tag", 1),
        ("filter_not_allowed", 2),
        ("template_syntax", 3),
    ]


def test_a_bad_variable_does_not_hide_the_next_problem():
    # when
    problems = validate_template("{{ customer.name|upper:'x' }} {{ voucher.cod }}")

    # then
    assert [p.key for p in problems] == ["template_syntax", "unknown_merge_tag"]
    assert "upper requires 1 arguments" in problems[0].message


def test_an_unclosed_variable_is_a_problem_not_literal_text():
    # when
    problems = validate_template("Hi\n{{ customer.name\n}} and {% if")

    # then
    assert [(p.key, p.line) for p in problems] == [
        ("template_syntax", 2),
        ("template_syntax", 3),
    ]


def test_comments_may_hold_anything():
    # when / then
    assert _keys("{% comment %}{% load x %}{{ nope }}{% endcomment %}{# {{ nope }} #}ok") == []


def test_render_refuses_an_invalid_template_instead_of_leaving_blanks():
    # when / then
    with pytest.raises(TemplateError) as raised:
        render("Your code: {{ voucher.cod }}", sample_context(), html=False)
    assert [p.key for p in raised.value.problems] == ["unknown_merge_tag"]
    assert "{{ voucher.cod }}" in raised.value.message


def test_clean_template_field_lists_every_problem():
    # when / then
    with pytest.raises(forms.ValidationError) as raised:
        clean_template_field("{% load x %}\n{{ customer.nme }}", html=False)
    errors = raised.value.error_list
    assert [error.code for error in errors] == ["tag_not_allowed", "unknown_merge_tag"]
    assert errors[1].message.startswith("Line 2: Unknown merge tag {{ customer.nme }}.")


def test_clean_template_field_returns_sanitized_html_with_merge_tags_intact():
    # given
    value = (
        '<p onclick="steal()">{% if customer.metadata.points > 10 %}Hi{% endif %} '
        '<a href="{{ unsubscribe_url }}">out</a> '
        '<img src="{{ voucher.qr_url }}" alt="QR" onerror="x()"></p><script>bad()</script>'
    )

    # when
    cleaned = clean_template_field(value, html=True)

    # then
    assert cleaned == (
        "<p>{% if customer.metadata.points > 10 %}Hi{% endif %} "
        '<a href="{{ unsubscribe_url }}" rel="noopener noreferrer">out</a> '
        '<img src="{{ voucher.qr_url }}" alt="QR"></p>'
    )


# --- Sanitizing and plain text -------------------------------------------------------------


def test_sanitize_html_strips_scripts_handlers_and_keeps_formatting():
    # given
    dirty = (
        '<div style="color: red; position: fixed"><b>Bold</b><script>alert(1)</script>'
        '<style>p {}</style><img src="https://x.test/a.png" onerror="alert(2)" width="10">'
        '<a href="https://x.test" target="_blank" onmouseover="y()">go</a>'
        '<a href="javascript:alert(3)">js</a><table><tr><td colspan="2">c</td></tr></table>'
        "</div>"
    )

    # when
    clean = sanitize_html(dirty)

    # then
    assert clean == (
        '<div style="color:red"><b>Bold</b><img src="https://x.test/a.png" width="10">'
        '<a href="https://x.test" rel="noopener noreferrer">go</a>'
        '<a rel="noopener noreferrer">js</a><table><tbody><tr><td colspan="2">c</td></tr>'
        "</tbody></table></div>"
    )


def test_sanitize_template_keeps_quotes_inside_merge_tags_in_attributes():
    # when
    clean = sanitize_template('<a title="{{ voucher.expiration_date|date:"Y" }}">x</a>')

    # then
    assert clean == (
        '<a title="{{ voucher.expiration_date|date:"Y" }}" rel="noopener noreferrer">x</a>'
    )


def test_html_to_text_keeps_links_and_paragraphs():
    # given
    html = (
        "<h1>Hi Ann</h1><p>Your code: <b>ABC</b> &amp;\n   more<br>next line</p>"
        "<ul><li>one</li><li>two</li></ul>"
        '<p><a href="https://x.test/u">Unsubscribe</a> <a href="https://y.test">https://y.test</a>'
        "</p><style>p{color:red}</style><table><tr><td>a</td><td>b</td></tr></table>"
    )

    # when
    text = html_to_text(html)

    # then
    assert text == (
        "Hi Ann\n\nYour code: ABC & more\nnext line\n\n- one\n- two\n\n"
        "Unsubscribe (https://x.test/u) https://y.test\n\na b"
    )


# --- Context from real rows ----------------------------------------------------------------


def test_message_context_from_a_customer_and_voucher(partner_a, settings):
    # given
    expires = dt.datetime(2026, 6, 30, 18, 0, tzinfo=dt.UTC)
    with schema_context(partner_a.schema_name):
        customer = Customer.objects.create(
            name="Ann Marie Example", email="ann@example.test", city="Lisbon",
            metadata={"tier": "gold", "nested": {"a": 1}},
        )  # fmt: skip
        campaign = CampaignFactory(
            discount_type="PERCENT", percent_off=10, amount_off=None, expiration_date=expires
        )
        voucher = VoucherFactory(campaign=campaign, code="SPRING-123")

        # when
        context = message_context(
            customer=customer,
            voucher=voucher,
            partner=partner_a,
            unsubscribe_url="https://example.test/u/x",
        )
        text = render(
            "{{ customer.first_name }}|{{ customer.last_name }}|{{ voucher.code }}|"
            '{{ voucher.discount }}|{{ voucher.expiration_date|date:"Y-m-d" }}|'
            "{{ partner.name }}|{{ customer.metadata.nested.a }}",
            context,
            html=False,
        )

    # then
    assert text == "Ann|Marie Example|SPRING-123|10% off|2026-06-30|Alpha Retail|1"
    prefix = settings.SITE_URL + "/p/alpha/m/c/"
    assert context["voucher"]["qr_url"].startswith(prefix)
    assert context["voucher"]["qr_url"].endswith("/qr.png")
    assert context["voucher"]["barcode_url"].endswith("/barcode.png")
    # plain values only: nothing a template could call into
    assert type(context["customer"]) is dict and type(context["partner"]) is dict
    assert context["customer"]["metadata"] == {"tier": "gold", "nested": {"a": 1}}
    assert context["customer"]["metadata"] is not customer.metadata


def test_message_context_without_voucher_or_customer_renders_empty(partner_a):
    # when
    context = message_context(customer=None, voucher=None, partner=partner_a)

    # then
    assert render("[{{ customer.name }}{{ voucher.code }}]", context, html=False) == "[]"


# --- Render-time failures found at compose time --------------------------------------------


@pytest.mark.parametrize(
    ("source", "written", "hint"),
    [
        ("Hi\n{{ customer.name|wordwrap:0 }}", "|wordwrap:'0'", "a line width of at least 1"),
        (
            '{{ voucher.expiration_date|timeuntil:"soon" }}',
            "|timeuntil:'soon'",
            "applies to a date",
        ),
        ("{{ customer.city|timeuntil }}", "|timeuntil", "applies to a date"),
        ("{{ voucher.expiration_date|first }}", "|first", "not to a date or a number"),
        ('{{ "1.5"|floatformat:"100000000" }}', "|floatformat:'100000000'", "between -20 and 20"),
        ('{{ "1e999999"|floatformat }}', "|floatformat", "decimal places"),
        ('{{ customer.name|join:"' + "-" * 200 + '" }}', "|join:", "a short separator"),
        ("{{ customer.name|join:customer.name }}", "|join:", "a short separator"),
    ],
)
def test_a_filter_that_fails_at_render_time_is_refused_at_compose_time(source, written, hint):
    # when the template is checked as the compose form checks it
    problems = validate_template(source)
    # then one sentence names the filter, its argument and how to use it
    assert [p.key for p in problems] == ["filter_fails"]
    assert problems[0].message.startswith(f"The filter {written}")
    assert hint in problems[0].message and problems[0].line == source.count("\n") + 1
    with pytest.raises(forms.ValidationError):
        clean_template_field(source, html=False)


def test_templates_that_render_on_every_sample_are_accepted():
    for source in (
        '{{ voucher.expiration_date|timeuntil }} {{ voucher.expiration_date|date:"j F Y" }}',
        "{{ customer.metadata.tier|first }}{{ customer.metadata.points|floatformat:2 }}",
        "{{ customer.name|wordwrap:40 }}{{ customer.metadata.x|add:customer.metadata.y }}",
    ):
        assert validate_template(source) == [], source


def test_sending_never_fails_on_one_customers_values():
    # given a template that passed the check, and a customer whose values break its filters
    source = (
        "{{ customer.name|add:customer.metadata.missing }}|{{ customer.metadata.n|first }}|"
        "{{ customer.metadata.big|floatformat:2 }}"
    )
    assert validate_template(source) == []
    context = sample_context()
    context["customer"] = context["customer"] | {"metadata": {"n": 7, "big": "1e999999"}}
    # when / then it renders, the failing filters empty
    assert render(source, context, html=False) == "Ann Example||"
