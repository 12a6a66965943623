"""Tests for apps.campaigns.codegen (pure Python, no database)."""

import os
import re
from collections import Counter

import pytest

from apps.campaigns.codegen import (
    DEFAULT_BANNED_WORDS,
    Charset,
    CodeFormat,
    CodeFormatError,
    generate_codes,
    normalize_code,
    sample_codes,
    validate_format,
)


def scripted_rand(first: bytes):
    """A ``rand`` that returns ``first`` before falling back to os.urandom."""
    pending = bytearray(first)

    def rand(n: int) -> bytes:
        head = bytes(pending[:n])
        del pending[:n]
        return head + os.urandom(n - len(head))

    return rand


def as_bytes(fmt: CodeFormat, text: str) -> bytes:
    # Byte i maps to alphabet[i], so this spells ``text`` through the generator.
    return bytes(fmt.alphabet().index(c) for c in text)


def test_characters_are_uniformly_distributed():
    # given
    fmt = CodeFormat(length=10)
    alphabet = fmt.alphabet()
    # when
    counts = Counter("".join(generate_codes(fmt, 20_000)))
    # then: chi-square with 30 degrees of freedom averages 30; 120 is far out in the tail
    expected = 200_000 / len(alphabet)
    chi2 = sum((counts[c] - expected) ** 2 / expected for c in alphabet)
    assert set(counts) == set(alphabet)
    assert chi2 < 120


def test_bytes_above_the_largest_multiple_are_rejected():
    # given: 3 characters -> byte 255 would give 'A' one extra chance, so it must be skipped
    fmt = CodeFormat(charset=Charset.CUSTOM, custom_charset="abc", length=4)
    rand = scripted_rand(bytes([255, 255, 0, 4, 255, 2, 3]))
    # when
    codes = generate_codes(fmt, 1, rand=rand)
    # then
    assert codes == ["ABCA"]


