"""Streaming readers: CSV, Excel, JSON Lines and vCard, one row at a time with its line number.

CSV and JSON Lines are decoded incrementally, XLSX is read with openpyxl's read-only (streaming)
mode, vCards are parsed card by card. The encoding of text files is detected from the first
64 KiB: a UTF-8 BOM, valid UTF-8, or what charset-normalizer finds (CP949 — the superset of
EUC-KR that Korean Excel writes — when it says EUC-KR).

An Excel file (format ``xlsx``, whatever its name ends with) is read by what its first bytes
are: a ZIP (XLSX) through openpyxl; an OLE2 compound file (Excel 97–2003, BIFF) through xlrd,
which loads the whole first sheet (BIFF cannot be streamed; a sheet holds at most 65,536 rows);
an HTML table, which Korean web back-offices and POS consoles save under an ``.xls`` name, fed
in chunks to the standard library's ``html.parser``; and SpreadsheetML (Excel 2003 XML)
through ``ElementTree.iterparse``. All of them yield records as the XLSX reader does.

Each reader yields ``Record(line, raw, values)``: ``raw`` is the row as read (a list of cells,
a JSON object or a vCard's text), which is what the rejected-rows download writes back.
"""

from __future__ import annotations

import codecs
import collections
import csv
import datetime
import io
import itertools
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import IO, Any

import xlrd
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
    """The format from the file name's extension. ``.xls`` is Excel too: the reader tells an
    XLSX, an Excel 97–2003 workbook and a table saved as a web page apart by their bytes."""
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
    if lower.endswith(".xls"):  # Excel 97–2003, an HTML table or SpreadsheetML: see excel_kind
        return str(ImportFormat.XLSX)
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


OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97–2003 (BIFF) and other Office files
ZIP_SIGNATURE = b"PK"
_LEADING = re.compile(r"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)  # blanks, <?xml …?>, comments
_HTML_START = re.compile(r"<(?:!doctype\s+html|html|head|meta|body|table|title|style)\b", re.I)
_XML_WORKBOOK = re.compile(r"<(?:\w+:)?Workbook\b")
_META_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)|<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)""",
    re.I,
)
KOREAN_CHARSETS = KOREAN_LEGACY | {"ks_c_5601", "x-windows-949", "windows-949", "ms949", "korean"}


class ExcelKind:
    """What an Excel file's bytes are (``excel_kind``)."""

    XLSX = "xlsx"  # Office Open XML: a ZIP
    BIFF = "xls"  # Excel 97–2003 in an OLE2 compound file
    HTML = "html"  # a table saved as a web page under an .xls name
    XML = "xml"  # SpreadsheetML, Excel 2003's XML
    UNKNOWN = ""


