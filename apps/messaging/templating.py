"""Merge tags: message bodies are Django templates rendered in a sandbox (issue 5 point 6).

A partner writes "Hi {{ customer.first_name }}, your code is {{ voucher.code }}". The template
runs on a dedicated `Engine` with no loaders and a whitelist of tags and filters, against a
fixed context of plain dicts and strings (`message_context`), so a template cannot reach a
model method, the database, another template or a setting.

Mistakes are found when the message is written, not when it is sent: `validate_template` lists
every unknown merge tag, forbidden tag or filter and syntax error with its line, then renders
the template against sample contexts with edge values (`check_contexts`) so that a filter that
fails at render time (``|wordwrap:0``, ``|timeuntil`` on text) is named too; forms call
`clean_template_field`, and `render` refuses an invalid template instead of leaving blanks.
Every filter is bounded and cannot fail a send (apps.messaging.merge_filters), and a merge tag
used as a filter argument is empty when a customer lacks it, as it is anywhere else.

HTML written by partners is sanitized with nh3 when it is stored (`sanitize_template`, which
keeps the merge-tag syntax intact) and the rendered result is sanitized again, because a
customer-controlled value can still land in a link (`href="{{ customer.metadata.site }}"`).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from django import forms
from django.template import (
    Context,
    Engine,
    Library,
    Template,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)
from django.template.base import (
    FilterExpression,
    Lexer,
    Node,
    NodeList,
    Parser,
    TextNode,
    TokenType,
    Variable,
    VariableDoesNotExist,
    VariableNode,
)
from django.utils import timezone

from apps.core.errors import DomainError
from apps.messaging import merge_filters, sanitize
from apps.messaging.images import SAMPLE_CODE, voucher_image_urls

if TYPE_CHECKING:
    from apps.campaigns.models import Voucher
    from apps.customers.models import Customer
    from apps.tenancy.models import Partner

# The HTML helpers live in apps.messaging.sanitize; templates' users import them from here.
sanitize_html = sanitize.sanitize_html
sanitize_template = sanitize.sanitize_template
html_to_text = sanitize.html_to_text


@dataclass(frozen=True)
class MergeTag:
    name: str
    description: str
    example: str


MERGE_TAGS: list[MergeTag] = [
    MergeTag("customer.name", "The customer's full name", "Ann Example"),
    MergeTag("customer.first_name", "The first word of the customer's name", "Ann"),
    MergeTag("customer.last_name", "The rest of the customer's name", "Example"),
    MergeTag("customer.email", "The customer's email address", "ann@example.com"),
    MergeTag("customer.phone", "The customer's phone number (E.164)", "+14155550123"),
    MergeTag("customer.source_id", "Your own id for the customer", "CRM-1042"),
    MergeTag("customer.city", "The customer's city", "Lisbon"),
    MergeTag("customer.country", "The customer's country", "Portugal"),
    MergeTag(
        "customer.metadata.<key>",
        "Any key of the customer's metadata (empty when the customer has no such key)",
        "gold (for {{ customer.metadata.tier }})",
    ),
    MergeTag("voucher.code", "The code given to the customer", SAMPLE_CODE),
    MergeTag("voucher.discount", "What the code is worth, in words", "10% off"),
    MergeTag(
        "voucher.expiration_date",
        'When the code expires (empty if never); format it with |date:"j F Y"',
        "30 June 2026",
    ),
    MergeTag("voucher.qr_url", "Address of a QR code image of the code (PNG)", "https://…/qr.png"),
    MergeTag(
        "voucher.barcode_url",
        "Address of a Code 128 barcode image of the code (PNG)",
        "https://…/barcode.png",
    ),
    MergeTag("partner.name", "Your company's name", "Alpha Retail"),
    MergeTag("unsubscribe_url", "The link that unsubscribes the customer", "https://…/u/…"),
]

METADATA_PREFIX = ("customer", "metadata")
KNOWN_PATHS = {METADATA_PREFIX} | {
    tuple(tag.name.split(".")) for tag in MERGE_TAGS if "<" not in tag.name
}
ROOTS = frozenset(path[0] for path in KNOWN_PATHS)
AVAILABLE = ", ".join(tag.name for tag in MERGE_TAGS)

# Tags a template may use. No loop (so output stays proportional to the template), nothing that
# loads, includes, reverses URLs, turns escaping off or prints the context.
ALLOWED_TAGS = ("if", "with", "now", "firstof", "comment")
# Words that may follow an allowed tag inside its block.
CLOSING_WORDS = frozenset({"elif", "else", "endif", "endwith", "endcomment"})
# The allowed tags as a refused tag's sentence lists them, so that list cannot drift from the
# tuple above.
ALLOWED_TAGS_TEXT = ", ".join("if / elif / else" if tag == "if" else tag for tag in ALLOWED_TAGS)
# Filters that only format a value: nothing marks text safe or reveals a Python repr.
ALLOWED_FILTERS = (
    "add", "capfirst", "cut", "date", "default", "default_if_none", "first", "floatformat",
    "join", "last", "length", "linebreaksbr", "lower", "pluralize", "slice", "time",
    "timeuntil", "title", "truncatechars", "truncatewords", "upper", "urlencode", "wordwrap",
    "yesno",
)  # fmt: skip

# The sandbox's only library: the engine below loads this module's `register` as its builtins.
register = Library()
for _name in ALLOWED_TAGS:
    register.tags[_name] = defaulttags.register.tags[_name]
for _name in ALLOWED_FILTERS:
    register.filters[_name] = merge_filters.guarded(_name, defaultfilters.register.filters[_name])

# Validation parses with every Django filter known, so "|safe" is reported as "not allowed"
# rather than as a bare syntax error; the rendering engine does not even know it.
_tags_only = Library()
_tags_only.tags.update(register.tags)
_FILTER_NAMES = {func: name for name, func in defaultfilters.register.filters.items()}


@cache
def _engine(html: bool) -> Engine:
    return Engine(
        dirs=[],
        app_dirs=False,
        loaders=[],
        libraries={},
        builtins=["apps.messaging.templating"],
        string_if_invalid="",
        autoescape=html,
        debug=False,
    )


# --- Problems ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template: a stable key, the line (1-based) and a sentence."""

    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


