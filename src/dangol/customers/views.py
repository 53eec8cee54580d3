"""Staff pages of customers and organizations: lists, the customer 360, quick actions.

Each view parses the request, checks the permission, calls one service or selector and renders
(a whole page, or the fragment htmx asked for). Records outside the user's scope answer 404,
exactly like missing ones.
"""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any
from urllib.parse import urlencode

from django.apps import apps as django_apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dangol.core.customfields import definitions_for
from dangol.core.errors import NotFound, ServiceError, ValidationFailed
from dangol.core.models import Tag
from dangol.core.visibility import Action, can, can_view_pii
from dangol.customers import selectors, services, timeline
from dangol.customers.filters import SORT_COLUMNS, CustomerFilterForm, parse_sort
from dangol.customers.forms import (
    WEB_SOURCE,
    BulkAction,
    BulkForm,
    ConsentAction,
    ConsentChangeForm,
    CustomerCreateForm,
    InteractionForm,
    LogKind,
    NoteForm,
    OrganizationForm,
    ProfileForm,
    SavedViewForm,
    add_service_errors,
)
from dangol.customers.models import (
    ContactKind,
    ContactPoint,
    Customer,
    Interaction,
    InteractionChannel,
    LifecycleStage,
    Note,
    Organization,
    RecordStatus,
    Region,
)
from dangol.customers.timeline import TimelineCursor, choice_label
from dangol.web import selectors as web_selectors
from dangol.web import services as web_services
from dangol.web.htmx import client_ip, wants_fragment
from dangol.web.models import SavedViewPage
from dangol.web.pagination import KeysetOrder, page_of_request

PAGE_SIZE = 50
ORGANIZATION_PAGE_SIZE = 50
TIMELINE_PAGE = selectors.TIMELINE_PAGE


def _query_without(params: QueryDict, *names: str) -> str:
    """The query string of `params` without `names` (cursors, the sort ...)."""
    pairs = [(k, v) for k, values in params.lists() if k not in names for v in values if v]
    return urlencode(pairs)


# --- the customer list ----------------------------------------------------------------------


@login_required
@require_GET
def customer_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not can(user, Action.VIEW, Customer):
        raise Http404
    filters = CustomerFilterForm(request.GET)
    sort, column, descending = parse_sort(request.GET.get("sort", ""))
    order = KeysetOrder(
        column.field, descending=descending, kind=column.kind, nullable=column.nullable
    )
    qs = (
        filters.apply(selectors.customers_for(user))
        .select_related("owner", "team")
        .prefetch_related(
            Prefetch(
                "contact_points",
                queryset=ContactPoint.objects.filter(kind=ContactKind.MOBILE).order_by(
                    "-is_primary", "id"
                ),
                to_attr="mobiles",
            )
        )
    )
    if filters.columns:  # the optional analytics columns: one join, no query per row
        qs = qs.select_related("metrics", "metrics__grade")
    page = page_of_request(qs, request, order=order, size=PAGE_SIZE)
    for c in page.items:  # labels once per row (get_FOO_display hashes every choice per call)
        c.stage_label = choice_label(LifecycleStage, c.lifecycle_stage)  # type: ignore[attr-defined]
        c.region_label = choice_label(Region, c.region) if c.region else ""  # type: ignore[attr-defined]
    base_query = _query_without(request.GET, "after", "before", "view")
    context = {
        "page": page,
        "filters": filters,
        "q": filters.values.get("q", ""),
        "sort": sort,
        "columns": _sort_links(request.GET, sort),
        "base_query": base_query,
        "filter_query": _query_without(request.GET, "after", "before", "view", "sort"),
        "is_filtered": bool(filters.values),
        "can_add": can(user, Action.ADD, Customer),
        "can_change": can(user, Action.CHANGE, Customer),
        "can_export": can(user, Action.EXPORT, Customer),
        "saved_views": web_selectors.saved_views(user=user, page=SavedViewPage.CUSTOMERS),
        "current_view": request.GET.get("view", ""),
        "save_form": SavedViewForm(initial={"query": base_query}),
        "owner_options": _owner_options(selectors.assignable_owners(user, Customer, Action.CHANGE)),
        "tags": Tag.objects.order_by("name")[:200],
        "cols": filters.columns,
    }
    if wants_fragment(request):
        return render(request, "customers/list.html#results", context)
    return render(request, "customers/list.html", context)


