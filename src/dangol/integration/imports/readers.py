"""Streaming readers: CSV, XLSX, JSON Lines and vCard, one row at a time with its line number.

Nothing reads the whole file: CSV and JSON Lines are decoded incrementally, XLSX is read with
openpyxl's read-only (streaming) mode, vCards are parsed card by card. The encoding of text files
is detected from the first 64 KiB: a UTF-8 BOM, valid UTF-8, or what charset-normalizer finds
(CP949 — the superset of EUC-KR that Korean Excel writes — when it says EUC-KR).

Each reader yields ``Record(line, raw, values)``: ``raw`` is the row as read (a list of cells,
a JSON object or a vCard's text), which is what the rejected-rows download writes back.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from charset_normalizer import from_bytes
from django.utils.translation import gettext_lazy as _

from dangol.core.errors import ValidationFailed
from dangol.integration.models import ImportFormat

SNIFF_BYTES = 64 * 1024
KOREAN_LEGACY = {"euc_kr", "euc-kr", "cp949", "uhc", "ks_c_5601-1987", "johab", "iso2022_kr"}


class Record:
    """One row of the file: its (first) line number, the row as read, and values by column.

    A CSV record keeps only its cells and the header; ``values`` (``{column: text}``, the
    last of duplicate headers winning, short rows padded with blanks) is built on first use,
    since the pipeline reads the chunk's columns straight from the cells (``column_of``)."""

    __slots__ = ("_header", "_values", "line", "raw")

    def __init__(
        self,
        line: int,
        raw: Any,
        values: dict[str, str] | None = None,
        header: list[str] | None = None,
    ) -> None:
        self.line = line
        self.raw = raw
        self._values = values
        self._header = header

    @property
    def values(self) -> dict[str, str]:
        if self._values is None:
            header, cells = self._header or [], self.raw
            if len(cells) < len(header):
                cells = cells + [""] * (len(header) - len(cells))
            self._values = dict(zip(header, cells, strict=False))
        return self._values

    @property
    def invalid(self) -> bool:
        """A line that is not a record at all (JSON Lines: not a JSON object)."""
        return self._values is not None and "__invalid__" in self._values

    def __repr__(self) -> str:
        return f"Record(line={self.line!r}, raw={self.raw!r})"


def column_of(records: list[Record], column: str) -> list[str]:
    """The texts of one column for a list of records (blank where a row lacks it): read from
    the cells of CSV records, from ``values`` otherwise."""
    if not records:
        return []
    header = records[0]._header
    if header is not None and all(r._header is header for r in records):
        matches = [i for i, h in enumerate(header) if h == column]
        if not matches:
            return [""] * len(records)
        i = matches[-1]  # as dict(zip(header, cells)): the last duplicate wins
        width = i + 1
        return [cells[i] if len(cells) >= width else "" for cells in (r.raw for r in records)]
    return [r.values.get(column, "") for r in records]


def detect_format(name: str) -> str:
    """The format from the file name's extension."""
    lower = name.lower()
    for ext, fmt in (
        (".xlsx", ImportFormat.XLSX),
        (".jsonl", ImportFormat.JSONL),
        (".ndjson", ImportFormat.JSONL),
        (".vcf", ImportFormat.VCARD),
        (".vcard", ImportFormat.VCARD),
        (".csv", ImportFormat.CSV),
        (".tsv", ImportFormat.CSV),
        (".txt", ImportFormat.CSV),
    ):
        if lower.endswith(ext):
            return str(fmt)
    if lower.endswith(".xls"):  # Excel 97–2003, or an HTML table some web admin tools name so
        raise ValidationFailed.single(
            "file",
            "unsupported_format",
            _(
                "Old Excel files (.xls) cannot be read. Open the file in Excel and save it as an "
                "Excel workbook (.xlsx) or as CSV, then upload that."
            ),
        )
    raise ValidationFailed.single(
        "file", "unsupported_format", _("Upload a CSV, XLSX, JSON Lines or vCard file.")
    )


