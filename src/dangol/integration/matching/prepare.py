"""Reading and normalising person records into the columns the matching model compares.

Input: any frame with some of ``given_name, family_name, full_name, birth_date, phone, email,
address, postal_code, gender`` (and optionally ``external_id``); missing columns and empty
values are nulls. Output: one row per record with ``unique_id`` and the derived comparison
columns listed in :data:`PREPARED_COLUMNS`. Everything is Polars expressions over the whole
frame; the only Python-level work is on *distinct* values that the vectorised fast paths
cannot settle (unusual phone or e-mail shapes, distinct birth dates for the lunar calendar).
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
from charset_normalizer import from_bytes

from dangol.core.normalize import REGION_SHORT  # long province names → the short form people type
from dangol.integration.matching import korean

INPUT_COLUMNS = (
    "given_name",
    "family_name",
    "full_name",
    "birth_date",
    "phone",
    "email",
    "address",
    "postal_code",
    "gender",
    "external_id",
)

PREPARED_COLUMNS = (
    "unique_id",
    "external_id",
    "fam",
    "giv",
    "name",
    "name_code",
    "name_code_gf",
    "fam_key",
    "giv_key",
    "name_key_fg",
    "name_key_gf",
    "giv_as_fam_key",
    "birth_date",
    "birth_date_swapped",
    "birth_date_from_lunar",
    "phone",
    "email",
    "email_local",
    "address",
    "address_street",
    "address_region",
    "postal_code",
    "postal_prefix",
    "gender",
)

COMPOUND_FAMILY_NAMES = ("남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방")


_GENDER = {
    "m": "M",
    "male": "M",
    "man": "M",
    "남": "M",
    "남자": "M",
    "남성": "M",
    "f": "F",
    "w": "F",
    "female": "F",
    "woman": "F",
    "여": "F",
    "여자": "F",
    "여성": "F",
    "1": "M",  # the 7th digit of a resident registration number
    "3": "M",
    "2": "F",
    "4": "F",
}

# Shapes settled without calling the library: a Korean 010 mobile number (any separators,
# optional +82), and a plain ASCII e-mail address. Everything else goes through
# dangol.core.normalize on its distinct values; tests check both paths agree.
_MOBILE_010 = r"^010[0-9]{8}$"
_PLAIN_EMAIL = (
    r"^[a-z0-9_+\-]+(\.[a-z0-9_+\-]+)*@[a-z0-9]([a-z0-9\-]*[a-z0-9])?"
    r"(\.[a-z0-9]([a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,}$"
)


class UnreadableFileError(ValueError):
    """The input file's text encoding could not be determined."""


def decode_bytes(raw: bytes) -> str:
    """Text of a file in UTF-8 (with or without BOM), CP949/EUC-KR or whatever
    charset-normalizer recognises."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp949")  # a superset of EUC-KR; the usual Korean Excel export
    except UnicodeDecodeError:
        pass
    best = from_bytes(raw).best()
    if best is None:
        raise UnreadableFileError("cannot determine the text encoding of the file")
    return str(best)


def read_records_csv(path: str | Path) -> pl.DataFrame:
    """Read a CSV of person records, every column as text, whatever its encoding."""
    text = decode_bytes(Path(path).read_bytes())
    return pl.read_csv(io.StringIO(text), infer_schema=False, truncate_ragged_lines=True)


def _text(column: str, present: set[str]) -> pl.Expr:
    """``column`` cleaned (NFC, inner white space folded, trimmed), empty → null."""
    if column not in present:
        return pl.lit(None, dtype=pl.String)
    cleaned = (
        pl.col(column)
        .cast(pl.String)
        .str.normalize("NFC")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    return pl.when(cleaned.str.len_chars() > 0).then(cleaned)


def _split_full_name(full: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(family, given) from a full name, as ``dangol.core.normalize.split_name`` does."""
    compact = full.str.replace_all(" ", "")
    hangul = compact.str.contains(r"^[가-힣]+$")
    spaced = full.str.contains(" ")
    parts = full.str.split(" ")
    compound = compact.str.slice(0, 2).is_in(list(COMPOUND_FAMILY_NAMES)) & (
        compact.str.len_chars() >= 3
    )
    family = (
        pl.when(hangul & spaced)
        .then(parts.list.first())
        .when(hangul & compound)
        .then(compact.str.slice(0, 2))
        .when(hangul & (compact.str.len_chars() > 1))
        .then(compact.str.slice(0, 1))
        .when(~hangul & spaced)
        .then(parts.list.last())
    )
    given = (
        pl.when(hangul & spaced)
        .then(parts.list.slice(1).list.join(""))
        .when(hangul & compound)
        .then(compact.str.slice(2))
        .when(hangul & (compact.str.len_chars() > 1))
        .then(compact.str.slice(1))
        .when(hangul)
        .then(compact)
        .when(spaced)
        .then(parts.list.slice(0, parts.list.len() - 1).list.join(" "))
        .otherwise(full)
    )
    return family, given


