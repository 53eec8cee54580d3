"""Set-based reads of the customer base into Polars frames.

One query per table (customers, contact points, addresses, external ids), streamed from the
database cursor in blocks, joined in Polars: no per-customer Python work and no per-customer
queries, whatever the size of the base.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from django.db.models import QuerySet

from dangol.customers.models import Address, ContactKind, ContactPoint, Customer, ExternalId

BLOCK = 50_000

CUSTOMER_SCHEMA: dict[str, Any] = {
    "id": pl.Int64,
    "family_name": pl.String,
    "given_name": pl.String,
    "full_name": pl.String,
    "birth_date": pl.Date,
    "birth_date_is_lunar": pl.Boolean,
    "gender": pl.String,
    "region": pl.String,
    "source": pl.String,
    "updated_at": pl.Datetime("us", "UTC"),
    "last_purchase_at": pl.Datetime("us", "UTC"),
}
CONTACT_SCHEMA: dict[str, Any] = {
    "customer_id": pl.Int64,
    "kind": pl.String,
    "normalized": pl.String,
    "match_key": pl.String,
    "is_legacy": pl.Boolean,
    "is_primary": pl.Boolean,
    "cp_id": pl.Int64,
}
ADDRESS_SCHEMA: dict[str, Any] = {
    "customer_id": pl.Int64,
    "line1": pl.String,
    "postal_code": pl.String,
    "address_region": pl.String,
    "is_primary": pl.Boolean,
    "address_id": pl.Int64,
}


def read_frame(rows: Iterable[Sequence[Any]], schema: dict[str, Any]) -> pl.DataFrame:
    """A frame from a stream of row tuples, built block by block (bounded Python memory)."""
    frames: list[pl.DataFrame] = []
    block: list[Sequence[Any]] = []
    for row in rows:
        block.append(row)
        if len(block) >= BLOCK:
            frames.append(pl.DataFrame(block, schema=schema, orient="row"))
            block = []
    if block or not frames:
        frames.append(pl.DataFrame(block, schema=schema, orient="row"))
    return pl.concat(frames, how="vertical")


def customers(qs: QuerySet[Customer]) -> pl.DataFrame:
    """The profile columns of ``qs`` (see ``CUSTOMER_SCHEMA``)."""
    rows = qs.order_by().values_list(*CUSTOMER_SCHEMA).iterator(chunk_size=BLOCK)
    return read_frame(rows, CUSTOMER_SCHEMA)


def contacts(qs: QuerySet[Customer]) -> pl.DataFrame:
    """Every phone and e-mail contact point of the customers of ``qs``."""
    rows = (
        ContactPoint.objects.filter(
            customer_id__in=qs.order_by().values("pk"),
            kind__in=[ContactKind.MOBILE, ContactKind.PHONE, ContactKind.EMAIL],
        )
        .order_by()
        .values_list(
            "customer_id", "kind", "normalized", "match_key", "is_legacy", "is_primary", "id"
        )
        .iterator(chunk_size=BLOCK)
    )
    return read_frame(rows, CONTACT_SCHEMA)


def addresses(qs: QuerySet[Customer]) -> pl.DataFrame:
    """Every address of the customers of ``qs``."""
    rows = (
        Address.objects.filter(customer_id__in=qs.order_by().values("pk"))
        .order_by()
        .values_list("customer_id", "line1", "postal_code", "region", "is_primary", "id")
        .iterator(chunk_size=BLOCK)
    )
    return read_frame(rows, ADDRESS_SCHEMA)


def first_per_customer(frame: pl.DataFrame, id_column: str) -> pl.DataFrame:
    """The primary row of each customer, else the oldest."""
    return frame.sort(
        ["customer_id", "is_primary", id_column], descending=[False, True, False]
    ).unique("customer_id", keep="first", maintain_order=True)


def matching_frame(
    qs: QuerySet[Customer], *, shared_id_sources: Sequence[str] = ()
) -> pl.DataFrame:
    """The customers of ``qs`` in the columns the matching engine reads
    (``matching.INPUT_COLUMNS``): name parts, birth date, gender, the primary mobile (else
    phone) and e-mail match keys, the primary address and postal code,
    and a person id shared across ``shared_id_sources``."""
    base = customers(qs)
    points = contacts(qs)
    phones = first_per_customer(
        points.filter(pl.col("kind").is_in([ContactKind.MOBILE.value, ContactKind.PHONE.value]))
        # a mobile number beats a landline, whatever is primary
        .with_columns(is_primary=pl.col("kind") == ContactKind.MOBILE.value),
        "cp_id",
    ).select("customer_id", phone=pl.col("match_key"))
    emails = first_per_customer(
        points.filter(pl.col("kind") == ContactKind.EMAIL.value), "cp_id"
    ).select("customer_id", email=pl.col("match_key"))
    address = first_per_customer(addresses(qs), "address_id").select(
        "customer_id", address="line1", postal_code="postal_code"
    )
    out = (
        base.join(phones, left_on="id", right_on="customer_id", how="left")
        .join(emails, left_on="id", right_on="customer_id", how="left")
        .join(address, left_on="id", right_on="customer_id", how="left")
    )
    if shared_id_sources:
        ext = read_frame(
            ExternalId.objects.filter(
                customer_id__in=qs.order_by().values("pk"), source__in=list(shared_id_sources)
            )
            .order_by()
            .values_list("customer_id", "key")
            .iterator(chunk_size=BLOCK),
            {"customer_id": pl.Int64, "external_id": pl.String},
        )
        ext = ext.group_by("customer_id").agg(pl.col("external_id").min())
        out = out.join(ext, left_on="id", right_on="customer_id", how="left")
    else:
        out = out.with_columns(external_id=pl.lit(None, dtype=pl.String))
    return out.select(
        "id",
        "family_name",
        "given_name",
        "full_name",
        birth_date=pl.col("birth_date").dt.to_string("%Y-%m-%d"),
        gender=pl.when(pl.col("gender").is_in(["M", "F"])).then("gender"),
        phone="phone",
        email="email",
        address="address",
        postal_code="postal_code",
        external_id="external_id",
    )