class TemplateError(DomainError):
    """A message template that cannot be rendered; `problems` says why."""

    key = "invalid_template"

    def __init__(self, problems: list[TemplateProblem]) -> None:
        super().__init__(
            "The message template has problems: " + " ".join(str(p) for p in problems),
            details="\n".join(str(p) for p in problems),
        )
        self.problems = problems


class _ValidatingParser(Parser):
    """Records an unknown filter instead of stopping at it, so every problem is listed."""

    def find_filter(self, filter_name: str) -> Any:
        if filter_name in self.filters:
            return self.filters[filter_name]

        def unknown(value: Any, arg: Any = None) -> Any:
            return value

        unknown.unknown_filter = filter_name  # type: ignore[attr-defined]
        return unknown


def validate_template(source: str, *, html: bool = False) -> list[TemplateProblem]:
    """Every problem of `source`, in order of appearance; an empty list means it may be sent.
    `html` is accepted for symmetry with `render`: the rules are the same for both."""
    problems: list[TemplateProblem] = []
    tokens = []
    variables = []  # each {{ … }} with its line, checked alone if the whole cannot be parsed
    in_comment = False
    for token in Lexer(source).tokenize():
        if in_comment:
            # Whatever is between {% comment %} and {% endcomment %} is never rendered.
            tokens.append(token)
            in_comment = not (
                token.token_type == TokenType.BLOCK and token.contents == "endcomment"
            )
            continue
        if token.token_type == TokenType.TEXT:
            _check_unclosed(token.contents, token.lineno, problems)
        elif token.token_type == TokenType.VAR:
            # Checked alone first, so a bad {{ … }} does not hide the problems after it.
            try:
                variables.append((FilterExpression(token.contents, _probe_parser()), token.lineno))
            except TemplateSyntaxError as error:
                problems.append(_syntax_problem(error, token.lineno))
                continue
        elif token.token_type == TokenType.BLOCK:
            word = (token.contents.split() or [""])[0]
            if word == "comment":
                in_comment = True
            elif word not in ALLOWED_TAGS and word not in CLOSING_WORDS:
                # The closing word of a refused tag is not worth a second problem.
                opener = word[3:] if word.startswith("end") else ""
                if not (opener and opener not in ALLOWED_TAGS):
                    problems.append(_tag_problem(word, token.lineno))
                continue
        tokens.append(token)
    try:
        nodelist = _parser(tokens).parse()
    except TemplateSyntaxError as error:
        line = getattr(getattr(error, "token", None), "lineno", None)
        problems.append(_syntax_problem(error, line))
        # Still name the unknown merge tags and filters; names bound by {% with %} cannot be
        # told apart here, so only the built-in groups are checked.
        walker = _Walker(problems, roots_only=True)
        for expression, line in variables:
            walker.expression(expression, {}, line)
    else:
        _Walker(problems).walk(nodelist, {})
        if not problems:
            problems += _render_problems(source, html)
    return sorted(dict.fromkeys(problems), key=lambda problem: problem.line or 0)