def test_codes_are_unique_and_uppercase():
    # given: a small space, so duplicates are drawn and must be topped up
    fmt = CodeFormat(charset=Charset.DIGITS, length=4)
    # when
    codes = generate_codes(fmt, fmt.capacity() // 2)
    # then
    assert len(codes) == len(set(codes)) == 2048
    assert all(re.fullmatch("[2-9]{4}", c) for c in codes)


def test_prefix_and_postfix_wrap_the_random_part():
    # given
    fmt = CodeFormat(length=6, prefix="spring-", postfix="-x")
    # when
    codes = generate_codes(fmt, 100)
    # then
    assert all(re.fullmatch(r"SPRING-[A-Z2-9]{6}-X", c) for c in codes)


def test_pattern_fills_hashes_and_keeps_literals():
    # given
    fmt = CodeFormat(pattern="spring-####-####", charset=Charset.LETTERS, prefix="P%")
    # when
    codes = generate_codes(fmt, 100)
    # then
    assert fmt.random_positions() == 8
    assert all(re.fullmatch(r"P%SPRING-[A-Z]{4}-[A-Z]{4}", c) for c in codes)


def test_default_alphabets_have_no_ambiguous_characters():
    # given
    ambiguous = set("01OIL")
    # when
    alphabets = {cs: CodeFormat(charset=cs).alphabet() for cs in Charset if cs != Charset.CUSTOM}
    # then
    assert all(not ambiguous & set(a) for a in alphabets.values())
    assert alphabets[Charset.DIGITS] == "23456789"
    assert len(alphabets[Charset.LETTERS]) == 23
    assert len(alphabets[Charset.ALPHANUMERIC]) == 31


def test_custom_charset_is_uppercased_and_deduplicated():
    # given
    fmt = CodeFormat(charset=Charset.CUSTOM, custom_charset="abcABCx-")
    # when / then
    assert fmt.alphabet() == "ABCX-"


@pytest.mark.parametrize(
    ("fmt", "stream"),
    [
        (CodeFormat(length=10), "FUCKFUCKFU"),  # banned word in the random part
        (CodeFormat(length=8, prefix="FU"), "CKAAAAAA"),  # word spans prefix and random part
        (CodeFormat(pattern="##-##"), "FUCK"),  # literal splits the word in the whole code
    ],
)
def test_banned_words_are_skipped(fmt, stream):
    # given: the first code drawn would contain a banned word
    rand = scripted_rand(as_bytes(fmt, stream))
    # when
    codes = generate_codes(fmt, 1, rand=rand)
    # then
    assert len(codes) == 1
    assert "FUCK" not in codes[0]
    assert "FUCK" not in codes[0].replace("-", "")


def test_banned_words_are_case_insensitive_and_replaceable():
    # given
    fmt = CodeFormat(charset=Charset.CUSTOM, custom_charset="AB", length=4)
    rand = scripted_rand(as_bytes(fmt, "ABBA"))
    # when
    codes = generate_codes(fmt, 1, banned_words=["abba"], rand=rand)
    # then
    assert codes != ["ABBA"]
    assert "FUCK" in DEFAULT_BANNED_WORDS


def test_banned_word_in_own_literals_does_not_block_generation():
    # given: the campaign chose the word itself
    fmt = CodeFormat(length=4, prefix="SHIT")
    # when
    codes = generate_codes(fmt, 10)
    # then
    assert len(codes) == 10


def test_a_stuck_random_source_raises_instead_of_looping():
    # given: every draw is the same code
    fmt = CodeFormat(length=4)
    # when / then
    with pytest.raises(CodeFormatError) as exc:
        generate_codes(fmt, 2, rand=lambda n: bytes(n))
    assert exc.value.key == "generation_stalled"


@pytest.mark.parametrize(
    ("fmt", "count", "existing", "key"),
    [
        (CodeFormat(length=3), 1, 0, "invalid_length"),
        (CodeFormat(length=65), 1, 0, "invalid_length"),
        (CodeFormat(length=64, prefix="A" * 20, postfix="B" * 20), 1, 0, "invalid_length"),
        (CodeFormat(pattern="SPRING-ABCD"), 1, 0, "invalid_pattern"),
        (CodeFormat(pattern="#" * 65), 1, 0, "invalid_pattern"),
        (CodeFormat(pattern="AB ####"), 1, 0, "invalid_pattern"),
        (CodeFormat(charset=Charset.CUSTOM, custom_charset="aA"), 1, 0, "invalid_charset"),
        (CodeFormat(charset=Charset.CUSTOM, custom_charset="AB C"), 1, 0, "invalid_charset"),
        (CodeFormat(charset=Charset.CUSTOM, custom_charset="ABÉ"), 1, 0, "invalid_charset"),
        (CodeFormat(charset=Charset.CUSTOM, custom_charset="AB#"), 1, 0, "invalid_charset"),
        (CodeFormat(prefix="A" * 21), 1, 0, "invalid_affix"),
        (CodeFormat(prefix="MY CODE"), 1, 0, "invalid_affix"),
        (CodeFormat(postfix="ÄÖ"), 1, 0, "invalid_affix"),
        (CodeFormat(), 0, 0, "invalid_count"),
        (CodeFormat(), 10_000_001, 0, "invalid_count"),
        (CodeFormat(charset=Charset.DIGITS, length=4), 2049, 0, "format_too_small"),
        (CodeFormat(charset=Charset.DIGITS, length=4), 2000, 49, "format_too_small"),
    ],
)
def test_validation_errors_have_stable_keys(fmt, count, existing, key):
    # given / when
    with pytest.raises(CodeFormatError) as exc:
        validate_format(fmt, count=count, existing=existing)
    # then
    assert exc.value.key == key
    assert str(exc.value).endswith(".")


def test_format_too_small_message_explains_the_numbers():
    # given: 32 characters x 2 positions = 1,024 codes, half usable
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789-_"[:32]
    fmt = CodeFormat(charset=Charset.CUSTOM, custom_charset=alphabet, pattern="SPRING-##")
    # when
    with pytest.raises(CodeFormatError) as exc:
        validate_format(fmt, count=500, existing=200)
    # then
    message = str(exc.value)
    assert "at most 1,024 distinct codes (32 characters ^ 2 random positions)" in message
    assert "500 are requested (plus 200 already allocated)" in message
    assert "Use a longer code or a larger character set." in message


def test_valid_format_passes_at_exactly_half_capacity():
    # given
    fmt = CodeFormat(charset=Charset.DIGITS, length=4)
    # when / then: no exception
    validate_format(fmt, count=2000, existing=48)


def test_capacity_math():
    # given / when / then
    assert CodeFormat(charset=Charset.DIGITS, length=4).capacity() == 8**4
    assert CodeFormat(length=10).capacity() == 31**10
    assert CodeFormat(pattern="X-###", length=50, charset=Charset.LETTERS).capacity() == 23**3
    assert CodeFormat(charset=Charset.CUSTOM, custom_charset="aAbB", length=5).capacity() == 2**5


def test_sample_codes_for_preview():
    # given
    fmt = CodeFormat(pattern="####", charset=Charset.DIGITS, prefix="x")
    # when
    samples = sample_codes(fmt)
    tiny = sample_codes(CodeFormat(charset=Charset.CUSTOM, custom_charset="AB", pattern="#"))
    # then
    assert len(samples) == 5 and all(re.fullmatch("X[2-9]{4}", s) for s in samples)
    assert len(tiny) == 1


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("abc123", "ABC123"),
        ("  Spring-AB12 \n", "SPRING-AB12"),
        ("ＡＢＣ", "ABC"),
        ("\u3000ｓｐｒｉｎｇ－１２\u3000", "SPRING-12"),
        ("AB CD", "AB CD"),
    ],
)
def test_normalize_code(raw, stored):
    # given / when / then
    assert normalize_code(raw) == stored


def test_generated_codes_are_already_normalized():
    # given
    fmt = CodeFormat(pattern="a-###_#", prefix="pre.", postfix="~z")
    # when
    codes = generate_codes(fmt, 50)
    # then
    assert all(normalize_code(c) == c for c in codes)


def test_ten_thousand_codes_are_distinct_even_where_random_strings_collide():
    # given a format of 100,000 codes, where 10,000 random draws repeat hundreds of times
    fmt = CodeFormat(length=5, charset=Charset.CUSTOM, custom_charset="ABCDEFGHJK")
    # when
    codes = generate_codes(fmt, 10_000)
    # then (the 1,000,000-code timing is bench/generate_codes)
    assert len(codes) == len(set(codes)) == 10_000
    assert all(re.fullmatch(r"[A-HJK]{5}", c) for c in codes)
