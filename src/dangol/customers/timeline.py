"""The customer timeline: a registry of sources, merged one page at a time.

Every domain that has something to say about a customer registers a *source* for one kind of
entry (``register_timeline_source("order", _("Orders"), fetch)``), usually from its AppConfig's
``ready()``. The customers app knows nothing of the domains above it (ARCHITECTURE §4.1): the
commerce app puts orders and returns on the timeline, analytics grade changes, and so on.

A page of the timeline is the newest ``limit`` entries strictly older than a cursor. Entries are
ordered by ``(at, kind, id)``, newest first, so the cursor ``(at, kind, id)`` of the last entry
shown names exactly where the next page starts, even when many entries share one instant. Each
source answers with its own newest ``limit`` entries older than the cursor (one bounded query
that uses its ``(customer, time)`` index), and the pages are merged in Python: a page costs one
query per source, whatever the length of the customer's history.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dangol.core.visibility import Action, can
from dangol.customers.models import (
    Consent,
    ConsentChannel,
    ConsentEvent,
    ConsentStatus,
    Customer,
    CustomerHistory,
    Direction,
    HistoryKind,
    Interaction,
    InteractionChannel,
    InteractionKind,
    Note,
)

TIMELINE_PAGE = 30

_QS = TypeVar("_QS", bound=QuerySet[Any])


@dataclass(frozen=True, order=True)
class TimelineCursor:
    """A position in the timeline: the (at, kind, id) of the last entry of a page."""

    at: datetime.datetime
    kind: str = ""
    id: int = 0

    def encode(self) -> str:
        """``2026-11-22T07:00:00.123456+00:00|order|123`` (safe in a query string)."""
        return f"{self.at.astimezone(datetime.UTC).isoformat()}|{self.kind}|{self.id}"

    @classmethod
    def decode(cls, raw: str) -> TimelineCursor | None:
        """The cursor `raw` encodes; a bare timestamp means "strictly before it"; None if
        `raw` is not a cursor."""
        at_text, _sep, rest = raw.partition("|")
        kind, _sep, id_text = rest.partition("|")
        try:
            at = datetime.datetime.fromisoformat(at_text.replace(" ", "+"))
            pk = int(id_text) if id_text else 0
        except ValueError:
            return None
        if timezone.is_naive(at):
            at = timezone.make_aware(at, datetime.UTC)
        return cls(at=at, kind=kind if id_text else "", id=pk)


@dataclass
class TimelineEntry:
    """One row of the unified timeline, ready to render by the generic entry template.

    ``heading`` is the first line (``title`` when empty), ``meta`` small text beside it,
    ``badge`` a label chip, ``amount``/``currency``/``summary`` a money line, ``detail`` the
    body (line breaks kept), ``staff`` who did it, ``url`` where the heading links to.
    """

    kind: str
    at: datetime.datetime
    id: int
    title: str
    heading: str = ""
    icon: str = "activity"
    url: str = ""
    badge: str = ""
    badge_class: str = "bg-secondary-lt"
    meta: str = ""
    channel: str = ""
    amount: Any = None
    currency: str = ""
    summary: str = ""
    detail: str = ""
    staff: str = ""
    obj: Any = None

    @property
    def cursor(self) -> TimelineCursor:
        return TimelineCursor(self.at, self.kind, self.id)


@dataclass(frozen=True)
class TimelineRequest:
    """What a source is asked for: the customer's newest `limit` entries older than `before`
    (all channels, or only `channels` when the source supports channel filtering)."""

    user: Any
    customer: Customer
    before: TimelineCursor | None = None
    channels: tuple[str, ...] = ()
    limit: int = TIMELINE_PAGE

    def window(self, qs: QuerySet[Any], kind: str, at_field: str) -> QuerySet[Any]:
        """`qs` limited to this page for a source of `kind`: older than the cursor, newest
        first by (`at_field`, id), at most `limit` rows."""
        return older_than(qs, self.before, kind=kind, at_field=at_field).order_by(
            f"-{at_field}", "-id"
        )[: self.limit]


def older_than(qs: _QS, cursor: TimelineCursor | None, *, kind: str, at_field: str) -> _QS:
    """Rows of a source of `kind` that come after `cursor` in the timeline's
    (at, kind, id)-descending order. The range condition on `at_field` keeps the
    (customer, time) index usable; the tie at the cursor's instant is settled by kind, then id."""
    if cursor is None:
        return qs
    at = {f"{at_field}__lte": cursor.at}
    if kind < cursor.kind:
        return qs.filter(**at)
    if kind > cursor.kind:
        return qs.filter(**{f"{at_field}__lt": cursor.at})
    return qs.filter(**at).filter(Q(**{f"{at_field}__lt": cursor.at}) | Q(id__lt=cursor.id))


