"""Reading a material-view log (資料閲覧ログ) CSV file: encoding, header and rows.

The rows it yields are validated and stored by ``activities.services.material_views``.
A row the CSV reader cannot read is yielded with its line number under ``MALFORMED``, so
that the ingest refuses it like any other invalid row. A NUL byte is refused in the row
(and column) that holds it, by the ingest; only a header holding one (a UTF-16 file read as
UTF-8, a binary file) refuses the file as a whole.

``iter_csv_chunks`` reads the same rows column by column, a chunk at a time, without a dict
per row (most of a replayed import's time went to those dicts); a chunk holding a record
of the wrong width, or one the reader could not read, comes as the rows
``iter_csv_rows`` gives, so that every report stays what it was.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from django.utils.translation import gettext as _

from pse_crm.csv_text import NotCsvText, csv_text

__all__ = [
    "COLUMNS",
    "MALFORMED",
    "ColumnChunk",
    "IngestValidationError",
    "RowError",
    "iter_csv_chunks",
    "iter_csv_rows",
]

# The columns of a view log. A file needs event_id and viewed_at, one rep column and one
# material column; duration_seconds may be left out (0).
COLUMNS = (
    "event_id",
    "rep_email",
    "rep_external_id",
    "material_external_id",
    "material_url",
    "viewed_at",
    "duration_seconds",
)
_REQUIRED = ("event_id", "viewed_at")
_REP_COLUMNS = ("rep_email", "rep_external_id")
_MATERIAL_COLUMNS = ("material_external_id", "material_url")


class _Malformed:
    """The key of ``MALFORMED``: not a string, so no JSON key or CSV header can forge it."""

    def __repr__(self) -> str:
        return "MALFORMED"


# A key the CSV reader puts in a row whose field count does not match the header.
MALFORMED = _Malformed()


@dataclass(frozen=True)
class RowError:
    """Why one row was refused."""

    row: int  # CSV: line number in the file (header is line 1); JSON: 0-based index
    field: str  # column name, or "" for the whole row
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class IngestValidationError(Exception):
    """The batch (or file) was refused as a whole; nothing was written."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.row}: {e}" for e in errors[:5]))


def _decode(data: bytes) -> str:
    try:
        return csv_text(data)
    except NotCsvText as exc:
        raise IngestValidationError([RowError(1, "", str(exc))]) from None


def _header_errors(header: list[str]) -> list[RowError]:
    errors = [
        RowError(1, column, _("Missing column.")) for column in _REQUIRED if column not in header
    ]
    if not any(c in header for c in _REP_COLUMNS):
        errors.append(RowError(1, "rep_email", _("Missing column: rep_email or rep_external_id.")))
    if not any(c in header for c in _MATERIAL_COLUMNS):
        errors.append(
            RowError(
                1,
                "material_external_id",
                _("Missing column: material_external_id or material_url."),
            )
        )
    return errors


def _open(data: bytes):
    """The header (names stripped, lower case), a reader positioned after it and the text
    stream it reads; raises ``IngestValidationError`` for what refuses the whole file."""
    text = _decode(data)
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise IngestValidationError([RowError(1, "", _("The file is empty."))]) from None
    except csv.Error as exc:
        raise IngestValidationError([RowError(1, "", str(exc))]) from None
    if any("\x00" in h for h in header):
        # NULs in the header: a UTF-16 file without its BOM, or not a text file at all.
        raise IngestValidationError(
            [RowError(1, "", _("The file contains NUL bytes; save it as UTF-8 or Shift_JIS."))]
        )
    header = [h.strip().lower() for h in header]
    errors = _header_errors(header)
    if errors:
        raise IngestValidationError(errors)
    return header, reader, stream