def _render_problems(source: str, html: bool) -> list[TemplateProblem]:
    """Render a template that passed every static check against each of `check_contexts`:
    a filter that fails (or is refused: see merge_filters) is a problem naming it."""
    template = _lenient(_engine(html).from_string(source))
    for context in check_contexts():
        try:
            with merge_filters.strict():
                output = template.render(Context(dict(context), autoescape=html))
        except merge_filters.FilterFailed as failure:
            line = next(
                (n for n, text in enumerate(source.splitlines(), 1) if f"|{failure.name}" in text),
                None,
            )
            return [TemplateProblem("filter_fails", failure.sentence, line)]
        except Exception as exc:  # the sandbox should not let anything else through
            return [
                TemplateProblem(
                    "template_fails",
                    f"The template cannot be rendered ({type(exc).__name__}); simplify it or "
                    "write to support with the template.",
                )
            ]
        if len(output) > MAX_RENDERED:
            return [
                TemplateProblem(
                    "template_too_long",
                    f"The message would be longer than {MAX_RENDERED:,} characters; shorten it.",
                )
            ]
    return []


def _parser(tokens: list[Any]) -> Parser:
    return _ValidatingParser(tokens, libraries={}, builtins=[_tags_only, defaultfilters.register])


@cache
def _probe_parser() -> Parser:
    return _parser([])


def _syntax_problem(error: TemplateSyntaxError, line: int | None) -> TemplateProblem:
    return TemplateProblem(
        "template_syntax",
        f"The template cannot be read: {str(error).rstrip('.')}. Check that every {{% if %}} "
        "has its {% endif %} and that filters get the arguments they expect.",
        line,
    )


def _check_unclosed(text: str, lineno: int | None, problems: list[TemplateProblem]) -> None:
    # Django's lexer leaves "{{ customer.name" (unclosed, or split over lines) as plain text,
    # which would be sent as is.
    for opener, closer in (("{{", "}}"), ("{%", "%}")):
        at = text.find(opener)
        if at >= 0:
            problems.append(
                TemplateProblem(
                    "template_syntax",
                    f"“{opener}” is not closed by “{closer}” on the same line.",
                    (lineno or 1) + text.count("\n", 0, at),
                )
            )


def _tag_problem(word: str, line: int | None) -> TemplateProblem:
    return TemplateProblem(
        "tag_not_allowed",
        f"The tag {{% {word} %}} cannot be used in messages. Allowed tags: {ALLOWED_TAGS_TEXT}.",
        line,
    )


