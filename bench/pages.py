"""(d) Server time and queries of the staff web pages: the customer list and the customer 360.

Issue 4's goal: the list and 360 pages render in < 150 ms server time (p95) at the ``large``
size, with a number of queries that does not depend on the data. Each request goes through the
whole Django stack (sessions, middleware, the view, the template) with ``django.test.Client``,
signed in as a staff user with the PII permission who may see every customer (the call-center
agent's view, the widest a real user has); ``CaptureQueriesContext`` counts the SQL. In process,
one request at a time. "CPU p95" is the CPU time the request took in this process
(Django, the templates and, on SQLite, the database engine too): what the page costs when the
shared machine is busy with other work and the wall time is mostly waiting for a core.
"""

from __future__ import annotations

import datetime
import time
from typing import Any
from urllib.parse import quote, urlencode

from bench.queries import measure, percentile
from bench.registry import Context, Outcome, Row, Target, benchmark

PAGE_P95_MS = 150.0
STAFF_EMAIL = "bench-staff@dangol.local"
DEEP_PROBES = 40  # customers whose position in the list starts a "deep page"


def staff_user() -> Any:
    """A staff user with every customer and order in scope and the PII permission."""
    from dangol.core import services
    from dangol.core.models import Role, User

    user = User.objects.filter(email=STAFF_EMAIL).first()
    if user is not None:
        return user
    role = Role.objects.filter(name="Benchmark staff").first()
    if role is None:
        every = ["view", "add", "change", "export"]
        types = [
            "customers.customer",
            "customers.organization",
            "customers.contactpoint",
            "customers.address",
            "customers.consent",
            "customers.interaction",
            "customers.note",
            "commerce.order",
            "commerce.return",
            "commerce.product",
            "commerce.saleschannel",
        ]
        role = services.create_role(
            name="Benchmark staff",
            grants=dict.fromkeys(types, (every, "all")),
            can_view_pii=True,
        )
    return services.create_user(
        email=STAFF_EMAIL, password=None, display_name="Benchmark staff", role=role
    )


def _list_cursor(field: str, customer: Any) -> str:
    """The keyset cursor that starts the list right after `customer` in `field` order."""
    from dangol.web.pagination import KeysetOrder, encode_cursor

    return encode_cursor(KeysetOrder(field), customer)


def cases(p: dict[str, Any], samples: int, user: Any) -> dict[str, tuple[list[str], bool]]:
    """Case → (request paths, ``samples`` long; whether they are htmx fragment requests)."""
    from dangol.customers.models import Customer
    from dangol.customers.selectors import timeline

    def cycle(items: list[str]) -> list[str]:
        return [items[i % len(items)] for i in range(samples)] if items else []

    ids = p["customer_ids"] or [1]
    deep = list(Customer.objects.filter(pk__in=ids[:DEEP_PROBES]))
    created_after = [
        "/customers/?" + urlencode({"sort": "-created", "after": _list_cursor("created_at", c)})
        for c in deep
    ]
    spend_after = [
        "/customers/?" + urlencode({"sort": "-spend", "after": _list_cursor("total_spent", c)})
        for c in deep
    ]
    # The second page of a customer's timeline: the cursor of the 30th entry.
    older: list[str] = []
    for c in deep[:20]:
        entries = timeline(user=user, customer=c)
        if len(entries) >= 30:
            older.append(
                f"/customers/{c.pk}/timeline/?" + urlencode({"before": entries[-1].cursor.encode()})
            )
    since = (datetime.date.today() - datetime.timedelta(days=90)).isoformat()
    return {
        "list: first page": (cycle(["/customers/"]), False),
        "list: stage=repeat, newest": (cycle(["/customers/?stage=repeat&sort=-created"]), False),
        "list: region=seoul, last purchase": (
            cycle(["/customers/?region=seoul&sort=-last_purchase"]),
            False,
        ),
        "list: lapsed in busan, newest": (
            cycle(["/customers/?stage=lapsed&region=busan&sort=-created"]),
            False,
        ),
        "list: bought in 90 days, by spend": (
            cycle([f"/customers/?purchase_from={since}&sort=-spend"]),
            False,
        ),
        "list: deep page (newest)": (cycle(created_after), False),
        "list: deep page (by spend)": (cycle(spend_after), False),
        "list: search name fragment": (
            cycle([f"/customers/?q={quote(n)}" for n in p["names"]]),
            False,
        ),
        "search as you type: name": (cycle([f"/search/?q={quote(n)}" for n in p["names"]]), True),
        "search as you type: e-mail prefix": (
            cycle([f"/search/?q={quote(e)}" for e in p["email_prefixes"]]),
            True,
        ),
        "search as you type: phone last 4": (
            cycle([f"/search/?q={d}" for d in p["last4"]]),
            True,
        ),
        "360: customer page": (cycle([f"/customers/{i}/" for i in ids]), False),
        "360: timeline, older page": (cycle(older), True),
    }


