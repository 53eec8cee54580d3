"""Core jobs: delivering domain events to their subscribers."""

from __future__ import annotations

from typing import Any

from huey.contrib.djhuey import db_task

from dangol.core.events import Event, resolve


@db_task(retries=6, retry_delay=2, retry_backoff=2.0)
def deliver_event(subscriber_path: str, payload: dict[str, Any]) -> None:
    """Run one subscriber for one event; on failure Huey retries after 2, 4, 8 ... seconds."""
    resolve(subscriber_path)(Event(**payload))
