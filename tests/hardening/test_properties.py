"""Property tests (Hypothesis): the deal sync merge and the CSV parsers.

* Sync: whatever order the versions of a deal arrive in, split into whatever batches,
  the stored deal ends as the newest version; replaying everything changes nothing.
* CSV: a file written by any CSV writer (quotes, commas, line breaks, Japanese, CRLF,
  UTF-8 with or without BOM, Shift_JIS) reads back to the same values; any bytes at all
  either parse or are refused with the parser's own error, never a crash.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.deal_csv import deal_inputs_from_csv
from activities.deal_inputs import DealInput, DealInputInvalid
from activities.models import Deal
from activities.services.deals import deal_sync
from activities.services.material_view_csv import (
    ColumnChunk,
    IngestValidationError,
    iter_csv_chunks,
    iter_csv_rows,
)
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope

DB_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
PURE_SETTINGS = settings(max_examples=150, deadline=None, database=None)

_counter = itertools.count(1)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# Text a CSV cell may hold: Japanese, punctuation that needs quoting, line breaks.
cell_text = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 ,;\"'\n\r\tあいう漢字営業パートナー①ｱ-_@.")),
    max_size=24,
)


# --- the sync merge ---------------------------------------------------------------------


@st.composite
def version_batches(draw):
    """Versions of a few deals (distinct modstamps per deal), shuffled into batches."""
    n_deals = draw(st.integers(1, 3))
    versions = []
    for d in range(n_deals):
        offsets = draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=5, unique=True))
        for offset in offsets:
            versions.append(
                {
                    "deal": d,
                    "modstamp": T0 + dt.timedelta(minutes=offset),
                    "stage": draw(st.sampled_from(["Prospecting", "Proposal", "Closed Won"])),
                    "amount": Decimal(draw(st.integers(0, 10**9))),
                    "is_deleted": draw(st.booleans()),
                }
            )
    order = draw(st.permutations(versions))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=3)))
    batches, start = [], 0
    for cut in [*cuts, len(order)]:
        batches.append(order[start:cut])
        start = cut
    return versions, [b for b in batches if b]


def _input(sf_ids, v, row) -> DealInput:
    return DealInput(
        row=row,
        sf_id=sf_ids[v["deal"]],
        system_modstamp=v["modstamp"],
        name=f"v{v['modstamp'].timestamp():.0f}",
        amount=v["amount"],
        stage=v["stage"],
        is_deleted=v["is_deleted"],
    )


@pytest.mark.django_db
@DB_SETTINGS
@given(data=version_batches())
def test_any_order_of_versions_ends_at_the_newest(tenant, data):
    versions, batches = data
    run = next(_counter)
    sf_ids = [to_18(f"006{run:06d}{d:06d}") for d in range(3)]
    with tenant_scope(tenant):
        for batch in batches:
            deal_sync(tenant=tenant, deals=[_input(sf_ids, v, i) for i, v in enumerate(batch)])
        stored = {d.sf_id: d for d in Deal.objects.filter(sf_id__in=sf_ids).order_by("sf_id")}
        for d in {v["deal"] for v in versions}:
            newest = max((v for v in versions if v["deal"] == d), key=lambda v: v["modstamp"])
            deal = stored[sf_ids[d]]
            assert deal.system_modstamp == newest["modstamp"]
            assert (deal.stage, deal.amount, deal.is_deleted) == (
                newest["stage"],
                newest["amount"],
                newest["is_deleted"],
            )
        # Replaying every batch changes nothing.
        again = deal_sync(
            tenant=tenant,
            deals=[_input(sf_ids, v, i) for i, v in enumerate(itertools.chain(*batches))],
        )
        assert again.created == again.updated == again.deleted == 0


# --- the deal CSV parser ----------------------------------------------------------------

HEADER = ["Id", "Name", "Amount", "StageName", "IsWon", "CloseDate", "SystemModstamp", "Partner"]


@st.composite
def deal_rows(draw):
    n = draw(st.integers(1, 6))
    rows = []
    for i in range(n):
        amount = draw(st.one_of(st.none(), st.integers(-(10**12), 10**12)))
        close = draw(st.one_of(st.none(), st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))))
        rows.append(
            {
                "Id": to_18(f"006{draw(st.integers(0, 10**8)):012d}"),
                "Name": draw(cell_text),
                "Amount": "" if amount is None else f"{Decimal(amount) / 100:.2f}",
                "StageName": draw(cell_text),
                "IsWon": draw(st.sampled_from(["true", "false", "TRUE", "0", "1", ""])),
                "CloseDate": "" if close is None else close.isoformat(),
                "SystemModstamp": (T0 + dt.timedelta(seconds=i)).isoformat(),
                "Partner": draw(st.sampled_from(["", "acme-jp", "パートナーA"])),
            }
        )
    return rows


def _csv_bytes(header, rows, *, crlf: bool, bom: bool, encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    # Excel and Salesforce write CRLF and quote a cell holding a line break; with a bare
    # LF terminator, quote every cell so that a lone CR inside one stays inside it.
    writer = csv.writer(
        out,
        lineterminator="\r\n" if crlf else "\n",
        quoting=csv.QUOTE_MINIMAL if crlf else csv.QUOTE_ALL,
    )
    writer.writerow(header)
    for row in rows:
        writer.writerow([row[h] for h in header])
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


@PURE_SETTINGS
@given(rows=deal_rows(), crlf=st.booleans(), bom=st.booleans())
def test_deal_csv_reads_back_what_any_writer_wrote(rows, crlf, bom):
    data = _csv_bytes(HEADER, rows, crlf=crlf, bom=bom)
    try:
        parsed = deal_inputs_from_csv(
            data, partner_field="Partner", rep_field="Owner.Email", rep_match="email"
        )
    except DealInputInvalid as exc:
        raise AssertionError(f"{exc.errors} for {data!r}") from None
    assert len(parsed) == len(rows)
    for deal, row in zip(parsed, rows, strict=True):
        assert deal.sf_id == row["Id"]
        assert deal.name == row["Name"].strip()
        assert deal.stage == row["StageName"].strip()
        assert deal.amount == (Decimal(row["Amount"]) if row["Amount"] else None)
        assert deal.is_won == (row["IsWon"].lower() in ("true", "1"))
        assert deal.close_date == (
            dt.date.fromisoformat(row["CloseDate"]) if row["CloseDate"] else None
        )
        assert deal.system_modstamp == dt.datetime.fromisoformat(row["SystemModstamp"])
        assert deal.partner_key == row["Partner"]


@PURE_SETTINGS
@given(data=st.binary(max_size=400))
def test_deal_csv_never_crashes_on_any_bytes(data):
    try:
        result = deal_inputs_from_csv(
            data, partner_field="Partner", rep_field="Owner.Email", rep_match="email"
        )
    except DealInputInvalid as exc:
        assert exc.errors and all(e.message for e in exc.errors)
    else:
        assert isinstance(result, list)


@PURE_SETTINGS
@given(
    lines=st.lists(
        st.lists(
            st.sampled_from(["Id", "SystemModstamp", "Name", "x", "", '"', "a,b", "\n"]), max_size=5
        ),
        max_size=5,
    )
)
def test_deal_csv_with_any_structure_is_read_or_refused(lines):
    text = "\n".join(",".join(cells) for cells in lines)
    try:
        deal_inputs_from_csv(
            text.encode(), partner_field="Partner", rep_field="Owner.Email", rep_match="email"
        )
    except DealInputInvalid as exc:
        assert all(e.row >= 1 for e in exc.errors)


# --- the material-view CSV parser -------------------------------------------------------

VIEW_HEADER = ["event_id", "rep_email", "material_external_id", "viewed_at", "duration_seconds"]


@st.composite
def view_rows(draw):
    n = draw(st.integers(0, 6))
    return [
        {
            "event_id": f"evt-{i}-{draw(st.integers(0, 10**6))}",
            "rep_email": draw(st.sampled_from(["a@p.example.jp", "営業@パートナー.jp", ""])),
            "material_external_id": draw(cell_text),
            "viewed_at": "2026-01-02T03:04:05+09:00",
            "duration_seconds": str(draw(st.integers(0, 10**6))),
        }
        for i in range(n)
    ]


@PURE_SETTINGS
@given(
    rows=view_rows(),
    crlf=st.booleans(),
    bom=st.booleans(),
    encoding=st.sampled_from(["utf-8", "cp932"]),
    upper=st.booleans(),
)
def test_view_csv_reads_back_what_any_writer_wrote(rows, crlf, bom, encoding, upper):
    header = [h.upper() for h in VIEW_HEADER] if upper else VIEW_HEADER
    rows = [dict(zip(header, r.values(), strict=True)) for r in rows]
    data = _csv_bytes(header, rows, crlf=crlf, bom=bom and encoding == "utf-8", encoding=encoding)
    parsed = list(iter_csv_rows(data))
    # Rows that are entirely blank are skipped as blank lines; every other row comes back.
    expected = [r for r in rows if any(v.strip() for v in r.values()) or len(r) > 1]
    assert [dict(zip(VIEW_HEADER, r.values(), strict=True)) for r in expected] == [
        values for _line, values in parsed
    ]
    lines = [line for line, _values in parsed]
    assert lines == sorted(lines) and all(line >= 2 for line in lines)


@PURE_SETTINGS
@given(data=st.binary(max_size=400))
def test_view_csv_never_crashes_on_any_bytes(data):
    try:
        rows = list(iter_csv_rows(data))
    except IngestValidationError as exc:
        assert exc.errors
    else:
        assert all(isinstance(line, int) and isinstance(values, dict) for line, values in rows)


@PURE_SETTINGS
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.lists(
            st.lists(
                st.sampled_from(
                    [
                        *("e1", "", " ", '"', '""', ",", "\r", "\n", "é", "x" * 3),
                        # White space that strip() removes, and line separators that
                        # str.splitlines() would cut at but the CSV reader does not.
                        *("\t", "\x0c", "\x85", "\u2028", "\x00"),
                    ]
                ),
                max_size=6,
            ),
            max_size=8,
        ).map(
            lambda rows: "\n".join(
                ["event_id,rep_email,material_external_id,viewed_at", *(",".join(r) for r in rows)]
            ).encode()
        ),
    ),
    size=st.integers(min_value=1, max_value=5),
)
def test_view_csv_chunks_hold_the_row_readers_rows_for_any_bytes(data, size):
    """The column-wise reader (the API's and the import command's) on any input: the row
    reader's rows, line numbers and refusals, in chunks of at most ``size``."""
    try:
        expected = list(iter_csv_rows(data))
    except IngestValidationError as exc:
        with pytest.raises(IngestValidationError) as chunked:
            list(iter_csv_chunks(data, size))
        assert chunked.value.errors == exc.errors
        return
    chunks = list(iter_csv_chunks(data, size))
    got = [row for c in chunks for row in (c.rows() if isinstance(c, ColumnChunk) else c)]
    assert got == expected
    assert all(0 < len(c) <= size for c in chunks)
