"""Where a service's refusal lands in a view: on the form that was posted, or as a flash
message. A refusal is a DomainError (one sentence, maybe naming a field) or Django's own
ValidationError (sentences per field, as `full_clean` raises them).

Both helpers are context managers around the service call and what follows its success: a view
reads top to bottom, the block ends with the success path's `return`, and the code after the
block runs only when the service refused (as with `contextlib.suppress`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import HttpRequest

from apps.core.errors import DomainError


def _sentences(exc: DomainError | ValidationError) -> Iterable[tuple[str | None, list[str]]]:
    """(field or None, sentences) pairs; a DomainError names its field in `field`, if at all."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return exc.message_dict.items()
        return [(None, exc.messages)]
    return [(getattr(exc, "field", None), [exc.message])]


@contextmanager
def refusal_on_form(
    form: BaseForm,
    catch: type[DomainError] | type[ValidationError] = DomainError,
    *,
    field: str | None = None,
) -> Iterator[None]:
    """Add a refusal's sentences to `form`: to the field the error names if the form has it,
    else to the whole form; `field` puts them on that one field whatever the error names.
    `catch` narrows which refusals are expected; any other error is a bug and propagates."""
    try:
        yield
    except catch as exc:
        for named, sentences in _sentences(exc):
            name = field or named
            for sentence in sentences:
                form.add_error(name if name in form.fields else None, sentence)


@contextmanager
def refusal_as_message(
    request: HttpRequest,
    catch: type[DomainError] = DomainError,
    level: int = messages.ERROR,
) -> Iterator[None]:
    """Show a refusal's sentence as a flash message on the next page (buttons that post and
    redirect have no form to carry it)."""
    try:
        yield
    except catch as exc:
        messages.add_message(request, level, exc.message)