# A local name from {% with %} or "as": the merge-tag path it stands for, or None for a value
# (a literal, a filtered expression, the output of {% now %}).
Scope = dict[str, "tuple[str, ...] | None"]


class _Walker:
    """Walks a parsed template and checks every variable and filter against the whitelist."""

    def __init__(self, problems: list[TemplateProblem], *, roots_only: bool = False) -> None:
        self.problems = problems
        self.roots_only = roots_only

    def walk(self, nodelist: NodeList, scope: Scope) -> None:
        for node in nodelist:
            self.node(node, scope)

    def node(self, node: Node, scope: Scope) -> None:
        line = getattr(getattr(node, "token", None), "lineno", None)
        if isinstance(node, TextNode | defaulttags.CommentNode):
            return
        if isinstance(node, VariableNode):
            self.expression(node.filter_expression, scope, line)
        elif isinstance(node, defaulttags.IfNode):
            for condition, branch in node.conditions_nodelists:
                if condition is not None:
                    for expression in _condition_expressions(condition):
                        self.expression(expression, scope, line)
                self.walk(branch, scope)
        elif isinstance(node, defaulttags.WithNode):
            inner = dict(scope)
            for name, expression in node.extra_context.items():
                target = self.alias_target(expression, scope)
                # {% with c=customer %} names a group of merge tags: checked where c.… is used.
                if target is None or not _is_group(target):
                    self.expression(expression, scope, line)
                inner[name] = target
            self.walk(node.nodelist, inner)
        elif isinstance(node, defaulttags.FirstOfNode):
            for expression in node.vars:
                self.expression(expression, scope, line)
            if node.asvar:
                scope[node.asvar] = None
        elif isinstance(node, defaulttags.NowNode):
            if node.asvar:
                scope[node.asvar] = None
        else:  # pragma: no cover - the parser only knows the whitelisted tags
            self.problems.append(_tag_problem(type(node).__name__, line))

    def alias_target(self, expression: FilterExpression, scope: Scope) -> tuple[str, ...] | None:
        var = expression.var
        if expression.filters or not isinstance(var, Variable) or var.lookups is None:
            return None
        return self.resolve(tuple(var.lookups), scope)

    def resolve(self, path: tuple[str, ...], scope: Scope) -> tuple[str, ...] | None:
        if path[0] in scope:
            target = scope[path[0]]
            if target is None:
                return path if len(path) == 1 else None
            return target + path[1:]
        return path

    def expression(self, expression: FilterExpression, scope: Scope, line: int | None) -> None:
        var = expression.var
        if isinstance(var, Variable) and var.lookups is not None:
            self.variable(tuple(var.lookups), scope, line)
        for func, args in expression.filters:
            name = _FILTER_NAMES.get(func)
            unknown = getattr(func, "unknown_filter", None)
            if unknown or name not in ALLOWED_FILTERS:
                key, what = (
                    ("unknown_filter", f"Unknown filter |{unknown}")
                    if unknown
                    else ("filter_not_allowed", f"The filter |{name} cannot be used in messages")
                )
                allowed = ", ".join(ALLOWED_FILTERS)
                self.problems.append(
                    TemplateProblem(key, f"{what}. Allowed filters: {allowed}.", line)
                )
            for is_lookup, arg in args:
                if is_lookup and isinstance(arg, Variable) and arg.lookups is not None:
                    self.variable(tuple(arg.lookups), scope, line)

    def variable(self, path: tuple[str, ...], scope: Scope, line: int | None) -> None:
        if self.roots_only and path[0] not in ROOTS:
            return
        resolved = self.resolve(path, scope)
        if resolved is not None and (
            (resolved[0] in scope and len(resolved) == 1)
            or resolved in KNOWN_PATHS
            or resolved[:2] == METADATA_PREFIX
        ):
            return
        written = ".".join(path)
        close = difflib.get_close_matches(
            written, [tag.name for tag in MERGE_TAGS if "<" not in tag.name], n=1
        )
        hint = f" Did you mean {{{{ {close[0]} }}}}?" if close else ""
        self.problems.append(
            TemplateProblem(
                "unknown_merge_tag",
                f"Unknown merge tag {{{{ {written} }}}}.{hint} Available: {AVAILABLE}.",
                line,
            )
        )