Fetch = Callable[[TimelineRequest], Iterable[TimelineEntry]]


def choice_label(choices: type[models.TextChoices], value: str) -> str:
    """The label of `value` in `choices` (the value itself if unknown). Cheaper than
    ``get_FOO_display()``, which hashes every (lazy) choice on each call: a page of 30 entries
    paid for hundreds of translations."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


@dataclass(frozen=True)
class TimelineSource:
    """One kind of timeline entry and how to fetch a page of it."""

    kind: str
    label: str | Promise
    fetch: Fetch
    channels: bool = False  # the source filters itself by interaction channel
    allowed: Callable[[Any], bool] | None = None  # may this user see the kind at all?
    position: int = 100  # where the kind sits in the filter's choices


_SOURCES: dict[str, TimelineSource] = {}


def register_timeline_source(
    kind: str,
    label: str | Promise,
    fetch: Fetch,
    *,
    channels: bool = False,
    allowed: Callable[[Any], bool] | None = None,
    position: int = 100,
) -> TimelineSource:
    """Put a kind of entry on every customer's timeline.

    `fetch(request)` returns the customer's newest ``request.limit`` entries of this `kind`
    strictly older than ``request.before``, newest first, in one query (``request.window(qs,
    kind, "at_field")`` does the cursor, order and limit). Entries must carry ``kind=kind``.
    `channels`: the source honours ``request.channels`` (otherwise it is left out while a
    channel filter is on). `allowed(user)`: whether the user may see this kind at all (the
    customer is already known to be visible). Registering a kind again replaces it.
    """
    source = TimelineSource(kind, label, fetch, channels, allowed, position)
    _SOURCES[kind] = source
    return source


def timeline_sources(user: Any = None) -> list[TimelineSource]:
    """The registered sources in filter order (those `user` may see, when given)."""
    sources = sorted(_SOURCES.values(), key=lambda s: (s.position, s.kind))
    if user is None:
        return sources
    return [s for s in sources if s.allowed is None or s.allowed(user)]


def kind_choices(user: Any = None) -> list[tuple[str, str]]:
    """(kind, label) for the timeline's kind filter."""
    return [(s.kind, str(s.label)) for s in timeline_sources(user)]


def merge(entries: Iterable[TimelineEntry], limit: int) -> list[TimelineEntry]:
    """The newest `limit` of `entries` in timeline order: (at, kind, id) descending."""
    return sorted(entries, key=lambda e: (e.at, e.kind, e.id), reverse=True)[:limit]


def customer_timeline(
    *,
    user: Any,
    customer: Customer,
    before: TimelineCursor | datetime.datetime | None = None,
    kinds: Iterable[str] = (),
    channels: tuple[str, ...] = (),
    limit: int = TIMELINE_PAGE,
) -> list[TimelineEntry]:
    """The newest `limit` entries older than `before` across the sources (only `kinds` when
    given), newest first: one query per source."""
    if isinstance(before, datetime.datetime):
        before = TimelineCursor(before)
    wanted = set(kinds)
    request = TimelineRequest(
        user=user, customer=customer, before=before, channels=channels, limit=limit
    )
    entries: list[TimelineEntry] = []
    for source in timeline_sources(user):
        if wanted and source.kind not in wanted:
            continue
        if channels and not source.channels:
            continue
        entries.extend(source.fetch(request))
    return merge(entries, limit)


# --- the customers app's own sources ---------------------------------------------------------


def interaction_entry(i: Interaction) -> TimelineEntry:
    """A call, visit, chat, e-mail ... as a timeline entry."""
    kind_label = choice_label(InteractionKind, i.kind)
    return TimelineEntry(
        kind="interaction",
        at=i.occurred_at,
        id=i.pk,
        title=i.subject or kind_label,
        icon={"call": "phone", "visit": "walk"}.get(i.kind, "message"),
        badge=kind_label,
        meta=f"{choice_label(InteractionChannel, i.channel)} · "
        f"{choice_label(Direction, i.direction)}",
        channel=i.channel,
        detail=i.body,
        staff=str(i.staff) if i.staff_id and i.staff else "",
        obj=i,
    )


