"""Voucher code generation for campaigns.

A campaign describes its codes with a ``CodeFormat`` (length or ``#`` pattern, character set,
prefix/postfix). This module validates such a format against how many codes are wanted and
generates unique, uniformly random, upper-case codes from the operating system's CSPRNG.
It is pure Python (no Django) so forms, jobs and tests can all use it directly.
"""

from __future__ import annotations

import os
import re
import string
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

MIN_LENGTH, MAX_LENGTH = 4, 64
MAX_PATTERN, MAX_AFFIX, MAX_CODE = 64, 20, 100
MAX_COUNT = 10_000_000
PLACEHOLDER = "#"
# Bound the intermediate strings of one round so 10M-code runs do not double peak memory.
_CHUNK = 1 << 19
# Rounds in a row that add no new code before we give up instead of spinning forever.
_MAX_STALLS = 50

Rand = Callable[[int], bytes]

# Only 4+ letter words: shorter ones would reject many harmless random strings.
# This list is a filter, not content; callers may pass their own via ``banned_words``.
DEFAULT_BANNED_WORDS: tuple[str, ...] = (
    "ARSE", "BITCH", "CUNT", "COCK", "DICK", "FUCK", "NAZI", "PISS",
    "PUSSY", "RAPE", "SHIT", "SLUT", "TWAT", "WANK", "WHORE",
)  # fmt: skip


class Charset(StrEnum):
    ALPHANUMERIC = "alphanumeric"
    LETTERS = "letters"
    DIGITS = "digits"
    CUSTOM = "custom"


# Without 0/O, 1/I/L: people read codes off receipts and screens and type them back in.
_LETTERS = "".join(c for c in string.ascii_uppercase if c not in "OIL")
_DIGITS = "23456789"
_ALPHABETS = {
    Charset.ALPHANUMERIC: _LETTERS + _DIGITS,
    Charset.LETTERS: _LETTERS,
    Charset.DIGITS: _DIGITS,
}
_CUSTOM_OK = frozenset(string.ascii_letters + string.digits + "-_")


