"""Property tests of merge-tag templates: any source text built from tags, filters and
arguments is refused by `validate_template` with sentences, or renders, within a bounded size,
against the check's sample contexts and against customers with arbitrary metadata."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.messaging.merge_filters import MAX_FILTER_OUTPUT
from apps.messaging.templating import (
    ALLOWED_FILTERS,
    MAX_RENDERED,
    MERGE_TAGS,
    TemplateProblem,
    check_contexts,
    render,
    sample_context,
    validate_template,
)

PROPERTIES = settings(max_examples=200, deadline=1000)

variables = st.one_of(
    st.sampled_from([tag.name for tag in MERGE_TAGS if "<" not in tag.name]),
    st.builds(lambda k: f"customer.metadata.{k}", st.from_regex(r"[a-z]{1,6}", fullmatch=True)),
    st.sampled_from(["customer", "voucher", "nope.thing", "x"]),
)
literal_args = st.one_of(
    st.integers(-(10**12), 10**12).map(lambda n: f'"{n}"'),
    st.integers(-5, 100).map(str),
    st.sampled_from(['"abc"', '""', '"1e999999"', '"j F Y"', '"a,b,c"', '"::0"', '"2g"']),
    st.text(alphabet='abc ,:-"', max_size=8).map(lambda t: f'"{t}"'),
)
filters = st.builds(
    lambda name, arg: f"|{name}" if arg is None else f"|{name}:{arg}",
    st.one_of(st.sampled_from(ALLOWED_FILTERS), st.sampled_from(["safe", "center", "nope"])),
    st.one_of(st.none(), literal_args, variables),
)
literal_values = st.sampled_from(['"1.5"', '"1e999999"', '"-0"', "3", '"x"', '""'])
expressions = st.builds(
    lambda var, fs: var + "".join(fs),
    st.one_of(variables, literal_values),
    st.lists(filters, max_size=4),
)
pieces = st.one_of(
    st.text(alphabet="Hi, {}%\n", max_size=6),
    expressions.map(lambda e: "{{ " + e + " }}"),
    st.builds(lambda e, body: f"{{% if {e} %}}{body}{{% endif %}}", expressions, expressions),
    st.builds(lambda e: f"{{% with v={e} %}}{{{{ v|upper }}}}{{% endwith %}}", expressions),
    st.builds(lambda a, b: f"{{% firstof {a} {b} %}}", expressions, expressions),
    st.sampled_from(['{% now "Y-m-d" %}', "{% load x %}", "{% for a in b %}", "{{ ", "%}"]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@PROPERTIES
@given(
    parts=st.lists(pieces, max_size=6),
    html=st.booleans(),
    metadata=st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), json_values),
)
def test_any_template_is_refused_with_sentences_or_renders_bounded(parts, html, metadata):
    source = "".join(parts)
    problems = validate_template(source, html=html)
    assert all(isinstance(p, TemplateProblem) and p.message.endswith(".") for p in problems)
    if problems:
        return
    customer = sample_context()["customer"] | {"metadata": metadata}
    for context in [*check_contexts(), sample_context() | {"customer": customer}]:
        output = render(source, context, html=html)
        assert len(output) <= max(MAX_RENDERED, 20 * MAX_FILTER_OUTPUT)
