"""The staff app's main navigation: one entry per working domain page, filtered by permission.

Add an entry here when a domain's list page lands; an entry is shown only to users whose role
may do its action on that object type, within the scope it needs (superusers see everything),
so no entry leads to a page that answers "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from dangol.core.visibility import Action, Scope, can, scope_for


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str | Promise
    url_name: str
    icon: str
    object_type: str | None = None  # the grant needed to see the entry; None: every user
    action: str = Action.VIEW  # what the page needs to do on `object_type`
    scope: str | None = None  # the scope the page needs (Scope.ALL: figures of the whole base)


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("home", pgettext_lazy("navigation", "Home"), "web:home", "home"),
    NavItem("customers", _("Customers"), "web:customer_list", "users", "customers.customer"),
    NavItem("tasks", _("My tasks"), "web:task_list", "check", "sales.task"),
    NavItem(
        "organizations",
        _("Organizations"),
        "web:organization_list",
        "building",
        "customers.organization",
    ),
    NavItem("orders", _("Orders"), "web:order_list", "receipt", "commerce.order"),
    NavItem("products", _("Products"), "web:product_list", "package", "commerce.product"),
    NavItem("analytics", _("Analytics"), "web:analytics", "activity", "customers.customer"),
    NavItem("segments", _("Segments"), "web:segment_list", "filter", "customers.customer"),
    NavItem(
        "duplicates",
        _("Duplicates"),
        "web:duplicate_list",
        "merge",
        "customers.customer",
        action=Action.CHANGE,  # reviewing a pair merges or dismisses it
    ),
    NavItem(
        "data_quality",
        _("Data quality"),
        "web:quality",
        "gauge",
        "customers.customer",
        scope=Scope.ALL,  # the figures count the whole base
    ),
    NavItem(
        "exports",
        _("Exports"),
        "web:export_list",
        "download",
        "customers.customer",
        action=Action.EXPORT,
    ),
    NavItem("imports", _("Imports"), "web:import_list", "upload", "customers.customer"),
)


@dataclass(frozen=True)
class NavEntry:
    key: str
    label: str | Promise
    url: str
    icon: str
    active: bool


def _allowed(user: Any, item: NavItem) -> bool:
    assert item.object_type is not None
    if item.scope is not None:
        return scope_for(user, item.object_type, item.action) == item.scope
    return can(user, item.action, item.object_type)


def entries_for(request: HttpRequest) -> list[NavEntry]:
    """The entries `request.user` may use, with the current one marked active."""
    entries = []
    for item in NAVIGATION:
        if item.object_type and not _allowed(request.user, item):
            continue
        url = reverse(item.url_name)
        active = request.path == url if url == "/" else request.path.startswith(url)
        entries.append(NavEntry(item.key, item.label, url, item.icon, active))
    return entries
