"""Merging duplicate customers into one record, and undoing a merge exactly.

Every row of every model that points at a customer moves to the survivor: the relations are
discovered from the foreign keys, so a later domain (cases, deals, coupons ...) is covered the
moment it adds a ``ForeignKey(Customer)``. A model whose rows are unique per customer (one
consent per channel, one contact point per number) registers a handler that folds the
duplicate rows instead of moving them. Everything a merge does is written into the
`MergeRecord`, so `unmerge` puts back exactly what was there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dangol.core import audit
from dangol.core.errors import Conflict, ValidationFailed
from dangol.core.models import TaggedItem
from dangol.core.normalize import address_key
from dangol.customers import changefeed
from dangol.customers.models import (
    Address,
    ChangeOp,
    Consent,
    ConsentStatus,
    ContactPoint,
    Customer,
    CustomerHistory,
    HistoryKind,
    MergeRecord,
    OrganizationMembership,
    RecordStatus,
    SurvivorshipRule,
    SurvivorshipStrategy,
)

# Relations that stay where they are: each record keeps its own history and merge records.
NOT_MOVED = {("customers.customerhistory", "customer"), ("customers.mergerecord", "survivor")}

# Profile fields chosen by survivorship, in groups that must come from the same record.
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "full_name": ("full_name", "family_name", "given_name"),
    "birth_date": ("birth_date", "birth_date_is_lunar"),
    "gender": ("gender",),
    "region": ("region",),
    "owner": ("owner_id", "team_id"),
    "signup_channel": ("signup_channel",),
}


class MergeLog:
    """What a merge did, in the form `MergeRecord` stores."""

    def __init__(self) -> None:
        self.moved: list[list[Any]] = []
        self.removed: list[list[Any]] = []
        self.changed: list[list[Any]] = []

    def remove(self, obj: models.Model) -> None:
        self.removed.append([obj._meta.label_lower, audit.snapshot(obj)])
        obj.delete()

    def change(self, obj: models.Model, **values: Any) -> None:
        old = {k: audit._jsonable(getattr(obj, k)) for k in values}
        self.changed.append([obj._meta.label_lower, obj.pk, old])
        for k, v in values.items():
            setattr(obj, k, v)
        obj.save(update_fields=list(values))


Handler = Callable[[Customer, Customer, MergeLog], None]
_handlers: dict[str, Handler] = {}
Refresher = Callable[[list[int]], None]
_derived: dict[str, Refresher] = {}


def register_merge_handler(model: type[models.Model]) -> Callable[[Handler], Handler]:
    """Fold a model's rows yourself (for rows unique per customer) instead of moving them."""

    def register(func: Handler) -> Handler:
        _handlers[model._meta.label_lower] = func
        return func

    return register


def _column(model: type[models.Model], name: str) -> str:
    """The column of a model's field (``customer`` → ``customer_id``, ``object_id`` itself)."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field.attname


def _keep(src: Customer, dst: Customer, log: MergeLog) -> None:
    """Leave the merged-away record's rows where they are (see `keep_on_merge`)."""


def keep_on_merge(model: type[models.Model]) -> None:
    """Rows that describe their own record as something computed or labelled it at one time (an
    analytics run's metrics and grade, the demo's answer key): a merge leaves the merged-away
    record's rows with it, as its history, and logs nothing; the survivor keeps its own until
    whatever computed them runs again (the next analytics run, which skips merged-away
    records). Moving them could not work: there is one per customer."""
    register_merge_handler(model)(_keep)


def _fold(
    rows: models.QuerySet[Any], owner: str, key: str, src: Customer, dst: Customer, log: MergeLog
) -> None:
    """Move the merged-away record's ``rows`` (``owner``, the field naming the customer, is
    ``src``) to ``dst``, except those whose ``key`` ``dst`` already has, which are removed; both
    logged, so an unmerge puts back exactly what was there."""
    label = rows.model._meta.label_lower
    owner_column, key_column = _column(rows.model, owner), _column(rows.model, key)
    have = set(rows.filter(**{owner_column: dst.pk}).values_list(key_column, flat=True))
    for row in rows.filter(**{owner_column: src.pk}).order_by("pk"):
        if getattr(row, key_column) in have:
            log.remove(row)
        else:
            log.moved.append([label, owner, row.pk, src.pk])
            rows.filter(pk=row.pk).update(**{owner_column: dst.pk})