def _is_group(path: tuple[str, ...]) -> bool:
    return any(known[: len(path)] == path for known in KNOWN_PATHS if len(known) > len(path))


def _condition_expressions(condition: Any) -> list[FilterExpression]:
    """The expressions inside an {% if %} condition tree (smartif literals and operators)."""
    value = getattr(condition, "value", None)
    if isinstance(value, FilterExpression):
        return [value]
    found = []
    for part in (getattr(condition, "first", None), getattr(condition, "second", None)):
        if part is not None:
            found += _condition_expressions(part)
    return found


# --- Rendering -----------------------------------------------------------------------------


MAX_RENDERED = 500_000  # characters of one rendered message


class _OptionalArgument:
    """A merge tag used as a filter argument (``|add:customer.metadata.points``): empty when a
    customer lacks it, as the same tag is anywhere else, instead of failing the render."""

    def __init__(self, variable: Variable) -> None:
        self.variable = variable

    def resolve(self, context: Context) -> Any:
        try:
            return self.variable.resolve(context)
        except VariableDoesNotExist:
            return ""


def _lenient_expression(expression: FilterExpression) -> None:
    expression.filters = [
        (
            func,
            [(is_lookup, _OptionalArgument(arg) if is_lookup else arg) for is_lookup, arg in args],
        )
        for func, args in expression.filters
    ]


def _lenient(template: Template) -> Template:
    """`template` with every filter argument made optional (see _OptionalArgument)."""

    def walk(nodelist: NodeList) -> None:
        for node in nodelist:
            if isinstance(node, VariableNode):
                _lenient_expression(node.filter_expression)
            elif isinstance(node, defaulttags.IfNode):
                for condition, branch in node.conditions_nodelists:
                    if condition is not None:
                        for expression in _condition_expressions(condition):
                            _lenient_expression(expression)
                    walk(branch)
            elif isinstance(node, defaulttags.WithNode):
                for expression in node.extra_context.values():
                    _lenient_expression(expression)
                walk(node.nodelist)
            elif isinstance(node, defaulttags.FirstOfNode):
                for expression in node.vars:
                    _lenient_expression(expression)

    walk(template.nodelist)
    return template


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> Template:
    # A distribution renders one template for thousands of customers: validate and compile once.
    problems = validate_template(source, html=html)
    if problems:
        raise TemplateError(problems)
    return _lenient(_engine(html).from_string(source))


def render(source: str, context: dict[str, Any], *, html: bool) -> str:
    """Render `source` with a context from `message_context` or `sample_context`. Raises
    TemplateError for an invalid template. HTML is escaped while rendering and the result is
    sanitized; text (SMS, the plain part of an email) is left unescaped."""
    template = _compiled(source, html)
    # A copy: {% now ... as x %} writes into the context's top dict.
    output = template.render(Context(dict(context), autoescape=html))
    return sanitize_html(output) if html else output


def clean_template_field(value: str, *, html: bool) -> str:
    """For forms: the value to store (HTML sanitized), or a ValidationError listing every
    problem of the template."""
    source = sanitize_template(value) if html else value
    problems = validate_template(source, html=html)
    if problems:
        raise forms.ValidationError(
            [forms.ValidationError(str(problem), code=problem.key) for problem in problems]
        )
    return source


# --- Context -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    # A JSON round trip keeps only dicts, lists, strings, numbers and booleans.
    return json.loads(json.dumps(value, default=str))