def _head_text(head: bytes) -> str:
    """The start of a file as text, enough to see its first tag: UTF-16 by its BOM, else
    Latin-1 (the tags of UTF-8, CP949 and EUC-KR files are ASCII)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head[:4096].decode("utf-16", errors="replace").lstrip("\ufeff")
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    return head[:4096].decode("latin-1")


def excel_kind(head: bytes) -> str:
    """An Excel file's kind from its first bytes (not its name): the OLE2 signature, a ZIP, an
    HTML document or table, or an Excel 2003 XML workbook (after an optional BOM, blanks, the
    XML declaration and comments; tags case-insensitive)."""
    if head.startswith(OLE2_SIGNATURE):
        return ExcelKind.BIFF
    if head.startswith(ZIP_SIGNATURE):
        return ExcelKind.XLSX
    text = _head_text(head)
    leading = _LEADING.match(text)
    rest = text[leading.end() :] if leading is not None else text
    if _XML_WORKBOOK.match(rest):
        return ExcelKind.XML
    if _HTML_START.match(rest):
        return ExcelKind.HTML
    return ExcelKind.UNKNOWN


def html_encoding(head: bytes) -> str:
    """The encoding of an HTML table: its BOM, else the ``<meta charset>`` (or ``http-equiv``
    content type, or XML declaration) when the bytes decode in it, else what ``detect_encoding``
    finds for CSV. EUC-KR and its aliases are read as CP949, their superset."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    m = _META_CHARSET.search(head)
    if m is not None:
        declared = (m.group(1) or m.group(2)).decode("ascii").lower()
        name = "cp949" if declared in KOREAN_CHARSETS else declared
        try:
            codecs.getincrementaldecoder(name)().decode(head, final=False)
        except (LookupError, UnicodeDecodeError):
            pass  # an unknown or wrong declaration: detect
        else:
            return "utf-8" if codecs.lookup(name).name == "utf-8" else name
    return detect_encoding(head)


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
        self.kind = ""  # an Excel file's kind (ExcelKind), once read
        self._counter: _Counting | None = None
        self._bytes = 0  # bytes read, where no _Counting sees them (an .xls: estimated)
        if fmt in (ImportFormat.CSV, ImportFormat.JSONL, ImportFormat.VCARD) and not encoding:
            pos = f.tell()
            sample = f.read(SNIFF_BYTES)
            f.seek(pos)
            self.encoding = detect_encoding(sample)

    @property
    def bytes_read(self) -> int:
        return self._counter.count if self._counter is not None else self._bytes

    def __iter__(self) -> Iterator[Record]:
        try:
            if self.format == ImportFormat.CSV:
                yield from self._csv()
            elif self.format == ImportFormat.JSONL:
                yield from self._jsonl()
            elif self.format == ImportFormat.XLSX:
                yield from self._excel()
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
            ws = wb.worksheets[0]  # its rows from row 1, blank ones included
            yield from self._sheet_rows(
                (number, list(row))
                for number, row in enumerate(ws.iter_rows(values_only=True), start=1)
            )
        finally:
            wb.close()

    # --- Excel 97–2003, HTML tables and SpreadsheetML under an Excel name -------------------------

    def _excel(self) -> Iterator[Record]:
        pos = self.f.tell()
        head = self.f.read(SNIFF_BYTES)
        self.f.seek(pos)
        self.kind = excel_kind(head)
        if self.kind != ExcelKind.HTML:
            self.encoding = ""  # a workbook carries its own; only an HTML table is read as text
        if self.kind == ExcelKind.BIFF:
            yield from self._xls()
        elif self.kind == ExcelKind.HTML:
            yield from self._html(head)
        elif self.kind == ExcelKind.XML:
            yield from self._spreadsheetml()
        elif self.kind == ExcelKind.UNKNOWN and _named_xls(self.f):
            raise ValidationFailed.single("file", "unsupported_format", NOT_AN_XLS)
        else:  # a ZIP, or anything else under another name: openpyxl says what is wrong
            yield from self._xlsx()

    def _sheet_rows(self, rows: Iterator[tuple[int, list[Any]]]) -> Iterator[Record]:
        """Records from ``(sheet row number, cell values)`` as the XLSX reader makes them: the
        values of sheet row 1 are the header (none when the sheet starts lower), blank rows are
        skipped, cells are text (``_cell``)."""
        first = next(rows, None)
        values = first[1] if first is not None and first[0] == 1 else []
        self.header = [str(c).strip() if c is not None else "" for c in values]
        header = self.header
        pending = [first] if first is not None and first[0] != 1 else []
        for number, row in itertools.chain(pending, rows):
            cells = [_cell(c) for c in row]
            if not any(c.strip() for c in cells):
                continue
            yield Record(number, cells, dict(zip(header, cells, strict=False)))

    def _xls(self) -> Iterator[Record]:
        """The first sheet of an Excel 97–2003 workbook. xlrd reads the whole file (BIFF cannot
        be streamed; a sheet holds at most 65,536 rows); only the first sheet is parsed
        (``on_demand``) and xlrd's copy of the file is released once it is. Progress is
        estimated from the rows done."""
        data = self.f.read()
        size = len(data)
        try:
            book = xlrd.open_workbook(
                file_contents=data,
                on_demand=True,  # parse the first sheet only
                logfile=io.StringIO(),  # xlrd's warnings are not for the user
                ignore_workbook_corruption=True,  # as Excel, open what some exporters write
            )
            sheet = book.sheet_by_index(0)
        except Exception as exc:  # xlrd raises many kinds on a damaged, foreign or locked file
            raise ValidationFailed.single(
                "file", "unreadable", XLS_UNREADABLE % {"error": exc}
            ) from None
        datemode = book.datemode
        book.release_resources()
        del data

        def rows() -> Iterator[tuple[int, list[Any]]]:
            nrows, types, values = sheet.nrows, sheet.row_types, sheet.row_values
            for rowx in range(nrows):
                self._bytes = size * (rowx + 1) // nrows
                yield (
                    rowx + 1,
                    [
                        _xls_value(t, v, datemode)
                        for t, v in zip(types(rowx), values(rowx), strict=True)
                    ],
                )

        yield from self._sheet_rows(rows())

    def _html(self, head: bytes) -> Iterator[Record]:
        """The first ``<table>`` of an HTML file, fed to the parser 64 KiB at a time; reading
        stops at its end. A row's number is its place among the table's rows (what Excel shows
        when it opens the file)."""
        if not self.encoding:
            self.encoding = html_encoding(head)
        counter = _Counting(self.f)
        self._counter = counter
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        parser = _TableParser()

        def rows() -> Iterator[tuple[int, list[Any]]]:
            while not parser.finished:
                data = counter.read(SNIFF_BYTES)
                parser.feed(decoder.decode(data, final=not data))
                if not data:
                    parser.close()
                while parser.rows:
                    yield parser.rows.popleft()
                if not data:
                    break

        yield from self._sheet_rows(rows())

    def _spreadsheetml(self) -> Iterator[Record]:
        """The first worksheet of an Excel 2003 XML workbook, parsed incrementally: each row is
        dropped from the tree once read."""
        from xml.etree.ElementTree import ParseError, iterparse

        counter = _Counting(self.f)
        self._counter = counter
        source = io.BufferedReader(counter, buffer_size=SNIFF_BYTES)

        def rows() -> Iterator[tuple[int, list[Any]]]:
            table = None
            number = 0
            # excel_kind sends here only a file whose root element follows nothing but the XML
            # declaration, processing instructions and comments: no DOCTYPE, so no entity can be
            # declared (expat >= 2.4.1 bounds expansion anyway), and ElementTree fetches nothing.
            for event, elem in iterparse(source, events=("start", "end")):  # noqa: S314
                if event == "start":
                    if elem.tag == _SS + "Table" and table is None:
                        table = elem
                    continue
                if elem.tag == _SS + "Worksheet":
                    return  # the first sheet only
                if elem.tag != _SS + "Row" or table is None:
                    continue
                index = elem.get(_SS + "Index")
                number = int(index) if index and index.isdigit() else number + 1
                yield number, _xml_row(elem)
                span = elem.get(_SS + "Span", "")  # as many empty rows below
                number += int(span) if span.isdigit() else 0
                table.remove(elem)

        try:
            yield from self._sheet_rows(rows())
        except ParseError as exc:
            raise ValidationFailed.single(
                "file", "unreadable", XML_UNREADABLE % {"error": exc}
            ) from None

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