def fold_on_merge(model: type[models.Model], key: str) -> None:
    """Rows unique per (customer, ``key``) (a segment's snapshot members): the merged-away
    record's rows move to the survivor, except those whose ``key`` the survivor already has,
    which are removed (``_fold``)."""

    def fold(src: Customer, dst: Customer, log: MergeLog) -> None:
        _fold(model._default_manager.all(), "customer", key, src, dst, log)

    register_merge_handler(model)(fold)


def register_derived(model: type[models.Model], refresh: Refresher) -> None:
    """A model whose rows are computed from other rows of the customer (what they bought, from
    their orders): a merge neither moves nor logs them; ``refresh(customer_ids)`` recomputes
    them after the other rows have moved, and again after an unmerge."""
    _derived[model._meta.label_lower] = refresh


def _refresh_derived(customer_ids: list[int]) -> None:
    for refresh in _derived.values():
        refresh(customer_ids)


def customer_relations() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) whose foreign key points at Customer, across all apps."""
    out = []
    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if (
                isinstance(f, models.ForeignKey)
                and f.related_model is Customer
                and model is not Customer  # merged_into chains stay as they are
                and (model._meta.label_lower, f.name) not in NOT_MOVED
                and model._meta.label_lower not in _derived
            ):
                out.append((model, f.name))
    return out


def _move(
    model: type[models.Model], field: str, src: Customer, dst: Customer, log: MergeLog
) -> None:
    qs = model._default_manager.filter(**{field: src})
    pks = list(qs.values_list("pk", flat=True))
    if pks:
        log.moved.extend([model._meta.label_lower, field, pk, src.pk] for pk in pks)
        model._default_manager.filter(pk__in=pks).update(**{field: dst})


@register_merge_handler(ContactPoint)
def _merge_contact_points(src: Customer, dst: Customer, log: MergeLog) -> None:
    have = {(c.kind, c.match_key): c for c in ContactPoint.objects.filter(customer=dst)}
    primary_kinds = {c.kind for c in have.values() if c.is_primary}
    for cp in ContactPoint.objects.filter(customer=src).order_by("id"):
        same = have.get((cp.kind, cp.match_key))
        if same is not None:
            if cp.verified_at and not same.verified_at:
                log.change(same, verified_at=cp.verified_at)
            log.remove(cp)
            continue
        if cp.is_primary and cp.kind in primary_kinds:
            log.change(cp, is_primary=False)
        log.moved.append(["customers.contactpoint", "customer", cp.pk, src.pk])
        ContactPoint.objects.filter(pk=cp.pk).update(customer=dst)


@register_merge_handler(Address)
def _merge_addresses(src: Customer, dst: Customer, log: MergeLog) -> None:
    """As contact points: an address the survivor has already (the same ``address_key``,
    however spaced or spelled: 서울특별시 / 서울) is removed, giving the survivor's copy the
    postal code it lacked; the others move, not primary when the survivor has a primary
    address. All logged, so an unmerge puts back exactly what was there."""
    have: dict[str, Address] = {}
    for a in Address.objects.filter(customer=dst).order_by("id"):
        have.setdefault(address_key(a.line1, a.line2), a)
    has_primary = any(a.is_primary for a in have.values())
    for a in Address.objects.filter(customer=src).order_by("id"):
        key = address_key(a.line1, a.line2)
        same = have.get(key)
        if same is not None:
            if a.postal_code and not same.postal_code:
                log.change(same, postal_code=a.postal_code)
            log.remove(a)
            continue
        if a.is_primary and has_primary:
            log.change(a, is_primary=False)
        log.moved.append(["customers.address", "customer", a.pk, src.pk])
        Address.objects.filter(pk=a.pk).update(customer=dst)
        have[key] = a
        has_primary = has_primary or a.is_primary


@register_merge_handler(Consent)
def _merge_consents(src: Customer, dst: Customer, log: MergeLog) -> None:
    """The most protective state wins: a withdrawal anywhere is a withdrawal; night-time
    consent only if both had it; the earlier reconfirmation date."""
    have = {(c.channel, c.purpose): c for c in Consent.objects.filter(customer=dst)}
    for c in Consent.objects.filter(customer=src):
        mine = have.get((c.channel, c.purpose))
        if mine is None:
            log.moved.append(["customers.consent", "customer", c.pk, src.pk])
            Consent.objects.filter(pk=c.pk).update(customer=dst)
            continue
        changes: dict[str, Any] = {}
        if c.status == ConsentStatus.WITHDRAWN and mine.status != ConsentStatus.WITHDRAWN:
            changes.update(
                status=ConsentStatus.WITHDRAWN, withdrawn_at=c.withdrawn_at, night_time=False
            )
        elif mine.status == ConsentStatus.GRANTED:
            if mine.night_time and not c.night_time:
                changes["night_time"] = False
            if c.reconfirm_due and (
                mine.reconfirm_due is None or c.reconfirm_due < mine.reconfirm_due
            ):
                changes["reconfirm_due"] = c.reconfirm_due
        if changes:
            log.change(mine, **changes)
        log.remove(c)


fold_on_merge(OrganizationMembership, "organization")


@register_merge_handler(TaggedItem)
def _merge_tags(src: Customer, dst: Customer, log: MergeLog) -> None:
    """Tags link to their record by a generic reference, not a foreign key (so
    `customer_relations` does not find them): the merged-away record's tags move to the
    survivor, those the survivor has already are removed; both logged for an unmerge."""
    items = TaggedItem.objects.filter(content_type=ContentType.objects.get_for_model(Customer))
    _fold(items, "object_id", "tag", src, dst, log)


def _rules() -> dict[str, SurvivorshipRule]:
    return {r.field_name: r for r in SurvivorshipRule.objects.all()}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {}


def _choose(field: str, records: list[Customer], rule: SurvivorshipRule | None) -> Customer:
    """The record whose value of `field` survives (records[0] is the survivor)."""
    strategy = rule.strategy if rule else SurvivorshipStrategy.MOST_COMPLETE
    key = FIELD_GROUPS[field][0]
    candidates = [r for r in records if not _empty(getattr(r, key))]
    if strategy == SurvivorshipStrategy.SURVIVOR or not candidates:
        return records[0]
    if strategy == SurvivorshipStrategy.MOST_RECENT:
        return max(candidates, key=lambda r: r.updated_at)
    if strategy == SurvivorshipStrategy.TRUSTED_SOURCE and rule is not None:
        order = {s: i for i, s in enumerate(rule.source_order)}
        return min(candidates, key=lambda r: order.get(r.source, len(order)))
    return candidates[0]  # most complete: the survivor's value when it has one


@transaction.atomic
def merge_customers(
    *,
    survivor: Customer,
    duplicates: list[Customer],
    actor: Any,
    automatic: bool = False,
    probability: float | None = None,
) -> MergeRecord:
    """Fold `duplicates` into `survivor`: contact points, addresses, external ids, consents,
    orders, interactions and every other related record; profile fields by survivorship."""
    ids = [d.pk for d in duplicates]
    if not duplicates or survivor.pk in ids or len(set(ids)) != len(ids):
        raise ValidationFailed.single(
            "duplicates", "invalid", _("Choose other records than the survivor.")
        )
    locked = {
        c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[survivor.pk, *ids])
    }
    if len(locked) != len(ids) + 1 or any(c.status != RecordStatus.ACTIVE for c in locked.values()):
        raise Conflict(_("Only active records can be merged."), "not_active")
    survivor = locked[survivor.pk]
    dups = sorted((locked[i] for i in ids), key=lambda c: c.updated_at, reverse=True)
    before = audit.snapshot(survivor)
    log = MergeLog()
    relations = customer_relations()
    for dup in dups:
        handled: set[str] = set()
        for label, handler in _handlers.items():
            handler(dup, survivor, log)
            handled.add(label)
        for model, field in relations:
            if model._meta.label_lower not in handled:
                _move(model, field, dup, survivor, log)
    rules = _rules()
    records = [survivor, *dups]
    for field, columns in FIELD_GROUPS.items():
        source = _choose(field, records, rules.get(field))
        for col in columns:
            setattr(survivor, col, getattr(source, col))
    survivor.custom_fields = {
        **{k: v for d in reversed(dups) for k, v in d.custom_fields.items()},
        **survivor.custom_fields,
    }
    survivor.created_at = min(r.created_at for r in records)
    survivor.updated_at = timezone.now()
    survivor.save()
    _refresh_derived([survivor.pk, *ids])  # the purchase aggregates and lifecycle stage too
    survivor.refresh_from_db()
    Customer.objects.filter(pk__in=ids).update(
        status=RecordStatus.MERGED, merged_into=survivor, updated_at=timezone.now()
    )
    record = MergeRecord.objects.create(
        survivor=survivor,
        merged_ids=ids,
        survivor_before=before,
        moved=log.moved,
        removed=log.removed,
        changed=log.changed,
        actor=actor if getattr(actor, "pk", None) else None,
        automatic=automatic,
        probability=probability,
    )
    actor_id = getattr(actor, "pk", None)
    CustomerHistory.objects.bulk_create(
        [
            CustomerHistory(
                customer=survivor,
                kind=HistoryKind.MERGED,
                actor_id=actor_id,
                data={
                    "merged_ids": ids,
                    "names": [d.full_name for d in dups],
                    "merge_id": record.pk,
                },
            )
        ]
        + [
            CustomerHistory(
                customer=d,
                kind=HistoryKind.MERGED_INTO,
                actor_id=actor_id,
                data={"survivor_id": survivor.pk, "merge_id": record.pk},
            )
            for d in dups
        ]
    )
    audit.record(
        actor,
        "customer.merged",
        survivor,
        before=before,
        after={"merged_ids": ids, "merge_id": record.pk},
    )
    changefeed.record("customer", ids, ChangeOp.MERGED, {"into": survivor.pk})
    changefeed.announce(survivor, ChangeOp.MERGED, merged_ids=ids)
    return record


def _restore(label: str, values: dict[str, Any]) -> None:
    model = apps.get_model(label)
    kwargs = {}
    for f in model._meta.concrete_fields:
        if f.attname in values:
            kwargs[f.attname] = (
                f.to_python(values[f.attname]) if values[f.attname] is not None else None
            )
    model._default_manager.create(**kwargs)


@transaction.atomic
def unmerge(*, merge: MergeRecord, actor: Any) -> Customer:
    """Undo a merge: every moved row goes back, removed rows return, changed rows are restored,
    the survivor gets its own profile back, and the merged records are active again."""
    merge = MergeRecord.objects.select_for_update().get(pk=merge.pk)
    if merge.undone_at is not None:
        raise Conflict(_("This merge was already undone."), "already_undone")
    for label, values in merge.removed:
        _restore(label, values)
    for label, pk, old in merge.changed:
        model = apps.get_model(label)
        fields = {f.attname: f for f in model._meta.concrete_fields}
        model._default_manager.filter(pk=pk).update(
            **{k: (fields[k].to_python(v) if v is not None else None) for k, v in old.items()}
        )
    groups: dict[tuple[str, str, int], list[Any]] = defaultdict(list)
    for label, field, pk, src in merge.moved:
        groups[(label, field, src)].append(pk)
    for (label, field, src), pks in groups.items():
        model = apps.get_model(label)
        column = _column(model, field)  # a foreign key's or a plain id's
        model._default_manager.filter(pk__in=pks).update(**{column: src})
    survivor = Customer.objects.select_for_update().get(pk=merge.survivor_id)
    fields = {f.attname: f for f in Customer._meta.concrete_fields}
    for k, v in merge.survivor_before.items():
        if k in ("id", "order_count", "total_spent", "first_purchase_at", "last_purchase_at"):
            continue
        setattr(survivor, k, fields[k].to_python(v) if v is not None else None)
    survivor.updated_at = timezone.now()
    survivor.save()
    Customer.objects.filter(pk__in=merge.merged_ids).update(
        status=RecordStatus.ACTIVE, merged_into=None, updated_at=timezone.now()
    )
    _refresh_derived([survivor.pk, *merge.merged_ids])
    merge.undone_at = timezone.now()
    merge.save(update_fields=["undone_at"])
    actor_id = getattr(actor, "pk", None)
    CustomerHistory.objects.bulk_create(
        [
            CustomerHistory(
                customer_id=cid,
                kind=HistoryKind.UNMERGED,
                actor_id=actor_id,
                data={
                    "merge_id": merge.pk,
                    "merged_ids": merge.merged_ids,
                    "survivor_id": merge.survivor_id,
                },
            )
            for cid in [survivor.pk, *merge.merged_ids]
        ]
    )
    audit.record(actor, "customer.unmerged", survivor, after={"merge_id": merge.pk})
    changefeed.record(
        "customer", merge.merged_ids, ChangeOp.UPDATED, {"unmerged_from": survivor.pk}
    )
    changefeed.announce(survivor, ChangeOp.UPDATED, event="customer.unmerged", merge_id=merge.pk)
    return survivor