def message_context(
    *,
    customer: Customer | None,
    voucher: Voucher | None,
    partner: Partner,
    unsubscribe_url: str = "",
) -> dict[str, Any]:
    """The only values a template can see: plain dicts and strings (and the expiry as a
    datetime, so `|date` can format it)."""
    name = (customer.name if customer else "") or ""
    first, _, last = name.strip().partition(" ")
    customer_values = {
        "name": name,
        "first_name": first,
        "last_name": last.strip(),
        "email": (customer.email if customer else "") or "",
        "phone": (customer.phone if customer else "") or "",
        "source_id": (customer.source_id if customer else "") or "",
        "city": (customer.city if customer else "") or "",
        "country": (customer.country if customer else "") or "",
        "metadata": _plain(customer.metadata or {}) if customer else {},
    }
    voucher_values: dict[str, Any] = {
        "code": "",
        "discount": "",
        "expiration_date": "",
        "qr_url": "",
        "barcode_url": "",
    }
    if voucher is not None:
        campaign = voucher.campaign
        voucher_values.update(
            code=voucher.code,
            discount=campaign.discount_text(),
            expiration_date=campaign.expiration_date or "",
            **voucher_image_urls(voucher.code, partner=partner),
        )
    return {
        "customer": customer_values,
        "voucher": voucher_values,
        "partner": {"name": partner.name},
        "unsubscribe_url": unsubscribe_url,
    }


def sample_context(*, partner: Partner | None = None) -> dict[str, Any]:
    """A sample customer and code for previews. The image URLs work when a partner is given
    (the image views serve the sample code without looking it up)."""
    images = voucher_image_urls(SAMPLE_CODE, partner=partner) if partner else {}
    return {
        "customer": {
            "name": "Ann Example",
            "first_name": "Ann",
            "last_name": "Example",
            "email": "ann@example.com",
            "phone": "+14155550123",
            "source_id": "CRM-1042",
            "city": "Lisbon",
            "country": "Portugal",
            "metadata": {"tier": "gold"},
        },
        "voucher": {
            "code": SAMPLE_CODE,
            "discount": "10% off",
            "expiration_date": timezone.now().replace(microsecond=0) + timedelta(days=30),
            "qr_url": images.get("qr_url", ""),
            "barcode_url": images.get("barcode_url", ""),
        },
        "partner": {"name": partner.name if partner else "Your company"},
        "unsubscribe_url": "#unsubscribe",
    }


class _AnyKey(dict[str, Any]):
    """Metadata for the compose-time check: every key a partner may write has `value`."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value

    def __missing__(self, key: str) -> Any:
        return self.value


def check_contexts() -> list[dict[str, Any]]:
    """The contexts `validate_template` renders a template against: the sample customer and
    code, then the same with edge values (each merge tag keeping the type it has when a message
    is sent: text, the expiry a date or empty). Metadata answers every key with the value."""
    normal = sample_context()
    contexts = [normal]
    now = timezone.now().replace(microsecond=0)
    edges: list[tuple[str, Any, Any]] = [
        ("", "", {}),  # empty values, no metadata, a code that never expires
        ("", now - timedelta(days=400), _AnyKey(None)),  # JSON null; expired a year ago
        ("Zoë Ångström-李 🎉", now + timedelta(days=365 * 170), _AnyKey("Ünïcødé ✓ 李")),
        ("0", now, _AnyKey("0")),
        ("-12.5", now + timedelta(minutes=1), _AnyKey("-1")),
        ("2024-05-31", now, _AnyKey("2024-05-31")),
        ("Ann " * 1000, now, _AnyKey("long " * 1000)),  # long text
    ]
    for text, expiry, metadata in edges:
        contexts.append(
            {
                "customer": {key: text for key in normal["customer"]} | {"metadata": metadata},
                "voucher": {key: text for key in normal["voucher"]} | {"expiration_date": expiry},
                "partner": {"name": text},
                "unsubscribe_url": text,
            }
        )
    return contexts
