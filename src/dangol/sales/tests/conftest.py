"""Fixtures of the task tests: a task factory on the service, signed-in clients."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone


@pytest.fixture
def make_task(db: Any) -> Any:
    """``make_task(actor, title=..., due_in=days, **TaskInput fields)`` through the service."""
    from dangol.sales import services

    def make(actor: Any, **kw: Any) -> Any:
        due_in = kw.pop("due_in", 1)
        kw.setdefault("assignee", actor)
        data = services.TaskInput(
            title=kw.pop("title", "다시 전화하기"),
            due_at=kw.pop("due_at", timezone.now() + datetime.timedelta(days=due_in)),
            **kw,
        )
        return services.create_task(data=data, actor=actor)

    return make


@pytest.fixture
def login(db: Any) -> Any:
    """``login(user)`` → a client signed in as `user`."""

    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