def _name_part(expr: pl.Expr) -> pl.Expr:
    """A name part lowercased without spaces, hyphens, dots or apostrophes; empty → null."""
    out = expr.str.to_lowercase().str.replace_all(r"[\s\-.'’·]", "")
    return pl.when(out.str.len_chars() > 0).then(out)


def _iso_date(expr: pl.Expr) -> pl.Expr:
    """YYYY-MM-DD from 1990-03-15, 1990.3.15, 1990/03/15 or 19900315; invalid → null."""
    parts = expr.str.extract_groups(r"^(\d{4})[-./ ]?(\d{1,2})[-./ ]?(\d{1,2})\.?$")
    built = pl.concat_str(
        parts.struct.field("1"),
        pl.lit("-"),
        parts.struct.field("2").str.zfill(2),
        pl.lit("-"),
        parts.struct.field("3").str.zfill(2),
    )
    swapped = pl.concat_str(
        parts.struct.field("1"),
        pl.lit("-"),
        parts.struct.field("3").str.zfill(2),
        pl.lit("-"),
        parts.struct.field("2").str.zfill(2),
    )
    # A month above 12 is a day typed first (15/03): read it the other way round.
    return pl.coalesce(
        built.str.to_date("%Y-%m-%d", strict=False),
        swapped.str.to_date("%Y-%m-%d", strict=False),
    ).dt.to_string("%Y-%m-%d")


def _normalize_phones(values: pl.Series) -> pl.Series:
    """E.164 of each phone (``dangol.core.normalize.normalize_phone``); invalid → null."""
    from dangol.core.normalize import NormalizationError, normalize_phone

    frame = pl.DataFrame({"raw": values}).with_columns(
        digits=pl.col("raw").str.replace_all(r"[\s\-.()]", "").str.replace(r"^\+?82-?0?", "0")
    )
    frame = frame.with_columns(
        fast=pl.when(pl.col("digits").str.contains(_MOBILE_010)).then(
            pl.lit("+82") + pl.col("digits").str.slice(1)
        )
    )
    rest = frame.filter(pl.col("fast").is_null() & pl.col("raw").is_not_null())["raw"].unique()
    slow: list[str | None] = []
    for raw in rest.to_list():  # distinct unusual values only
        try:
            slow.append(normalize_phone(raw).e164)
        except NormalizationError:
            slow.append(None)
    lookup = pl.DataFrame({"raw": rest, "slow": slow}, schema={"raw": pl.String, "slow": pl.String})
    joined = frame.join(lookup, on="raw", how="left", maintain_order="left")
    return joined.select(pl.coalesce("fast", "slow"))["fast"]


def _normalize_emails(values: pl.Series) -> pl.Series:
    """The match key of each e-mail (``dangol.core.normalize.email_match_key``); invalid →
    null."""
    from dangol.core.normalize import NormalizationError, email_match_key

    lowered = values.str.strip_chars().str.to_lowercase()
    frame = pl.DataFrame({"raw": values, "low": lowered}).with_columns(
        fast=pl.when(pl.col("low").str.contains(_PLAIN_EMAIL)).then(pl.col("low"))
    )
    rest = frame.filter(pl.col("fast").is_null() & pl.col("raw").is_not_null())["raw"].unique()
    slow: list[str | None] = []
    for raw in rest.to_list():  # distinct unusual values only
        try:
            slow.append(email_match_key(raw))
        except NormalizationError:
            slow.append(None)
    lookup = pl.DataFrame({"raw": rest, "slow": slow}, schema={"raw": pl.String, "slow": pl.String})
    joined = frame.join(lookup, on="raw", how="left", maintain_order="left")
    return joined.select(pl.coalesce("fast", "slow"))["fast"]


def _non_empty(expr: pl.Expr) -> pl.Expr:
    """``expr`` with empty strings as null."""
    return pl.when(expr.str.len_chars() > 0).then(expr)