@benchmark(
    "pages",
    title="Staff web pages: server time and queries per page (in process, one at a time)",
    columns=[
        ("requests", "requests"),
        ("queries", "queries/page"),
        ("p50_ms", "p50 ms"),
        ("p95_ms", "p95 ms"),
        ("cpu_p95_ms", "CPU p95 ms"),
        ("sql_share", "share in SQL"),
    ],
    order=12,
)
def pages(ctx: Context) -> Outcome:
    """The customer list (filters, sorts, deep keyset pages, search) and the 360 page."""
    from django.test.utils import override_settings

    # Sessions in signed cookies: signing in and serving pages then write nothing to the
    # database, so a benchmark writing next to this one (SQLite has one writer) cannot lock
    # the measurement out; a page is read-only anyway.
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies"):
        return _pages(ctx)


def _sign_in(client: Any, user: Any) -> None:
    """Put `user`'s session cookie on `client` (no ``last_login`` write, unlike force_login)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key


def _timed_client(**kwargs: Any) -> Any:
    """A test client that also records the CPU time of each request in this process."""
    from django.test import Client

    class TimedClient(Client):
        cpu_ms: list[float]

        def get(self, *args: Any, **kw: Any) -> Any:
            started = time.process_time()
            try:
                return super().get(*args, **kw)
            finally:
                self.cpu_ms.append((time.process_time() - started) * 1000)

    client = TimedClient(**kwargs)
    client.cpu_ms = []
    return client


def _pages(ctx: Context) -> Outcome:
    p = ctx.state["probes"]
    user = staff_user()
    plain = _timed_client(SERVER_NAME="127.0.0.1", raise_request_exception=False)
    htmx = _timed_client(
        SERVER_NAME="127.0.0.1", headers={"HX-Request": "true"}, raise_request_exception=False
    )
    for client in (plain, htmx):
        _sign_in(client, user)
    rows: list[Row] = []
    details: dict[str, Any] = {}
    for case, (paths, fragment) in cases(p, ctx.samples, user).items():
        if not paths:
            rows.append(Row(case, {}, note="no probe (no customer with 30 timeline entries)"))
            continue
        client = htmx if fragment else plain
        client.cpu_ms.clear()
        m = measure(client, paths)
        cpu = client.cpu_ms[-len(paths) :]
        m["cpu_p50_ms"] = round(percentile(cpu, 50), 2)
        m["cpu_p95_ms"] = round(percentile(cpu, 95), 2)
        details[case] = m
        span = (
            f"{m['queries_min']}"
            if m["queries_min"] == m["queries_max"]
            else f"{m['queries_min']}–{m['queries_max']}"
        )
        rows.append(
            Row(
                case,
                {**m, "queries": span},
                targets=[Target("p95_ms", "<", PAGE_P95_MS, "ms")],
                note=""
                if set(m["statuses"]) == {"200"}
                else f"statuses {m['statuses']} {m['errors']}",
            )
        )
    return Outcome(
        rows=rows,
        details=details,
        notes=[
            "Signed in as a staff user who sees every customer, with the PII permission. "
            "Deep pages start right after a random customer's position in the list."
        ],
    )