# --- Excel 97–2003, HTML tables, SpreadsheetML ----------------------------------------------

NOT_AN_XLS = _(
    "This .xls file is neither an Excel 97–2003 workbook nor a table saved as a web page, so it "
    "cannot be read. Open it in Excel and save it as an Excel workbook (.xlsx) or as CSV, then "
    "upload that."
)
XLS_UNREADABLE = _(
    "This Excel 97–2003 file (.xls) cannot be read (%(error)s). If it is protected with a "
    "password, remove the password in Excel; otherwise open it in Excel and save it as an "
    "Excel workbook (.xlsx) or as CSV, then upload that."
)
XML_UNREADABLE = _(
    "This Excel 2003 XML file cannot be read (%(error)s). Open it in Excel and save it as an "
    "Excel workbook (.xlsx) or as CSV, then upload that."
)
MAX_COLUMNS = 16_384  # Excel's widest sheet: bounds a colspan, ss:Index or ss:MergeAcross
MAX_ROWSPAN = 65_534  # HTML's limit
_SS = "{urn:schemas-microsoft-com:office:spreadsheet}"
_EXCEL_TIME_DATE = datetime.date(1899, 12, 31)  # the day SpreadsheetML gives a time of day


def _named_xls(f: Any) -> bool:
    """Whether the open file's name ends with .xls (an upload's original name, a stored job
    file's or a local path): only to word the refusal of a file that is no Excel at all."""
    return str(getattr(f, "name", "") or "").lower().endswith(".xls")


def _xls_value(kind: int, value: Any, datemode: int) -> Any:
    """An xlrd cell (its type and value) as openpyxl gives an XLSX cell: None, text, int for
    whole numbers, float, bool, the error text (``#N/A``), and for date-formatted cells a
    ``datetime`` (a ``time`` for a time of day alone)."""
    if kind == xlrd.XL_CELL_TEXT:
        return value
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if kind == xlrd.XL_CELL_DATE:
        try:
            moment = xlrd.xldate_as_datetime(value, datemode)
        except (ValueError, OverflowError):
            kind = xlrd.XL_CELL_NUMBER  # no date Python can hold: the number as it is
        else:
            return moment.time() if 0 <= value < 1 else moment
    if kind == xlrd.XL_CELL_NUMBER:
        return int(value) if float(value).is_integer() else value
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(value, "#VALUE!")
    return value


def _xml_row(row: Any) -> list[Any]:
    """The values of a SpreadsheetML ``<Row>``: ``ss:Index`` skips to a column, a cell merged
    across columns (``ss:MergeAcross``) is followed by empty cells."""
    cells: list[Any] = []
    for cell in row.findall(_SS + "Cell"):
        index = cell.get(_SS + "Index", "")
        if index.isdigit():
            cells.extend([None] * (min(int(index), MAX_COLUMNS) - 1 - len(cells)))
        cells.append(_xml_value(cell.find(_SS + "Data")))
        across = cell.get(_SS + "MergeAcross", "")
        if across.isdigit():
            cells.extend([None] * min(int(across), MAX_COLUMNS - len(cells)))
    return cells