def note_entry(n: Note) -> TimelineEntry:
    """A note as a timeline entry."""
    return TimelineEntry(
        kind="note",
        at=n.created_at,
        id=n.pk,
        title=n.body[:80],
        heading=_("Note"),
        icon="note",
        badge=_("Pinned") if n.pinned else "",
        badge_class="bg-yellow-lt",
        detail=n.body,
        staff=str(n.author) if n.author_id and n.author else "",
        obj=n,
    )


def _history_detail(h: CustomerHistory) -> str:
    """One line a person can read: "#12, #15" for merges, "Silver → Gold" for grades.

    A merge or its undo names the other side: on the survivor the merged records, on a merged
    record the survivor (an undo's entry holds both, the same data on every record)."""
    d = h.data
    on_survivor = d.get("survivor_id") in (None, h.customer_id)
    if "merged_ids" in d and (h.kind != HistoryKind.UNMERGED or on_survivor):
        return ", ".join(f"#{i}" for i in d["merged_ids"])
    if "survivor_id" in d:
        return f"#{d['survivor_id']}"
    if "from" in d or "to" in d:
        return f"{d.get('from') or '—'} → {d.get('to') or '—'}"
    return ""


def _interactions(r: TimelineRequest) -> list[TimelineEntry]:
    qs = Interaction.objects.filter(customer=r.customer).select_related("staff")
    if r.channels:
        qs = qs.filter(channel__in=r.channels)
    return [interaction_entry(i) for i in r.window(qs, "interaction", "occurred_at")]


def _notes(r: TimelineRequest) -> list[TimelineEntry]:
    qs = Note.objects.filter(customer=r.customer).select_related("author")
    return [note_entry(n) for n in r.window(qs, "note", "created_at")]


def _consents(r: TimelineRequest) -> list[TimelineEntry]:
    qs = ConsentEvent.objects.filter(customer=r.customer).select_related("actor")
    return [
        TimelineEntry(
            kind="consent",
            at=e.at,
            id=e.pk,
            title=choice_label(ConsentChannel, e.channel),
            heading=_("%(channel)s consent: %(status)s")
            % {
                "channel": choice_label(ConsentChannel, e.channel),
                "status": choice_label(ConsentStatus, e.status),
            },
            icon="shield",
            channel=e.channel,
            summary=e.evidence,
            staff=str(e.actor) if e.actor_id and e.actor else "",
            obj=e,
        )
        for e in r.window(qs, "consent", "at")
    ]


def _history(r: TimelineRequest) -> list[TimelineEntry]:
    # Grade changes have their own source (analytics' grade history), with the reason.
    qs = (
        CustomerHistory.objects.filter(customer=r.customer)
        .exclude(kind=HistoryKind.GRADE_CHANGED)
        .select_related("actor")
    )
    return [
        TimelineEntry(
            kind="history",
            at=h.at,
            id=h.pk,
            title=choice_label(HistoryKind, h.kind),
            meta=_history_detail(h),
            icon="activity",
            staff=str(h.actor) if h.actor_id and h.actor else "",
            obj=h,
        )
        for h in r.window(qs, "history", "at")
    ]


def _may_view(model: type[models.Model]) -> Callable[[Any], bool]:
    return lambda user: can(user, Action.VIEW, model)


def register_customer_sources() -> None:
    """The customers app's own kinds (called from its AppConfig.ready). Interactions, notes
    and consents need the role's grant for them; the record history goes with the customer."""
    register_timeline_source(
        "interaction",
        gettext_lazy("Interactions"),
        _interactions,
        channels=True,
        allowed=_may_view(Interaction),
        position=10,
    )
    register_timeline_source(
        "note", gettext_lazy("Notes"), _notes, allowed=_may_view(Note), position=40
    )
    register_timeline_source(
        "consent",
        gettext_lazy("Consent changes"),
        _consents,
        allowed=_may_view(Consent),
        position=50,
    )
    register_timeline_source("history", gettext_lazy("Record history"), _history, position=90)
