"""Cross-app reactions: how a lower app lets higher apps act on a fact it recorded, without
importing them.

Apps import downward only (the layers contract in pyproject.toml): a higher app calls a lower
one. A few facts recorded low down must still reach an app above: customer events, recorded by
the customers app (and through it by redemptions, the API and imports), start the live
automatic distributions of the distributions app. Such a fact is *announced* under a topic
declared here; an app that acts on it *subscribes* in its AppConfig.ready(). This module is the
one place that lists every topic, and `subscriptions()` lists who listens to each (the
architecture page and a test show it), so no link hides in settings or dotted strings.

A handler runs in the announcing process, inside the announcing transaction: it must be cheap
and schedule its real work after the commit (a debounced job). A handler that raises is logged
and skipped: a reaction must never undo the fact it reacts to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

# topic → what it means and what its handlers receive
TOPICS: dict[str, str] = {
    "customer_events": (
        "Customer events were recorded in the current partner schema (announced by "
        "apps.customers.events). Handlers get the set of event types."
    ),
}
CUSTOMER_EVENTS = "customer_events"

Handler = Callable[..., Any]
_handlers: dict[str, list[Handler]] = {topic: [] for topic in TOPICS}


def subscribe(topic: str, handler: Handler) -> None:
    """Call `handler` whenever `topic` is announced. Subscribing twice is harmless."""
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}: declare it in apps.core.reactions.TOPICS")
    if handler not in _handlers[topic]:
        _handlers[topic].append(handler)


def announce(topic: str, *args: Any) -> None:
    """Tell the subscribers of `topic`; never raises."""
    for handler in _handlers[topic]:
        try:
            handler(*args)
        except Exception:
            logger.exception("reaction %s to %s failed", _name(handler), topic)


def subscriptions() -> dict[str, list[str]]:
    """{topic: dotted names of its handlers}, for the docs and tests."""
    return {topic: [_name(h) for h in handlers] for topic, handlers in _handlers.items()}


def _name(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"
