"""``manage.py import_views FILE --tenant S``: load a material-view log (資料閲覧ログ) CSV."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from activities.services.material_view_csv import (
    COLUMNS,
    IngestValidationError,
    RowError,
    iter_csv_chunks,
    iter_csv_rows,
)
from activities.services.material_views import material_views_ingest
from pse_crm.exports import spreadsheet_safe
from pse_crm.management.tenants import tenant_from_slug


def _with_progress(
    chunks: Iterable[Sized], *, total: int, label: str, quiet: bool
) -> Iterator[Sized]:
    """``chunks``, with a progress bar on a terminal while their rows are read and checked,
    then a line saying the storing (one transaction, no finer progress) has begun."""
    bar = tqdm(
        total=total,
        desc=f"{label}: reading",
        unit="row",
        file=sys.stderr,
        disable=True if quiet else None,  # None: only on a terminal
        leave=False,
    )
    shown = not bar.disable  # close() sets it
    try:
        for chunk in chunks:
            bar.update(len(chunk))
            yield chunk
    finally:
        bar.close()
    if shown:
        sys.stderr.write(f"{label}: storing {bar.n:,} rows...\n")


def report_path(path: Path) -> Path:
    """Where ``--skip-invalid`` writes the rejected rows: beside the input."""
    return path.with_name(f"{path.stem}.rejected.csv")


class Command(BaseCommand):
    help = (
        "Import material views from a CSV file (UTF-8 or Shift_JIS). Columns: event_id, "
        "rep_email or rep_external_id, material_external_id or material_url, viewed_at "
        "(ISO 8601; a naive time is in the tenant's time zone), duration_seconds. By default "
        "a file with any invalid row writes nothing. Replaying a file adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument(
            "--source", default="", help="recorded on each view (e.g. the platform)"
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="write the valid rows; write the rejected rows to FILE.rejected.csv",
        )

    def handle(self, *args, file: Path, tenant: str, source: str, skip_invalid: bool, **options):
        tenant_obj = tenant_from_slug(tenant)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from None
        source = source or file.name
        started = time.perf_counter()

        def chunks(size: int) -> Iterator[Sized]:
            # Column by column: no dict per row (see ``iter_csv_chunks``).
            return _with_progress(
                iter_csv_chunks(data, size),
                total=max(data.count(b"\n") - 1, 0),  # close: a quoted field may hold a break
                label=file.name,
                quiet=options["verbosity"] == 0,
            )

        try:
            result = material_views_ingest(
                tenant=tenant_obj,
                chunks=chunks,
                source=source,
                skip_invalid=skip_invalid,
            )
        except IngestValidationError as exc:
            for error in exc.errors:
                self.stderr.write(self._describe(error))
            raise CommandError(
                f"{file}: {len(exc.errors)} invalid row(s); nothing was written. "
                "Fix them, or use --skip-invalid to import the valid rows."
            ) from None
        seconds = time.perf_counter() - started
        if result.rejected:
            out = report_path(file)
            self._write_report(out, data, result.rejected)
            for error in result.rejected:
                self.stderr.write(self._describe(error))
            self.stdout.write(
                self.style.WARNING(f"{len(result.rejected)} row(s) rejected; see {out}.")
            )
        total = result.created + result.duplicates
        rate = total / seconds if seconds else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.created} new view(s) into '{tenant}' "
                f"({result.duplicates} already stored, {result.reps_created} new rep(s), "
                f"{len(result.rejected)} rejected) in {seconds:.1f} s ({rate:,.0f} rows/s)."
            )
        )

    @staticmethod
    def _describe(error: RowError) -> str:
        where = f"line {error.row}"
        return (
            f"{where}: {error.field}: {error.message}"
            if error.field
            else f"{where}: {error.message}"
        )

    @staticmethod
    def _write_report(out: Path, data: bytes, rejected: list[RowError]) -> None:
        """The rejected rows with their line and reason, as UTF-8 with a BOM (opens in Excel).
        It echoes the upload's text: a cell Excel would run as a formula is prefixed."""
        by_line = {e.row: e for e in rejected}
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["line", "field", "reason", *COLUMNS])
            for line, row in iter_csv_rows(data):
                error = by_line.pop(line, None)
                if error is not None:
                    cells = [line, error.field, error.message, *(row.get(c, "") for c in COLUMNS)]
                    writer.writerow([spreadsheet_safe(v) for v in cells])
            for line, error in sorted(by_line.items()):
                writer.writerow(
                    [line, error.field, spreadsheet_safe(error.message), *([""] * len(COLUMNS))]
                )