def _xml_value(data: Any) -> Any:
    """A SpreadsheetML ``<Data>`` by its ``ss:Type``, as openpyxl gives the same cell."""
    if data is None:
        return None
    text = "".join(data.itertext())
    kind = data.get(_SS + "Type", "String")
    if kind == "Number":
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() else number
    if kind == "DateTime":
        try:
            moment = datetime.datetime.fromisoformat(text.strip())
        except ValueError:
            return text
        return moment.time() if moment.date() == _EXCEL_TIME_DATE else moment
    if kind == "Boolean":
        return text.strip().lower() in ("1", "true")
    return text


class _TableParser(HTMLParser):
    """The rows of the first ``<table>`` of an HTML document, fed in pieces.

    A cell's text has its whitespace collapsed, ``<br>`` and the ends of ``<p>``, ``<div>`` and
    ``<li>`` read as a space, and nested tables' text kept in the cell. Merged cells are laid
    out as Excel lays them out when it opens the file, so every value stays under its column:
    a cell spanning columns (``colspan``) is followed by empty cells, and the rows below a cell
    spanning rows (``rowspan``) get an empty cell in its place. ``rows`` holds the finished rows
    as ``(number, cells)`` for the reader to take; ``finished`` is set at the table's end."""

    BREAKS = frozenset({"br", "p", "div", "li", "tr", "td", "th"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: collections.deque[tuple[int, list[Any]]] = collections.deque()
        self.finished = False
        self._depth = 0  # <table> nesting
        self._skip = 0  # inside <script> or <style>
        self._number = 0
        self._row: list[str] | None = None
        self._text: list[str] | None = None
        self._colspan = 1
        self._rowspan = 1
        self._below: dict[int, int] = {}  # column → rows below still covered by a rowspan

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.finished:
            return
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "table":
            self._depth += 1
        elif self._depth > 1 or tag not in ("tr", "td", "th"):
            if tag in self.BREAKS and self._text is not None:
                self._text.append(" ")
        elif self._depth == 1 and tag == "tr":
            self._end_row()
            self._start_row()
        elif self._depth == 1:  # td, th
            self._end_cell()
            if self._row is None:
                self._start_row()
            spans = dict(attrs) if attrs else {}
            self._colspan = _span(spans.get("colspan"), MAX_COLUMNS)
            self._rowspan = _span(spans.get("rowspan"), MAX_ROWSPAN)
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if self.finished:
            return
        if tag in ("script", "style"):
            self._skip = max(self._skip - 1, 0)
        elif tag == "table" and self._depth > 0:
            self._depth -= 1
            if self._depth == 0:
                self._end_row()
                self.finished = True
            elif self._text is not None:
                self._text.append(" ")
        elif self._depth == 1 and tag in ("td", "th"):
            self._end_cell()
        elif self._depth == 1 and tag == "tr":
            self._end_row()
        elif tag in self.BREAKS and self._text is not None:
            self._text.append(" ")

    def handle_data(self, data: str) -> None:
        if self._text is not None and not self._skip and not self.finished:
            self._text.append(data)

    def _start_row(self) -> None:
        self._number += 1
        self._row = []

    def _fill_below(self, row: list[str]) -> None:
        """Empty cells where a cell of a row above spans down into this one."""
        below = self._below
        while (left := below.get(len(row), 0)) > 0:
            if left == 1:
                del below[len(row)]
            else:
                below[len(row)] = left - 1
            row.append("")

    def _end_cell(self) -> None:
        if self._text is None or self._row is None:
            return
        if self._below:
            self._fill_below(self._row)
        start = len(self._row)
        self._row.append(" ".join("".join(self._text).split()))
        self._row.extend([""] * min(self._colspan - 1, MAX_COLUMNS - len(self._row)))
        if self._rowspan > 1:
            for column in range(start, len(self._row)):
                self._below[column] = self._rowspan - 1
        self._text = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._row is None:
            return
        while self._below and max(self._below) >= len(self._row):  # covered columns at the end
            if len(self._row) in self._below:
                self._fill_below(self._row)
            else:
                self._row.append("")
        self.rows.append((self._number, self._row))
        self._row = None


def _span(value: str | None, limit: int) -> int:
    """A ``colspan`` / ``rowspan``: 1 unless a positive number, at most `limit`."""
    if not value:
        return 1
    text = value.strip()
    return min(int(text), limit) if text.isdigit() and int(text) > 0 else 1


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