def _owner_options(users: Any) -> SafeString:
    """The bulk bar's owner ``<option>``s, built in Python (a few hundred staff)."""
    rows = users.values_list("pk", "display_name", "email", "team__name")
    return mark_safe(  # noqa: S308 - every value is escaped here
        "".join(
            f'<option value="{pk}">{escape(name or email)}{escape(f" · {team}" if team else "")}'
            "</option>"
            for pk, name, email, team in rows
        )
    )


def _sort_links(params: QueryDict, current: str) -> dict[str, dict[str, Any]]:
    """For each sortable column: the query string that sorts by it (toggling the direction)."""
    rest = _query_without(params, "after", "before", "sort", "view")
    links = {}
    for key in SORT_COLUMNS:
        state = "asc" if current == key else "desc" if current == f"-{key}" else ""
        # First click: the natural direction (names A→Z, figures and dates biggest/newest first).
        target = (
            (f"-{key}" if state == "asc" else key)
            if state
            else (key if key in ("name", "stage") else f"-{key}")
        )
        query = f"{rest}&sort={target}" if rest else f"sort={target}"
        links[key] = {"query": query, "state": state}
    return links


def _selection(request: HttpRequest, form: BulkForm, action: Action) -> list[Customer]:
    return list(
        Customer.objects.visible_to(request.user, action).filter(pk__in=form.cleaned_data["ids"])
    )


