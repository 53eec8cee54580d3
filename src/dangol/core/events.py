"""Domain events: emitted by services, delivered to subscribers as jobs after commit.

    events.emit("customer.created", customer, source="api")

queues delivery with ``transaction.on_commit``: nothing is delivered if the transaction rolls
back. Each subscriber runs as its own job, so one failing subscriber is retried (with
exponential backoff) without touching the request or the other subscribers.

    @events.subscriber("customer.created", "customer.updated")
    def reindex(event: Event) -> None: ...
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from dangol.core.audit import _jsonable
from dangol.core.context import current_request_id


@dataclass(frozen=True)
class Event:
    """What a subscriber receives."""

    name: str
    object_type: str
    object_id: str
    data: dict[str, Any] = field(default_factory=dict)
    occurred_at: str = ""
    request_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "data": self.data,
            "occurred_at": self.occurred_at,
            "request_id": self.request_id,
        }


Subscriber = Callable[[Event], None]
_subscribers: dict[str, list[str]] = defaultdict(list)


def subscriber(*names: str) -> Callable[[Subscriber], Subscriber]:
    """Register the decorated function for the given event names (``"*"`` for all)."""

    def register(func: Subscriber) -> Subscriber:
        path = f"{func.__module__}.{func.__qualname__}"
        for name in names:
            if path not in _subscribers[name]:
                _subscribers[name].append(path)
        return func

    return register


def unsubscribe(func: Subscriber) -> None:
    """Remove `func` from every event (tests use it to clean up)."""
    path = f"{func.__module__}.{func.__qualname__}"
    for paths in _subscribers.values():
        if path in paths:
            paths.remove(path)


def subscribers_for(name: str) -> list[str]:
    return [*_subscribers.get(name, []), *_subscribers.get("*", [])]


def resolve(path: str) -> Subscriber:
    module, _, attr = path.rpartition(".")
    target: Any = importlib.import_module(module)
    func: Subscriber = getattr(target, attr)
    return func


def emit(name: str, obj: models.Model | None = None, **data: Any) -> Event:
    """Queue `name` for delivery once the current transaction commits."""
    event = Event(
        name=name,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        data=_jsonable(data),
        occurred_at=timezone.now().isoformat(),
        request_id=current_request_id(),
    )
    paths = subscribers_for(name)
    if paths:
        transaction.on_commit(lambda: _enqueue(paths, event))
    return event


def _enqueue(paths: list[str], event: Event) -> None:
    from dangol.core.tasks import deliver_event

    payload = event.as_dict()
    for path in paths:
        deliver_event(path, payload)