def _address(expr: pl.Expr) -> pl.Expr:
    """An address in one spelling: short region names, no punctuation, lowercase."""
    out = expr.str.to_lowercase().str.replace_all(r"[,()#\"']", " ")
    out = out.str.replace_many(list(REGION_SHORT), list(REGION_SHORT.values()))
    out = out.str.replace(r"^(서울|부산|대구|인천|광주|대전|울산|세종)시(\s)", "$1$2")
    out = out.str.replace_all(r"\s+", " ").str.strip_chars()
    return pl.when(out.str.len_chars() > 0).then(out)


def prepare_records(records: pl.DataFrame, *, id_column: str) -> pl.DataFrame:
    """The comparison columns of ``records`` (see the module docstring); ``unique_id`` is the
    ``id_column`` as text. Raises ``KeyError`` if ``id_column`` is missing and ``ValueError``
    if it is empty or not unique."""
    if id_column not in records.columns:
        raise KeyError(f"id column {id_column!r} is not in the records")
    ids = records[id_column].cast(pl.String)
    if ids.null_count():
        raise ValueError(f"id column {id_column!r} has empty values")
    if ids.n_unique() != len(ids):
        raise ValueError(f"id column {id_column!r} has repeated values")
    present = set(records.columns)
    base = records.select(
        unique_id=ids,
        external_id=_text("external_id", present),
        family_raw=_text("family_name", present),
        given_raw=_text("given_name", present),
        full_raw=_text("full_name", present),
        birth_raw=_text("birth_date", present),
        phone_raw=_text("phone", present),
        email_raw=_text("email", present),
        address_raw=_text("address", present),
        postal_raw=_text("postal_code", present),
        gender_raw=_text("gender", present),
    )
    split_family, split_given = _split_full_name(pl.col("full_raw"))
    out = base.with_columns(
        fam=_name_part(pl.coalesce("family_raw", split_family)),
        giv=_name_part(
            pl.when(pl.col("family_raw").is_null() & pl.col("given_raw").is_null())
            .then(split_given)
            .otherwise(pl.col("given_raw"))
        ),
        birth_date=_iso_date(pl.col("birth_raw")),
        phone=_normalize_phones(base["phone_raw"]),
        email=_normalize_emails(base["email_raw"]),
        address=_address(pl.col("address_raw")),
        postal_code=pl.col("postal_raw").str.replace_all(r"[^0-9]", ""),
        gender=pl.col("gender_raw")
        .str.to_lowercase()
        .replace_strict(_GENDER, default=None, return_dtype=pl.String),
    )
    out = out.with_columns(
        name=pl.concat_str("fam", "giv", ignore_nulls=True),
        fam_key=korean.sound_key(pl.col("fam"), family=True),
        giv_key=korean.sound_key(pl.col("giv")),
        giv_as_fam_key=korean.sound_key(pl.col("giv"), family=True),
        fam_as_giv_key=korean.sound_key(pl.col("fam")),
        birth_date_swapped=pl.when(
            pl.col("birth_date").str.slice(5, 2) != pl.col("birth_date").str.slice(8, 2)
        ).then(
            pl.concat_str(
                pl.col("birth_date").str.slice(0, 5),
                pl.col("birth_date").str.slice(8, 2),
                pl.lit("-"),
                pl.col("birth_date").str.slice(5, 2),
            )
            .str.to_date("%Y-%m-%d", strict=False)
            .dt.to_string("%Y-%m-%d")
        ),
        email_local=pl.col("email").str.split("@").list.first(),
        address_street=pl.col("address").str.split(" ").list.slice(0, 4).list.join(" "),
        address_region=pl.col("address").str.split(" ").list.slice(0, 2).list.join(" "),
        postal_code=pl.when(pl.col("postal_code").str.len_chars().is_between(5, 6)).then(
            pl.col("postal_code")
        ),
    )
    out = out.with_columns(
        name=pl.when(pl.col("name").str.len_chars() > 0).then(pl.col("name")),
        name_code=korean.jamo_code(pl.col("name")),
        name_code_gf=korean.jamo_code(
            pl.when(pl.col("fam").is_not_null() & pl.col("giv").is_not_null()).then(
                pl.concat_str("giv", "fam")
            )
        ),
        name_key_fg=_non_empty(pl.concat_str("fam_key", "giv_key", ignore_nulls=True)),
        name_key_gf=_non_empty(
            pl.concat_str("giv_as_fam_key", "fam_as_giv_key", ignore_nulls=True)
        ),
        postal_prefix=pl.col("postal_code").str.slice(0, 3),
    )
    lunar = korean.lunar_to_solar_table(out["birth_date"])
    out = out.join(lunar, on="birth_date", how="left", maintain_order="left")
    return out.select(PREPARED_COLUMNS)