class CodeFormatError(ValueError):
    """A format/count problem; ``key`` is stable for forms and APIs, ``str()`` is for people."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class CodeFormat:
    length: int = 10  # number of random characters (ignored when pattern is set)
    charset: Charset = Charset.ALPHANUMERIC
    custom_charset: str = ""  # used when charset == CUSTOM
    prefix: str = ""
    postfix: str = ""
    pattern: str = ""  # "SPRING-####-####": each '#' is random, everything else literal

    def alphabet(self) -> str:
        """Characters used for random positions (upper-cased, de-duplicated, order kept)."""
        if self.charset == Charset.CUSTOM:
            return "".join(dict.fromkeys(self.custom_charset.upper()))
        return _ALPHABETS[Charset(self.charset)]

    def random_positions(self) -> int:
        return self.pattern.count(PLACEHOLDER) if self.pattern else self.length

    def capacity(self) -> int:
        """Number of distinct codes this format can produce."""
        return len(self.alphabet()) ** self.random_positions()

    def template(self) -> str:
        """The whole code shape, upper-cased, with '#' for every random character."""
        body = self.pattern or PLACEHOLDER * self.length
        return f"{self.prefix}{body}{self.postfix}".upper()


def _is_literal(text: str) -> bool:
    # Literals must survive normalize_code() unchanged, or typed codes would never match.
    return all(c.isascii() and c.isprintable() and not c.isspace() for c in text)


def _validate_shape(fmt: CodeFormat) -> None:
    for name, affix in (("prefix", fmt.prefix), ("postfix", fmt.postfix)):
        if len(affix) > MAX_AFFIX or not _is_literal(affix):
            raise CodeFormatError(
                "invalid_affix",
                f"The {name} {affix!r} is not allowed: use at most {MAX_AFFIX} ASCII characters "
                "without spaces.",
            )
    if fmt.charset not in set(Charset):
        raise CodeFormatError("invalid_charset", f"Unknown character set {fmt.charset!r}.")
    if fmt.charset == Charset.CUSTOM:
        if not set(fmt.custom_charset) <= _CUSTOM_OK or len(fmt.alphabet()) < 2:
            raise CodeFormatError(
                "invalid_charset",
                "The custom character set must have at least 2 distinct characters and may only "
                "contain letters A-Z, digits, '-' and '_' (letters are case-insensitive).",
            )
    if fmt.pattern:
        if PLACEHOLDER not in fmt.pattern or len(fmt.pattern) > MAX_PATTERN:
            raise CodeFormatError(
                "invalid_pattern",
                f"The pattern must contain at least one '#' (a random character) and be at most "
                f"{MAX_PATTERN} characters long.",
            )
        if not _is_literal(fmt.pattern):
            raise CodeFormatError(
                "invalid_pattern", "The pattern may only contain ASCII characters without spaces."
            )
    elif not MIN_LENGTH <= fmt.length <= MAX_LENGTH:
        raise CodeFormatError(
            "invalid_length",
            f"The code length must be between {MIN_LENGTH} and {MAX_LENGTH} random characters; "
            f"{fmt.length} was given.",
        )
    if len(fmt.template()) > MAX_CODE:
        raise CodeFormatError(
            "invalid_length",
            f"Whole codes (prefix, random part and postfix) may be at most {MAX_CODE} characters; "
            f"this format makes {len(fmt.template())}. Shorten the prefix, postfix or pattern.",
        )


def validate_format(fmt: CodeFormat, *, count: int, existing: int = 0) -> None:
    """Raise CodeFormatError unless ``count`` more codes (after ``existing``) fit ``fmt``."""
    _validate_shape(fmt)
    if not 1 <= count <= MAX_COUNT:
        raise CodeFormatError(
            "invalid_count", f"The number of codes must be between 1 and {MAX_COUNT:,}."
        )
    capacity = fmt.capacity()
    # 2x headroom: once a space is over half full, random draws mostly hit taken codes.
    if existing + count > capacity // 2:
        n, r = len(fmt.alphabet()), fmt.random_positions()
        already = f" (plus {existing:,} already allocated)" if existing else ""
        raise CodeFormatError(
            "format_too_small",
            f"This format can make at most {capacity:,} distinct codes ({n} characters ^ {r} "
            f"random position{'s' if r != 1 else ''}) and only half of that can be used; "
            f"{count:,} are requested{already}. Use a longer code or a larger character set.",
        )


def _random_chars(n: int, alphabet: str, rand: Rand) -> str:
    """``n`` characters drawn uniformly from ``alphabet`` using whole blocks of random bytes."""
    size = len(alphabet)
    limit = 256 - 256 % size  # bytes at or above this would bias the first characters
    table = bytes(ord(alphabet[b % size]) for b in range(256))
    reject = bytes(range(limit, 256))
    parts, have = [], 0
    while have < n:
        # translate() deletes before mapping, so rejection sees the raw byte values.
        part = rand((n - have) * 256 // limit + 64).translate(table, reject)
        parts.append(part)
        have += len(part)
    return b"".join(parts)[:n].decode("ascii")


def _batch(fmt: CodeFormat, n: int, banned: re.Pattern[str] | None, rand: Rand) -> list[str]:
    """``n`` random codes minus those containing a banned word (duplicates still possible)."""
    template = fmt.template()
    runs = [(m.start(), len(m.group())) for m in re.finditer("#+", template)]
    r = fmt.random_positions()
    chars = _random_chars(n * r, fmt.alphabet(), rand)
    # Place each run of '#' as one column of slices, then fill the %-template in one pass.
    offsets, pos = [], 0
    for _, length in runs:
        offsets.append((pos, length))
        pos += length
    columns = [[chars[i + o : i + o + k] for i in range(0, n * r, r)] for o, k in offsets]
    fmt_str = re.sub("#+", "%s", template.replace("%", "%%"))
    codes = (
        columns[0] if fmt_str == "%s" else [fmt_str % parts for parts in zip(*columns, strict=True)]
    )
    if banned is None:
        return codes
    # One regex scan over all codes joined by newlines; every code has the same length, so
    # a match position maps straight back to its code. Random parts are scanned too, since a
    # pattern's literals can split a word that the random characters spell out.
    bad = {m.start() // (len(template) + 1) for m in banned.finditer("\n".join(codes))}
    if len(runs) > 1:
        randoms = "\n".join(chars[i : i + r] for i in range(0, n * r, r))
        bad |= {m.start() // (r + 1) for m in banned.finditer(randoms)}
    return [c for i, c in enumerate(codes) if i not in bad] if bad else codes


def _banned_regex(fmt: CodeFormat, banned_words: Iterable[str]) -> re.Pattern[str] | None:
    literals = fmt.template()
    # A word the campaign put in its own literals is deliberate; banning it would ban every code.
    words = {w.upper() for w in banned_words if w and w.upper() not in literals}
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


def _generate(fmt: CodeFormat, count: int, banned_words: Iterable[str], rand: Rand) -> list[str]:
    banned = _banned_regex(fmt, banned_words)
    unique: dict[str, None] = {}  # dict keeps insertion order and dedupes at C speed
    stalls = 0
    while len(unique) < count:
        need = count - len(unique)
        before = len(unique)
        unique.update(dict.fromkeys(_batch(fmt, min(need + need // 8 + 8, _CHUNK), banned, rand)))
        stalls = stalls + 1 if len(unique) == before else 0
        if stalls >= _MAX_STALLS:
            raise CodeFormatError(
                "generation_stalled",
                "Could not produce enough distinct codes from this format; "
                "use a longer code or a larger character set.",
            )
    return list(unique)[:count]


def generate_codes(
    fmt: CodeFormat,
    count: int,
    *,
    banned_words: Iterable[str] = DEFAULT_BANNED_WORDS,
    rand: Rand = os.urandom,
) -> list[str]:
    """``count`` distinct upper-case codes for ``fmt``, none containing a banned word."""
    validate_format(fmt, count=count)
    return _generate(fmt, count, banned_words, rand)


def sample_codes(fmt: CodeFormat, k: int = 5) -> list[str]:
    """A few codes for a form preview; checks the format's shape but not any count."""
    _validate_shape(fmt)
    # Cap at half the capacity so a tiny format still terminates quickly.
    return _generate(fmt, min(k, fmt.capacity() // 2), DEFAULT_BANNED_WORDS, os.urandom)


def normalize_code(raw: str) -> str:
    """What a merchant typed -> the stored form (NFKC maps full-width 'ＡＢＣ' to 'ABC')."""
    return unicodedata.normalize("NFKC", raw).strip().upper()
