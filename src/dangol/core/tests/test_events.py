"""Domain events are delivered to subscribers as jobs, only after the transaction commits."""

import pytest
from django.db import transaction

from dangol.core import events
from dangol.core.models import ChangeLog

received: list[events.Event] = []
attempts: list[int] = []


@events.subscriber("test.happened")
def remember(event: events.Event) -> None:
    received.append(event)


@events.subscriber("test.flaky")
def flaky(event: events.Event) -> None:
    attempts.append(1)
    if len(attempts) < 3:
        raise RuntimeError("downstream unavailable")
    received.append(event)


@pytest.fixture(autouse=True)
def _reset():
    received.clear()
    attempts.clear()


@pytest.mark.django_db(transaction=True)
def test_delivered_after_commit_only(admin):
    with transaction.atomic():
        events.emit("test.happened", admin, answer=42)
        assert received == []  # nothing inside the transaction
    assert [(e.name, e.object_id, e.data) for e in received] == [
        ("test.happened", str(admin.pk), {"answer": 42})
    ]


@pytest.mark.django_db(transaction=True)
def test_not_delivered_after_rollback(admin):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.emit("test.happened", admin)
        raise RuntimeError("boom")
    assert received == []


@pytest.mark.django_db(transaction=True)
def test_service_rollback_leaves_no_rows_and_no_events(make_user):
    from dangol.customers import services

    received_created: list[events.Event] = []

    @events.subscriber("customer.created")
    def on_created(event: events.Event) -> None:
        received_created.append(event)

    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.create_customer(data=services.CustomerInput(full_name="박지훈"), actor=None)
            raise RuntimeError("the caller fails after the service")
        assert received_created == []
        assert not ChangeLog.objects.filter(action="customer.created").exists()
    finally:
        events.unsubscribe(on_created)


@pytest.mark.django_db(transaction=True)
def test_failing_subscriber_is_retried_and_does_not_break_the_request(admin):
    from dangol.jobs import huey

    events.emit("test.flaky", admin)  # autocommit: delivered at once; the caller sees no error
    assert attempts == [1]
    for _ in range(2):  # the worker runs each retry when it falls due
        (retry,) = huey.scheduled()
        huey.storage.flush_schedule()
        huey.execute(retry, timestamp=retry.eta)
    assert len(attempts) == 3
    assert [e.name for e in received] == ["test.flaky"]
    assert huey.scheduled_count() == 0


@pytest.mark.jobs
@pytest.mark.django_db(transaction=True)
def test_event_jobs_go_through_the_configured_queue_storage(admin):
    """With real storage (SQLite file, or Redis under DANGOL_REDIS_URL) a worker picks it up."""
    from django.conf import settings

    from dangol.jobs import huey

    huey.flush()
    events.emit("test.happened", admin, via="queue")
    assert received == []
    assert huey.pending_count() == 1
    expected = "RedisStorage" if settings.REDIS_URL else "SqliteStorage"
    assert type(huey.storage).__name__.endswith(expected)
    task = huey.dequeue()
    huey.execute(task)
    assert [e.data for e in received] == [{"via": "queue"}]


@pytest.mark.jobs
@pytest.mark.django_db(transaction=True)
def test_failed_job_is_rescheduled_with_backoff(admin):
    from dangol.jobs import huey

    huey.flush()
    events.emit("test.flaky", admin)
    task = huey.dequeue()
    huey.execute(task)  # fails once → scheduled for retry
    assert attempts == [1]
    assert huey.scheduled_count() == 1
    retry = huey.scheduled()[0]
    assert retry.retries == 5
    assert retry.retry_delay == 4  # 2 s doubled: exponential backoff
    huey.flush()
