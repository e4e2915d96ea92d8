"""Reading a material-view log (資料閲覧ログ) CSV file: encoding, header and rows.

The rows it yields are validated and stored by ``activities.services.material_views``.
A row the CSV reader cannot read is yielded with its line number under ``MALFORMED``, so
that the ingest refuses it like any other invalid row. A NUL byte is refused in the row
(and column) that holds it, by the ingest; only a header holding one (a UTF-16 file read as
UTF-8, a binary file) refuses the file as a whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

from pse_crm.csv_text import NotCsvText, csv_text

__all__ = [
    "COLUMNS",
    "MALFORMED",
    "IngestValidationError",
    "RowError",
    "iter_csv_rows",
    "material_view_rows_from_csv",
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


def iter_csv_rows(data: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    """Like ``material_view_rows_from_csv`` but lazy: the header is checked on first use."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
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
    width = len(header)
    line = reader.line_num
    while True:
        start = line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield start, {MALFORMED: _("Unreadable CSV: %(error)s") % {"error": exc}}
            continue
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line
        if len(fields) != width:
            yield (
                start,
                {
                    MALFORMED: _("Expected %(expected)d columns, found %(found)d.")
                    % {"expected": width, "found": len(fields)}
                },
            )
            continue
        yield start, dict(zip(header, fields, strict=True))


def material_view_rows_from_csv(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """Decode (UTF-8 with/without BOM, Shift_JIS), check the header; rows with their line numbers.

    Column names are matched case-insensitively; extra columns are ignored. Blank lines are
    skipped. A row with the wrong number of fields is kept and refused by
    ``material_views_ingest`` with its line number. Raises ``IngestValidationError`` for a
    wrong encoding, an empty file or a missing column.
    """
    return list(iter_csv_rows(data))
