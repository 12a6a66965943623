"""HTML that partners write for emails: sanitized with nh3, and turned into the plain-text
alternative every email carries.

Re-exported by apps.messaging.templating; callers use it from there.
"""

from __future__ import annotations

import re
import secrets
from html.parser import HTMLParser

import nh3
from django.template.base import tag_re

# What an email body needs: text formatting, links, images and layout tables.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup",
        "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
        "img", "ins", "li", "ol", "p", "pre", "s", "small", "span", "strike", "strong", "sub",
        "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
_CELL = {"align", "valign", "width", "height", "colspan", "rowspan", "bgcolor"}
ALLOWED_ATTRIBUTES = {
    # Inline styles are how emails are laid out; only the properties below survive.
    "*": {"style", "title", "dir", "lang", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor", "role"},
    "td": _CELL,
    "th": _CELL,
    "tr": {"valign", "bgcolor"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start"},
}
ALLOWED_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font-family", "font-size", "font-style", "font-weight",
        "line-height", "letter-spacing", "text-align", "text-decoration", "text-transform",
        "vertical-align", "white-space", "width", "max-width", "min-width", "height",
        "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
        "border", "border-top", "border-right", "border-bottom", "border-left",
        "border-color", "border-style", "border-width", "border-radius", "border-collapse",
        "display",
    }
)  # fmt: skip
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


def sanitize_html(html: str) -> str:
    """Keep formatting, links, images and tables; drop scripts, styles, event handlers and
    javascript: links; every link gets rel="noopener noreferrer"."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        filter_style_properties=set(ALLOWED_STYLE_PROPERTIES),
        strip_comments=True,
    )


def sanitize_template(source: str) -> str:
    """`sanitize_html` for a message template: the merge-tag syntax ({{ … }}, {% … %},
    {# … #}) comes through unchanged, even inside attributes (`href="{{ unsubscribe_url }}"`),
    where the sanitizer would otherwise escape the quotes of `|date:"j F Y"` or the `>` of
    `{% if a > b %}`. The rendered result is sanitized again (templating.render)."""
    nonce = secrets.token_hex(6)
    while nonce in source:  # pragma: no cover - 48 random bits
        nonce = secrets.token_hex(6)
    tags: list[str] = []

    def hide(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"mt{nonce}x{len(tags) - 1}y"

    cleaned = sanitize_html(tag_re.sub(hide, source))
    return re.sub(rf"mt{nonce}x(\d+)y", lambda m: tags[int(m.group(1))], cleaned)


# Elements that stand apart as paragraphs, and those that only start a new line.
_PARAGRAPHS = frozenset(
    {
        "blockquote", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ol", "p", "pre",
        "table", "ul",
    }
)  # fmt: skip
_LINES = frozenset(
    {
        "address", "article", "br", "caption", "center", "dd", "div", "dt", "footer",
        "header", "li", "section", "tr",
    }
)  # fmt: skip
_SKIP = frozenset({"script", "style", "head", "title"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[tuple[str, int]] = []  # (href, index in parts where the text starts)
        self.skipping = 0
        self.in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self.in_pre += 1
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in _LINES:
            self.parts.append("\n- " if tag == "li" else "\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")  # cells of a row stay on one line
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.parts.append(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self.in_pre = max(0, self.in_pre - 1)
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in ("div", "tr"):
            self.parts.append("\n")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = " ".join("".join(self.parts[start:]).split())
            if href and not href.startswith("#") and href not in (text, f"mailto:{text}"):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        # Line breaks in the source are spaces in HTML; only <pre> keeps them.
        self.parts.append(data if self.in_pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The plain-text alternative of an HTML email: text only, links as "text (url)", one
    line per paragraph, at most one blank line in a row."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