def _blank(fields: list[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip())


def _row(header: list[str], fields: list[str] | csv.Error) -> dict[Any, str]:
    """One record as ``iter_csv_rows`` yields it (not a blank line)."""
    if isinstance(fields, csv.Error):
        return {MALFORMED: _("Unreadable CSV: %(error)s") % {"error": fields}}
    if len(fields) != len(header):
        return {
            MALFORMED: _("Expected %(expected)d columns, found %(found)d.")
            % {"expected": len(header), "found": len(fields)}
        }
    return dict(zip(header, fields, strict=True))


def iter_csv_rows(data: bytes) -> Iterator[tuple[int, dict[Any, str]]]:
    """Decode (UTF-8 with/without BOM, Shift_JIS), check the header; the rows with the line
    each starts on, lazily (the header is checked on first use).

    Column names are matched case-insensitively; extra columns are ignored. Blank lines are
    skipped. A row with the wrong number of fields is kept and refused by
    ``material_views_ingest`` with its line number. Raises ``IngestValidationError`` for a
    wrong encoding, an empty file or a missing column.
    """
    header, reader, _stream = _open(data)
    line = reader.line_num
    while True:
        start = line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield start, _row(header, exc)
            continue
        line = reader.line_num
        if not _blank(fields):
            yield start, _row(header, fields)


@dataclass(frozen=True)
class ColumnChunk:
    """Consecutive rows of a CSV file, column by column: each row has every column of the
    header (a name the header repeats holds its last column, as in a row's dict)."""

    numbers: list[int]  # the line each row starts on
    columns: dict[str, list[str]]

    def __len__(self) -> int:
        return len(self.numbers)

    def rows(self) -> list[tuple[int, dict[str, str]]]:
        """The rows as ``iter_csv_rows`` yields them, for the row-by-row check."""
        names = list(self.columns)
        values = zip(*self.columns.values(), strict=True)
        return [
            (n, dict(zip(names, v, strict=True))) for n, v in zip(self.numbers, values, strict=True)
        ]


def iter_csv_chunks(
    data: bytes, size: int
) -> Iterator[ColumnChunk | list[tuple[int, dict[Any, str]]]]:
    """The rows of ``iter_csv_rows``, ``size`` at a time, without a dict per row.

    A chunk is a ``ColumnChunk`` when every row in it has the header's number of fields;
    a chunk holding a row the CSV reader could not read, or one with too few or too many
    fields, is the list of its rows exactly as ``iter_csv_rows`` yields them (MALFORMED
    included). Blank lines are skipped; line numbers and the header's checks are the same.
    """
    header, reader, stream = _open(data)
    width = len(header)
    line = reader.line_num
    plain = _plain_lines(stream)
    if plain is not None:
        yield from _plain_chunks(plain, header=header, first_line=line + 1, size=size)
        return
    exhausted = False
    while not exhausted:
        records: list[list[str] | csv.Error] = []
        starts: list[int] = []
        regular = True
        while len(records) < size:
            try:
                # One record at a time, no dict: this loop is most of the cost of reading.
                for fields in reader:
                    start, line = line + 1, reader.line_num
                    if len(fields) != width:
                        if _blank(fields):
                            continue
                        regular = False
                    records.append(fields)
                    starts.append(start)
                    if len(records) == size:
                        break
                else:
                    exhausted = True
                break
            except csv.Error as exc:
                records.append(exc)
                starts.append(line + 1)
                line = reader.line_num
                regular = False
        if not records:
            return
        if regular:
            yield ColumnChunk(
                starts, dict(zip(header, map(list, zip(*records, strict=True)), strict=True))
            )
        else:
            yield [(n, _row(header, f)) for n, f in zip(starts, records, strict=True)]


def _plain_lines(stream: io.StringIO) -> list[str] | None:
    """The rest of ``stream`` as its lines, when the CSV reader would read each line as one
    record split at every comma: no quote, no carriage return, no NUL and no line longer
    than the reader's field limit (it would refuse the field). Else ``None``, the stream
    where it was."""
    position = stream.tell()
    rest = stream.read()
    lines = rest.split("\n")
    if (
        '"' in rest
        or "\r" in rest
        or "\x00" in rest
        or max(map(len, lines), default=0) > csv.field_size_limit()
    ):
        stream.seek(position)
        return None
    if lines[-1] == "":
        lines.pop()  # after the last line break: no line
    return lines


def _plain_chunks(
    lines: list[str], *, header: list[str], first_line: int, size: int
) -> Iterator[ColumnChunk | list[tuple[int, dict[Any, str]]]]:
    """``iter_csv_chunks`` for ``_plain_lines``: the same chunks, cut with ``str`` methods
    instead of one record at a time (a replayed import's CSV 1.5 s → 0.35 s, bench/
    import_views.py). The line numbers are the physical ones; blank lines (empty, or only
    spaces) are skipped."""
    width = len(header)
    commas = width - 1
    counts = list(map(str.count, lines, repeat(",")))
    if 0 in counts:
        # Blank: no comma and nothing but white space, as ``_blank`` reads the reader's
        # record.
        kept = [i for i, text in enumerate(lines) if counts[i] or text.strip()]
        numbered = [lines[i] for i in kept]
        counts = [counts[i] for i in kept]
    else:
        kept, numbered = None, lines
    for start in range(0, len(numbered), size):
        chunk = numbered[start : start + size]
        numbers = (
            list(range(first_line + start, first_line + start + len(chunk)))
            if kept is None
            else [first_line + i for i in kept[start : start + size]]
        )
        if counts[start : start + size].count(commas) == len(chunk):
            values = ",".join(chunk).split(",")
            # (A name the header repeats keeps its last column, as ``dict(zip(…))`` does.)
            yield ColumnChunk(numbers, {name: values[j::width] for j, name in enumerate(header)})
        else:
            yield [
                (n, _row(header, text.split(","))) for n, text in zip(numbers, chunk, strict=True)
            ]
