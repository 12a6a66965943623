"""Property tests of code formats: any format and count is refused with a CodeFormatError
(stable key, a sentence), or gives distinct codes of the format's exact shape."""

from __future__ import annotations

import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.campaigns.codegen import (
    Charset,
    CodeFormat,
    CodeFormatError,
    generate_codes,
    normalize_code,
    sample_codes,
    validate_format,
)

PROPERTIES = settings(max_examples=150, deadline=1000)

affixes = st.text(alphabet=string.printable + "éß€", max_size=24)
formats = st.builds(
    CodeFormat,
    length=st.integers(-2, 70),
    charset=st.sampled_from([*Charset, "emoji"]),
    custom_charset=st.text(alphabet=string.ascii_letters + string.digits + "-_ é", max_size=8),
    prefix=affixes,
    postfix=affixes,
    pattern=st.one_of(st.just(""), st.text(alphabet="AB-#%s. ", max_size=70)),
)


def _shape(fmt: CodeFormat) -> re.Pattern[str]:
    alphabet = re.escape(fmt.alphabet())
    parts = [f"[{alphabet}]" if c == "#" else re.escape(c) for c in fmt.template()]
    return re.compile("".join(parts))


@PROPERTIES
@given(fmt=formats, count=st.integers(-1, 300), existing=st.integers(0, 10**6))
def test_any_format_is_refused_clearly_or_gives_distinct_codes_of_its_shape(fmt, count, existing):
    try:
        validate_format(fmt, count=count, existing=existing)
        codes = generate_codes(fmt, count)
    except CodeFormatError as refusal:
        assert refusal.key and str(refusal).endswith(".")
        return
    assert len(codes) == count == len(set(codes))
    shape = _shape(fmt)
    assert all(shape.fullmatch(code) and normalize_code(code) == code for code in codes)


@PROPERTIES
@given(fmt=formats)
def test_sample_codes_are_refused_clearly_or_fit_the_format(fmt):
    try:
        codes = sample_codes(fmt)
    except CodeFormatError as refusal:
        assert refusal.key and str(refusal).endswith(".")
        return
    assert 1 <= len(codes) <= 5 and all(_shape(fmt).fullmatch(code) for code in codes)
