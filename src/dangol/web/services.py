"""State changes of the staff app's shell: saved list views."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.db import transaction
from django.utils.translation import gettext as _

from dangol.core import audit
from dangol.core.errors import FieldError, NotFound, ValidationFailed
from dangol.web.models import SavedView, SavedViewPage

# Parameters that point into a list rather than describe it: never part of a saved view.
_TRANSIENT = {"after", "before", "view", "page", "ids"}


def clean_query(query: str) -> str:
    """The query string without cursors and empty values, in a stable order."""
    pairs = [(k, v) for k, v in parse_qsl(query) if v and k not in _TRANSIENT]
    return urlencode(sorted(pairs))


@transaction.atomic
def save_view(*, owner: Any, page: str, name: str, query: str, shared: bool = False) -> SavedView:
    """Save (or overwrite, by name) one of `owner`'s views of a list page."""
    name = name.strip()
    errors = []
    if page not in SavedViewPage.values:
        errors.append(FieldError("page", "invalid_choice", _("Not a valid choice.")))
    if not name:
        errors.append(FieldError("name", "required", _("Give the view a name.")))
    elif len(name) > 80:
        errors.append(FieldError("name", "too_long", _("At most 80 characters.")))
    if errors:
        raise ValidationFailed(errors)
    view, created = SavedView.objects.update_or_create(
        owner=owner,
        page=page,
        name=name,
        defaults={"query": clean_query(query), "shared": shared},
    )
    audit.record(
        owner,
        "saved_view.created" if created else "saved_view.updated",
        view,
        after=audit.snapshot(view),
    )
    return view


@transaction.atomic
def delete_view(*, view_id: int, actor: Any) -> None:
    """Remove one of `actor`'s own views (another user's view answers not found)."""
    view = SavedView.objects.filter(pk=view_id, owner=actor).first()
    if view is None:
        raise NotFound()
    audit.record(actor, "saved_view.deleted", view, before=audit.snapshot(view))
    view.delete()
