"""SMS length rules: how many segments a text costs (GSM-7 or UCS-2)."""

from __future__ import annotations

# GSM 03.38 basic character set, and the extension characters that take two septets.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> tuple[str, int]:
    """("GSM-7" or "UCS-2", number of segments). A single GSM-7 segment holds 160 septets,
    concatenated ones 153; UCS-2: 70 and 67 (characters outside the BMP count twice)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        length = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        length = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
        single, multi, encoding = 70, 67, "UCS-2"
    if length == 0:
        return encoding, 0
    if length <= single:
        return encoding, 1
    return encoding, -(-length // multi)