def detect_encoding(sample: bytes) -> str:
    """``utf-8-sig`` (BOM), ``utf-8`` or the legacy encoding charset-normalizer finds."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _reads_as_korean(sample):
        return "cp949"
    best = from_bytes(sample).best()
    name = (best.encoding if best is not None else "cp949").lower()
    return "cp949" if name in KOREAN_LEGACY or best is None else name


def _reads_as_korean(sample: bytes) -> bool:
    """Whether `sample` is valid CP949 holding Hangul syllables: what Korean Excel writes.

    Checked before charset-normalizer, whose guess on a short Korean text (a header row of
    회원번호, 이름 … above rows of digits and ASCII) can be a Latin code page."""
    try:
        text = codecs.getincrementaldecoder("cp949")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


class _Counting(io.RawIOBase):
    """Wraps a binary file and counts the bytes read (the job's byte progress)."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.f.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n


def _text(f: IO[bytes], encoding: str) -> tuple[io.TextIOWrapper, _Counting]:
    counter = _Counting(f)
    buffered = io.BufferedReader(counter, buffer_size=1 << 20)
    return io.TextIOWrapper(buffered, encoding=encoding, newline="", errors="strict"), counter


class Reader:
    """Iterates the records of one file; ``header`` is known after the first record is read."""

    def __init__(self, f: IO[bytes], fmt: str, encoding: str = "") -> None:
        self.f = f
        self.format = fmt
        self.encoding = encoding
        self.header: list[str] = []
        self.delimiter = ","
        self._counter: _Counting | None = None
        if fmt in (ImportFormat.CSV, ImportFormat.JSONL, ImportFormat.VCARD) and not encoding:
            pos = f.tell()
            sample = f.read(SNIFF_BYTES)
            f.seek(pos)
            self.encoding = detect_encoding(sample)

    @property
    def bytes_read(self) -> int:
        return self._counter.count if self._counter is not None else 0

    def __iter__(self) -> Iterator[Record]:
        try:
            if self.format == ImportFormat.CSV:
                yield from self._csv()
            elif self.format == ImportFormat.JSONL:
                yield from self._jsonl()
            elif self.format == ImportFormat.XLSX:
                yield from self._xlsx()
            elif self.format == ImportFormat.VCARD:
                yield from self._vcard()
            else:
                raise ValidationFailed.single("format", "invalid_choice", _("Unknown format."))
        except UnicodeDecodeError:
            raise ValidationFailed.single(
                "encoding",
                "decode_failed",
                _(
                    "The file cannot be read as %(enc)s text. Choose the file's encoding, or "
                    "check that it is a CSV, Excel, JSON Lines or vCard file."
                )
                % {"enc": self.encoding},
            ) from None

    # --- CSV ----------------------------------------------------------------------------------

    def _csv(self) -> Iterator[Record]:
        text, self._counter = _text(self.f, self.encoding)
        first = text.readline()
        self.delimiter = max(",\t;|", key=first.count) if first else ","
        rows = csv.reader(io.StringIO(first), delimiter=self.delimiter)
        self.header = [h.strip() for h in next(rows, [])]
        reader = csv.reader(text, delimiter=self.delimiter)
        header = self.header
        end = 1
        for row in reader:
            line = end + 1
            end = reader.line_num + 1
            if len(row) <= 1 and (not row or not row[0].strip()):
                continue
            yield Record(line, row, None, header)

    # --- JSON Lines ---------------------------------------------------------------------------

    def _jsonl(self) -> Iterator[Record]:
        text, self._counter = _text(self.f, self.encoding)
        seen: dict[str, None] = {}
        for number, line in enumerate(text, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if not isinstance(obj, dict):
                yield Record(number, line.rstrip("\r\n"), {"__invalid__": "json"})
                continue
            for key in obj:
                if key not in seen:
                    seen[key] = None
                    self.header.append(key)
            yield Record(number, obj, {k: _cell(v) for k, v in obj.items()})

    # --- XLSX ---------------------------------------------------------------------------------

    def _xlsx(self) -> Iterator[Record]:
        from openpyxl import load_workbook

        counter = _Counting(self.f)
        self._counter = counter
        wb = load_workbook(self.f, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            rows = ws.iter_rows(values_only=True)
            first = next(rows, None)
            self.header = [str(c).strip() if c is not None else "" for c in first or ()]
            header = self.header
            for number, row in enumerate(rows, start=2):
                cells = [_cell(c) for c in row]
                if not any(c.strip() for c in cells):
                    continue
                yield Record(number, cells, dict(zip(header, cells, strict=False)))
        finally:
            wb.close()

    # --- vCard --------------------------------------------------------------------------------

    def _vcard(self) -> Iterator[Record]:
        text, self._counter = _text(self.f, self.encoding)
        self.header = list(VCARD_COLUMNS)
        card: list[str] = []
        start = 0
        for number, physical in enumerate(text, start=1):
            line = physical.rstrip("\r\n")
            if line[:1] in (" ", "\t") and card:
                card[-1] += line[1:]  # folded line
                continue
            upper = line.strip().upper()
            if upper == "BEGIN:VCARD":
                card, start = [line], number
            elif upper == "END:VCARD" and card:
                card.append(line)
                yield Record(start, "\r\n".join(card) + "\r\n", parse_vcard(card))
                card = []
            elif card:
                card.append(line)


def stored_record(fmt: str, header: list[str], line: int, raw: Any) -> Record:
    """A stored rejected row (``ImportRowError.raw``) as the reader yielded it: cells under the
    file's header (CSV, XLSX), a JSON object, or a vCard's text."""
    if fmt == ImportFormat.JSONL:
        return Record(line, raw, {k: _cell(v) for k, v in raw.items()})
    if fmt == ImportFormat.VCARD:
        return Record(line, raw, parse_vcard(raw.split("\r\n")))
    return Record(line, raw, None, header)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ") if value.time() != datetime.time() else str(value.date())
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# --- vCard 3.0 / 4.0 -------------------------------------------------------------------------

VCARD_COLUMNS = (
    "uid",
    "full_name",
    "family_name",
    "given_name",
    "mobile",
    "phone",
    "email",
    "organization",
    "title",
    "birth_date",
    "address",
    "postal_code",
    "note",
)
_ESCAPES = re.compile(r"\\([\\;,nN])")


def _unescape(value: str) -> str:
    return _ESCAPES.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _split(value: str, sep: str) -> list[str]:
    parts = re.split(rf"(?<!\\){re.escape(sep)}", value)
    return [_unescape(p).strip() for p in parts]


def parse_vcard(lines: list[str]) -> dict[str, str]:
    """The fields of one card that matter: FN, N, TEL (CELL first), EMAIL, ORG, TITLE, BDAY,
    ADR, NOTE, UID. Groups (``item1.TEL``) and parameters (``TYPE=cell``) are understood."""
    out = dict.fromkeys(VCARD_COLUMNS, "")
    phones: list[tuple[bool, str]] = []
    for line in lines:
        name_part, sep, value = line.partition(":")
        if not sep:
            continue
        name, *params = name_part.split(";")
        name = name.rsplit(".", 1)[-1].upper()
        types = ",".join(p.split("=", 1)[-1] for p in params).lower()
        if name == "FN":
            out["full_name"] = _unescape(value).strip()
        elif name == "N":
            parts = [*_split(value, ";"), "", ""]
            out["family_name"], out["given_name"] = parts[0], " ".join(p for p in parts[1:3] if p)
        elif name == "TEL":
            number = value.strip()
            number = number[4:] if number.lower().startswith("tel:") else number
            phones.append(("cell" in types or "mobile" in types, number))
        elif name == "EMAIL" and not out["email"]:
            out["email"] = value.strip()
        elif name == "ORG":
            out["organization"] = _split(value, ";")[0]
        elif name == "TITLE":
            out["title"] = _unescape(value).strip()
        elif name == "BDAY":
            out["birth_date"] = value.strip()
        elif name == "ADR" and not out["address"]:
            parts = [*_split(value, ";"), "", "", "", "", "", "", ""]
            # PO box; extended; street; locality; region; postal code; country
            out["address"] = " ".join(p for p in (parts[4], parts[3], parts[2], parts[1]) if p)
            out["postal_code"] = parts[5]
        elif name == "NOTE":
            out["note"] = _unescape(value).strip()
        elif name == "UID":
            out["uid"] = value.strip()
    cells = [n for is_cell, n in phones if is_cell]
    others = [n for is_cell, n in phones if not is_cell]
    if cells:
        out["mobile"] = cells[0]
        out["phone"] = others[0] if others else ""
    elif others:
        out["mobile"] = others[0]
        out["phone"] = others[1] if len(others) > 1 else ""
    return out


# --- writing rows back (the rejected-rows download) -----------------------------------------


def write_rows(
    fmt: str,
    header: list[str],
    raws: Iterator[Any],
    out: IO[bytes],
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> None:
    """Write rows as read back in the file's own format (and, for text, its encoding)."""
    if fmt == ImportFormat.XLSX:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet()
        ws.append(header)
        for raw in raws:
            ws.append(list(raw))
        wb.save(out)
        return
    enc = encoding or "utf-8"
    text = io.TextIOWrapper(out, encoding=enc, newline="", write_through=True)
    try:
        if fmt == ImportFormat.CSV:
            w = csv.writer(text, delimiter=delimiter, lineterminator="\r\n")
            w.writerow(header)
            for raw in raws:
                w.writerow(raw)
        elif fmt == ImportFormat.JSONL:
            for raw in raws:
                text.write(
                    (raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)) + "\n"
                )
        else:  # vCard
            for raw in raws:
                text.write(raw)
        text.flush()
    finally:
        text.detach()