def _back_to_list(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("web:customer_list")
    return redirect(target or reverse("web:customer_list"))


@login_required
@require_POST
def customer_bulk(request: HttpRequest) -> HttpResponse:
    """Assign an owner, add or remove a tag, or export the selected customers."""
    form = BulkForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return _back_to_list(request)
    action = form.cleaned_data["action"]
    if action in BulkAction.EXPORTS:
        if not can(request.user, Action.EXPORT, Customer):
            raise PermissionDenied
        return _export(request, _selection(request, form, Action.EXPORT), action)
    if not can(request.user, Action.CHANGE, Customer):
        raise PermissionDenied
    chosen = _selection(request, form, Action.CHANGE)
    if action == BulkAction.ASSIGN_OWNER:
        owner = form.cleaned_data["owner"]
        try:
            n = services.assign_owner(customers=chosen, owner=owner, actor=request.user)
        except ServiceError as exc:
            messages.error(request, str(exc.errors[0].message if exc.errors else exc.message))
            return _back_to_list(request)
        messages.success(
            request,
            ngettext(
                "%(n)s customer now belongs to %(owner)s.",
                "%(n)s customers now belong to %(owner)s.",
                n,
            )
            % {"n": f"{n:,}", "owner": owner},
        )
    else:  # a tag added or removed
        tag = form.cleaned_data["tag"].strip()
        adding = action == BulkAction.ADD_TAG
        change = services.tag_customers if adding else services.untag_customers
        done = change(customers=chosen, names=[tag], actor=request.user)
        if done.customers or not done.merged:
            n = len(done.customers)
            text = (
                ngettext(
                    "Tagged %(n)s customer with “%(tag)s”.",
                    "Tagged %(n)s customers with “%(tag)s”.",
                    n,
                )
                if adding
                else ngettext(
                    "Removed “%(tag)s” from %(n)s customer.",
                    "Removed “%(tag)s” from %(n)s customers.",
                    n,
                )
            )
            messages.success(request, text % {"n": f"{n:,}", "tag": tag})
        if done.merged:
            messages.error(request, _merged_skipped(done, alone=len(chosen) == 1, adding=adding))
    return _back_to_list(request)


MERGED_LISTED = 10  # merged-away records a message names before it says "…"


def _merged_skipped(done: services.Tagging, *, alone: bool, adding: bool) -> str:
    """The message for the merged-away customers a tag action skipped: the service's own
    ``customer_merged`` message when the record was the whole selection, else how many were
    skipped and where each went."""
    if alone:
        return str(done.merged[0].message)
    listed = [
        f"#{m.customer_id} → #{m.survivor_id}" if m.survivor_id else f"#{m.customer_id}"
        for m in done.merged[:MERGED_LISTED]
    ]
    if len(done.merged) > MERGED_LISTED:
        listed.append("…")
    values = {"n": f"{len(done.merged):,}", "records": ", ".join(listed)}
    if adding:
        return (
            ngettext(
                "%(n)s customer was not tagged: it was merged into another record "
                "(%(records)s). Tag the surviving record instead.",
                "%(n)s customers were not tagged: they were merged into other records "
                "(%(records)s). Tag the surviving records instead.",
                len(done.merged),
            )
            % values
        )
    return (
        ngettext(
            "%(n)s customer was left as it was: it was merged into another record (%(records)s).",
            "%(n)s customers were left as they were: they were merged into other records "
            "(%(records)s).",
            len(done.merged),
        )
        % values
    )


def _export_rows(request: HttpRequest, customers: list[Customer]) -> list[list[Any]]:
    """The exported table: unmasked only for roles with the PII permission, and then logged."""
    user = request.user
    ordered = list(
        Customer.objects.filter(pk__in=[c.pk for c in customers])
        .select_related("owner", "team")
        .prefetch_related(
            Prefetch(
                "contact_points",
                queryset=ContactPoint.objects.order_by("kind", "-is_primary", "id"),
            )
        )
        .order_by("id")
    )
    contacts = {c: list(c.contact_points.all()) for c in ordered}
    reveal = can_view_pii(user)
    if reveal:
        selectors.log_pii_reads(
            user, contacts, selectors.PiiRead("export", request.path, client_ip(request))
        )
    header = [
        _("Customer ID"),
        _("Name"),
        _("Lifecycle stage"),
        _("Region"),
        _("Mobile"),
        _("E-mail"),
        _("Orders"),
        _("Lifetime spend"),
        _("Last purchase"),
        _("Signed up"),
        _("Owner"),
        _("Team"),
    ]
    rows: list[list[Any]] = [header]
    for c in ordered:
        shown = selectors.present_contacts(user, contacts[c], reveal=reveal)
        mobile = next((v.value for v in shown if v.kind == ContactKind.MOBILE), "")
        email = next((v.value for v in shown if v.kind == ContactKind.EMAIL), "")
        rows.append(
            [
                c.pk,
                c.full_name,
                str(c.get_lifecycle_stage_display()),
                str(c.get_region_display()) if c.region else "",
                mobile,
                email,
                c.order_count,
                int(c.total_spent) if c.total_spent == int(c.total_spent) else float(c.total_spent),
                timezone.localtime(c.last_purchase_at).strftime("%Y-%m-%d %H:%M")
                if c.last_purchase_at
                else "",
                timezone.localtime(c.created_at).strftime("%Y-%m-%d"),
                str(c.owner) if c.owner else "",
                str(c.team) if c.team else "",
            ]
        )
    return rows


def _export(request: HttpRequest, customers: list[Customer], action: str) -> HttpResponse:
    rows = _export_rows(request, customers)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if action == BulkAction.EXPORT_CSV:
        buffer = io.StringIO()
        buffer.write("\ufeff")  # a BOM, so that Excel reads the Korean text as UTF-8
        csv.writer(buffer).writerows(rows)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
        return response
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _("Customers")[:31]
    for row in rows:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for column, width in zip(
        "ABCDEFGHIJKL", (10, 14, 14, 10, 16, 26, 8, 14, 17, 12, 14, 14), strict=True
    ):
        sheet.column_dimensions[column].width = width
    for (cell,) in sheet.iter_rows(min_row=2, min_col=8, max_col=8):
        cell.number_format = "#,##0"
    out = io.BytesIO()
    book.save(out)
    response = HttpResponse(
        out.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.xlsx"'
    return response


# --- saved views ----------------------------------------------------------------------------


@login_required
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    if form.is_valid():
        try:
            view = web_services.save_view(
                owner=request.user,
                page=SavedViewPage.CUSTOMERS,
                name=form.cleaned_data["name"],
                query=form.cleaned_data["query"],
                shared=form.cleaned_data["shared"],
            )
        except ValidationFailed as exc:
            for err in exc.errors:
                messages.error(request, str(err.message))
        else:
            messages.success(request, _("Saved the view “%(name)s”.") % {"name": view.name})
            query = f"{view.query}&view={view.pk}" if view.query else f"view={view.pk}"
            return redirect(f"{reverse('web:customer_list')}?{query}")
    else:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    return redirect(f"{reverse('web:customer_list')}?{form.data.get('query', '')}")


@login_required
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    try:
        web_services.delete_view(view_id=view_id, actor=request.user)
    except NotFound:
        raise Http404 from None
    messages.success(request, _("The view was removed."))
    return redirect("web:customer_list")


# --- a new customer -------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def customer_create(request: HttpRequest) -> HttpResponse:
    """Enter a customer by hand. When the mobile number, the e-mail address or the name and
    birth date match customers the user can see, the first submit lists them instead of
    creating; "create anyway" sends their ids back in ``confirm``."""
    user = request.user
    if not can(user, Action.VIEW, Customer):
        raise Http404
    if not can(user, Action.ADD, Customer):
        raise PermissionDenied
    form = CustomerCreateForm(
        request.POST or None, user=user, definitions=definitions_for("customers.customer")
    )
    duplicates: list[selectors.PossibleDuplicate] = []
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        duplicates = selectors.possible_duplicates(
            user=user,
            full_name=form.full_name_entered(),
            birth_date=d["birth_date"],
            mobile=d["mobile"],
            email=d["email"],
        )
        if not {p.customer.pk for p in duplicates} <= form.confirmed_ids():
            return _customer_form(request, form, duplicates)
        data, aliases = form.customer_input()
        try:
            customer = services.enter_customer(
                data=data,
                actor=user,
                consent_channels=d["consent_channels"],
                night_time=d["consent_night_time"],
                consent_source=WEB_SOURCE,
                evidence=d["consent_evidence"].strip(),
            )
        except ServiceError as exc:
            add_service_errors(form, exc, aliases)
        else:
            messages.success(
                request, _("Created the customer %(name)s.") % {"name": customer.full_name}
            )
            return redirect("web:customer_detail", customer.pk)
    return _customer_form(request, form, duplicates)


def _customer_form(
    request: HttpRequest,
    form: CustomerCreateForm,
    duplicates: list[selectors.PossibleDuplicate],
) -> HttpResponse:
    return render(
        request,
        "customers/customer_form.html",
        {
            "form": form,
            "duplicates": duplicates,
            "duplicate_ids": ",".join(str(p.customer.pk) for p in duplicates),
        },
    )


# --- the customer 360 -----------------------------------------------------------------------


def _visible_customer(
    request: HttpRequest, customer_id: int, action: Action = Action.VIEW
) -> Customer:
    customer = Customer.objects.visible_to(request.user, action).filter(pk=customer_id).first()
    if customer is None:
        raise Http404
    return customer


def _timeline_filters(request: HttpRequest) -> tuple[str, str]:
    kind = request.GET.get("kind", "")
    channel = request.GET.get("channel", "")
    kinds = {k for k, _label in timeline.kind_choices(request.user)}
    return (
        kind if kind in kinds else "",
        channel if channel in InteractionChannel.values else "",
    )


def _timeline_context(
    request: HttpRequest, customer: Customer, before: TimelineCursor | None = None
) -> dict[str, Any]:
    kind, channel = _timeline_filters(request)
    entries = selectors.timeline(
        user=request.user,
        customer=customer,
        before=before,
        kinds=(kind,) if kind else (),
        channels=(channel,) if channel else (),
        limit=TIMELINE_PAGE,
    )
    more = None
    if len(entries) == TIMELINE_PAGE:
        params = {"before": entries[-1].cursor.encode()}
        if kind:
            params["kind"] = kind
        if channel:
            params["channel"] = channel
        more = f"{reverse('web:customer_timeline', args=[customer.pk])}?{urlencode(params)}"
    return {
        "customer": customer,
        "entries": entries,
        "more_url": more,
        "timeline_kind": kind,
        "timeline_channel": channel,
    }


def _permissions(user: Any, customer: Customer) -> dict[str, bool]:
    """What the page offers. A merged-away record offers no action: its work belongs on the
    survivor (the services refuse it anyway, with ``customer_merged``)."""
    open_ = customer.status != RecordStatus.MERGED
    return {
        "can_change": open_ and can(user, Action.CHANGE, Customer),
        "can_log": open_ and can(user, Action.ADD, Interaction),
        "can_note": open_ and can(user, Action.ADD, Note),
        "can_view_pii": can_view_pii(user),
        "can_export": can(user, Action.EXPORT, Customer),
    }


@login_required
@require_GET
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    view = selectors.customer_360(user=request.user, customer_id=customer_id)
    if view is None:
        raise Http404
    definitions = definitions_for("customers.customer")
    context = {
        "view": view,
        **_timeline_context(request, view.customer),
        **_permissions(request.user, view.customer),
        "merged_into": selectors.merged_into(user=request.user, customer=view.customer),
        "custom_fields": _custom_values(view.customer, definitions),
        "call_form": InteractionForm(initial={"kind": LogKind.CALL}, prefix="call"),
        "visit_form": InteractionForm(initial={"kind": LogKind.VISIT}, prefix="visit"),
        "note_form": NoteForm(prefix="note"),
        "consent_form": ConsentChangeForm(prefix="consent"),
        "kind_choices": timeline.kind_choices(request.user),
        "channel_choices": InteractionChannel.choices,
        "analytics": _analytics(view.customer),
    }
    return render(request, "customers/detail.html", context)


def _analytics(customer: Customer) -> dict[str, Any] | None:
    """The customer's analytics from the last run: metrics with the grade (one query) and the
    offers worded by the analytics app (one more, for the products' names). Read through the app
    registry: the customers app does not import the analytics or commerce apps (ARCHITECTURE
    §4.1)."""
    if not django_apps.is_installed("dangol.analytics"):
        return None
    metrics_model = django_apps.get_model("analytics", "CustomerMetrics")
    metrics = metrics_model.objects.filter(customer_id=customer.pk).select_related("grade").first()
    if metrics is None:
        return None
    app = django_apps.get_app_config("analytics")
    return {
        "metrics": metrics,
        "grade": metrics.grade,
        "offers": app.describe_offers(metrics.next_best_offers or []),  # type: ignore[attr-defined]
        "drivers": app.describe_drivers(metrics.churn_drivers or []),  # type: ignore[attr-defined]
    }


def _custom_values(customer: Any, definitions: list[Any]) -> list[tuple[str, Any]]:
    values = customer.custom_fields or {}
    out = []
    for d in definitions:
        if d.key in values:
            value = values[d.key]
            if isinstance(value, bool):
                value = _("Yes") if value else _("No")
            elif isinstance(value, list):
                value = ", ".join(map(str, value))
            out.append((d.label, value))
    return out


@login_required
@require_GET
def customer_timeline(request: HttpRequest, customer_id: int) -> HttpResponse:
    """A page of the timeline (scrolling), or the first page again after a filter change."""
    customer = _visible_customer(request, customer_id)
    raw = request.GET.get("before")
    before = TimelineCursor.decode(raw) if raw else None
    context = _timeline_context(request, customer, before)
    response = render(request, "customers/_timeline.html#entries", context)
    if before is None and wants_fragment(request):
        # A filter change: keep the address bookmarkable and the back button working.
        query = _query_without(request.GET, "before")
        detail = reverse("web:customer_detail", args=[customer.pk])
        response["HX-Push-Url"] = f"{detail}?{query}" if query else detail
    return response


@login_required
@require_POST
def customer_contacts_reveal(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Show the contact points and addresses unmasked (PII roles only); the read is logged."""
    if not can_view_pii(request.user):
        raise PermissionDenied
    customer = _visible_customer(request, customer_id)
    contacts = selectors.reveal_contacts(
        user=request.user,
        customer=customer,
        read=selectors.PiiRead("web", request.path, client_ip(request)),
    )
    return render(
        request,
        "customers/_contacts.html",
        {
            "customer": customer,
            "contacts": contacts,
            "addresses": list(customer.addresses.all()),
            "revealed": True,
            "can_view_pii": True,
        },
    )


@login_required
@require_GET
def customer_contacts(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The contact card masked again ("hide")."""
    customer = _visible_customer(request, customer_id)
    contacts = list(customer.contact_points.order_by("kind", "-is_primary", "id"))
    return render(
        request,
        "customers/_contacts.html",
        {
            "customer": customer,
            "contacts": selectors.present_contacts(request.user, contacts),
            "addresses": list(customer.addresses.all()),
            "revealed": False,
            "can_view_pii": can_view_pii(request.user),
        },
    )


def _form_error_response(
    request: HttpRequest, template: str, context: dict[str, Any], target: str
) -> HttpResponse:
    response = render(request, template, context)
    response["HX-Retarget"] = target
    response["HX-Reswap"] = "outerHTML"
    return response


@login_required
@require_POST
def customer_log(request: HttpRequest, customer_id: int, what: str) -> HttpResponse:
    """Log a call or a visit, or write a note: the new entry goes on top of the timeline."""
    customer = _visible_customer(request, customer_id)
    if what == "note":
        if not can(request.user, Action.ADD, Note):
            raise PermissionDenied
        form: Any = NoteForm(request.POST, prefix="note")
    else:
        if not can(request.user, Action.ADD, Interaction) or what not in LogKind.CHANNEL:
            raise PermissionDenied
        form = InteractionForm(request.POST, prefix=what)
    form_context = {"customer": customer, "form": form, "what": what}
    if form.is_valid():
        try:
            if what == "note":
                note = services.add_note(
                    customer=customer,
                    body=form.cleaned_data["body"],
                    pinned=form.cleaned_data["pinned"],
                    actor=request.user,
                )
                entry = timeline.note_entry(note)
            else:
                interaction = services.record_interaction(
                    customer=customer, actor=request.user, **form.service_arguments()
                )
                entry = timeline.interaction_entry(interaction)
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            fresh = (
                NoteForm(prefix="note")
                if what == "note"
                else InteractionForm(initial={"kind": what}, prefix=what)
            )
            return render(
                request,
                "customers/_logged.html",
                {"customer": customer, "entry": entry, "form": fresh, "what": what, "new": True},
            )
    return _form_error_response(
        request, "customers/_log_form.html", form_context, f"#log-{what}-form"
    )


@login_required
@require_POST
def customer_consent(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Record that the customer agreed to, or withdrew, a channel: the consent card again."""
    customer = _visible_customer(request, customer_id, Action.CHANGE)
    form = ConsentChangeForm(request.POST, prefix="consent")
    saved = False
    if form.is_valid():
        data = form.cleaned_data
        try:
            if data["action"] == ConsentAction.GRANT:
                services.grant_consent(
                    customer=customer,
                    channel=data["channel"],
                    purpose=data["purpose"],
                    night_time=data["night_time"],
                    source="web",
                    evidence=data["evidence"],
                    actor=request.user,
                )
            else:
                services.withdraw_consent(
                    customer=customer,
                    channel=data["channel"],
                    purpose=data["purpose"],
                    source="web",
                    evidence=data["evidence"],
                    actor=request.user,
                )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            form = ConsentChangeForm(prefix="consent")
            saved = True
    view = selectors.customer_360(user=request.user, customer_id=customer.pk)
    assert view is not None
    return render(
        request,
        "customers/_consents.html",
        {"view": view, "consent_form": form, "can_change": True, "consent_saved": saved},
    )


@login_required
def customer_profile(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The profile card: shown, as an inline form (GET ?edit=1), or saved (POST)."""
    editing = request.method == "POST" or request.GET.get("edit") == "1"
    customer = _visible_customer(request, customer_id, Action.CHANGE if editing else Action.VIEW)
    definitions = definitions_for("customers.customer")
    form = None
    if request.method == "POST":
        form = ProfileForm(request.POST, definitions=definitions)
        if form.is_valid():
            try:
                customer = services.update_customer(
                    customer=customer, changes=form.changes(), actor=request.user
                )
            except ServiceError as exc:
                add_service_errors(form, exc)
            else:
                form = None
                customer = Customer.objects.select_related("owner", "team").get(pk=customer.pk)
    elif editing and customer.status != RecordStatus.MERGED:
        form = ProfileForm(initial=ProfileForm.initial_for(customer), definitions=definitions)
    return render(
        request,
        "customers/_profile.html",
        {
            "customer": customer,
            "form": form,
            "custom_fields": _custom_values(customer, definitions),
            "can_change": _permissions(request.user, customer)["can_change"],
            "saved": request.method == "POST" and form is None,
        },
    )


# --- organizations --------------------------------------------------------------------------


ORG_SORT = KeysetOrder("name", descending=False, kind="str")


@login_required
@require_GET
def organization_list(request: HttpRequest) -> HttpResponse:
    if not can(request.user, Action.VIEW, Organization):
        raise Http404
    q = request.GET.get("q", "").strip()[:100]
    region = request.GET.get("region", "")
    region = region if region in Region.values else ""
    qs = Organization.objects.visible_to(request.user).filter(status=RecordStatus.ACTIVE)
    if len(q) >= 2:
        qs = qs.filter(Q(name__contains=q) | Q(business_number=q))
    if region:
        qs = qs.filter(region=region)
    page = page_of_request(
        qs.select_related("owner", "parent"), request, order=ORG_SORT, size=ORGANIZATION_PAGE_SIZE
    )
    context = {
        "page": page,
        "q": q,
        "region": region,
        "regions": Region.choices,
        "base_query": _query_without(request.GET, "after", "before"),
        "is_filtered": bool(q or region),
        "can_add": can(request.user, Action.ADD, Organization),
    }
    if wants_fragment(request):
        return render(request, "customers/organization_list.html#results", context)
    return render(request, "customers/organization_list.html", context)


@login_required
@require_GET
def organization_detail(request: HttpRequest, organization_id: int) -> HttpResponse:
    from dangol.commerce.selectors import organization_orders

    view = selectors.organization_detail(user=request.user, organization_id=organization_id)
    if view is None:
        raise Http404
    org = view.organization
    return render(
        request,
        "customers/organization_detail.html",
        {
            "view": view,
            "org": org,
            "orders": organization_orders(user=request.user, organization=org)
            if can(request.user, Action.VIEW, "commerce.order")
            else [],
            "entries": selectors.organization_timeline(user=request.user, organization=org),
            "custom_fields": _custom_values(org, definitions_for("customers.organization")),
            "can_change": can(request.user, Action.CHANGE, Organization),
            "can_archive": org.status == RecordStatus.ACTIVE
            and can(request.user, Action.DELETE, Organization),
            "can_restore": org.status == RecordStatus.ARCHIVED
            and can(request.user, Action.DELETE, Organization),
        },
    )


def _organization_form(
    request: HttpRequest, form: OrganizationForm, org: Organization | None
) -> HttpResponse:
    return render(
        request,
        "customers/organization_form.html",
        {"form": form, "org": org, "parent": form.chosen_parent()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def organization_create(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not can(user, Action.VIEW, Organization):
        raise Http404
    if not can(user, Action.ADD, Organization):
        raise PermissionDenied
    form = OrganizationForm(
        request.POST or None, user=user, definitions=definitions_for("customers.organization")
    )
    if request.method == "POST" and form.is_valid():
        values = form.values()
        try:
            org = services.create_organization(
                name=values.pop("name"), source=WEB_SOURCE, actor=user, **values
            )
        except ServiceError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Created the organization %(name)s.") % {"name": org.name})
            return redirect("web:organization_detail", org.pk)
    return _organization_form(request, form, None)


def _changeable_organization(
    request: HttpRequest, organization_id: int, action: Action
) -> Organization:
    org = (
        Organization.objects.visible_to(request.user, action)
        .select_related("parent", "owner")
        .filter(pk=organization_id)
        .first()
    )
    if org is None:
        raise Http404
    return org


@login_required
@require_http_methods(["GET", "POST"])
def organization_edit(request: HttpRequest, organization_id: int) -> HttpResponse:
    org = _changeable_organization(request, organization_id, Action.CHANGE)
    definitions = definitions_for("customers.organization")
    if request.method == "POST":
        form = OrganizationForm(
            request.POST, user=request.user, organization=org, definitions=definitions
        )
        if form.is_valid():
            try:
                services.update_organization(
                    organization=org, changes=form.values(), actor=request.user
                )
            except ServiceError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("The organization was saved."))
                return redirect("web:organization_detail", org.pk)
    else:
        form = OrganizationForm(
            initial=OrganizationForm.initial_for(org),
            user=request.user,
            organization=org,
            definitions=definitions,
        )
    return _organization_form(request, form, org)


@login_required
@require_http_methods(["GET", "POST"])
def organization_archive(request: HttpRequest, organization_id: int) -> HttpResponse:
    """Archive an organization (hidden from lists, kept with its history): a confirmation page,
    then the POST."""
    org = _changeable_organization(request, organization_id, Action.DELETE)
    if request.method == "POST":
        try:
            services.archive_organization(organization=org, actor=request.user)
        except ServiceError as exc:
            messages.error(request, str(exc.message))
            return redirect("web:organization_detail", org.pk)
        messages.success(request, _("Archived the organization %(name)s.") % {"name": org.name})
        return redirect("web:organization_list")
    return render(request, "customers/organization_archive.html", {"org": org})


@login_required
@require_POST
def organization_restore(request: HttpRequest, organization_id: int) -> HttpResponse:
    """Undo an archive (the detail page's button; the same permission as archiving)."""
    org = _changeable_organization(request, organization_id, Action.DELETE)
    try:
        services.restore_organization(organization=org, actor=request.user)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Restored the organization %(name)s.") % {"name": org.name})
    return redirect("web:organization_detail", org.pk)


PARENT_OPTIONS = 20


@login_required
@require_GET
def organization_parent_options(request: HttpRequest) -> HttpResponse:
    """The parent picker's results: visible active organizations matching ``q``, without the
    organization being edited (``exclude``) and the organizations below it."""
    if not can(request.user, Action.VIEW, Organization):
        raise Http404
    q = request.GET.get("q", "").strip()[:100]
    raw = request.GET.get("exclude", "")
    exclude: set[int] = set()
    if raw.isdigit():
        org = Organization.objects.visible_to(request.user).filter(pk=int(raw)).first()
        if org is not None:
            exclude = {org.pk, *selectors.organization_descendant_ids(org)}
    options = (
        selectors.search_organizations(
            user=request.user, q=q, limit=PARENT_OPTIONS, exclude=exclude
        )
        if len(q) >= 2
        else []
    )
    return render(request, "customers/_parent_options.html", {"options": options, "q": q})
