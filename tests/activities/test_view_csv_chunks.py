"""The column-wise CSV reader (``iter_csv_chunks``) against the row reader
(``iter_csv_rows``): the same rows, line numbers, refusals and, through the ingestion,
the same reports and stored views, for every shape of file the row reader accepts."""

from __future__ import annotations

import pytest
from django.db import transaction

from activities.models import MaterialView
from activities.services import material_views
from activities.services.material_view_csv import (
    ColumnChunk,
    IngestValidationError,
    iter_csv_chunks,
    iter_csv_rows,
)
from activities.services.material_views import material_views_ingest
from pse_crm.tenancy import tenant_scope
from reps.models import Rep
from tests.activities.factories import MaterialFactory
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.reps.factories import RepFactory

HEADER = "event_id,rep_email,material_external_id,viewed_at,duration_seconds"


def _lines(*rows: str, end: str = "\n", header: str = HEADER) -> str:
    return "".join(f"{line}{end}" for line in (header, *rows))


ROW = "e{n},taro@sample.co.jp,deck-{m},2026-03-0{d}T10:00:00,{s}"
ROWS = [ROW.format(n=n, m=1 + n % 2, d=1 + n % 9, s=n * 7) for n in range(1, 8)]
LONG = "x" * 140_000  # longer than the csv module's field limit: an unreadable record

FILES = {
    "plain": _lines(*ROWS),
    "crlf": _lines(*ROWS, end="\r\n"),
    "lone cr": _lines(*ROWS, end="\r"),
    "no final newline": _lines(*ROWS).rstrip("\n"),
    "bom": "\ufeff" + _lines(*ROWS),
    "header case and spaces": _lines(
        *ROWS, header=" Event_ID ,REP_EMAIL, Material_External_Id,Viewed_At ,Duration_Seconds"
    ),
    "columns in another order": _lines(
        "deck-1,2026-03-01T10:00:00+09:00,e1,taro@sample.co.jp,5",
        "deck-2,2026-03-02T10:00:00,e2,ken@sample.co.jp,6",
        header="material_external_id,viewed_at,event_id,rep_email,duration_seconds",
    ),
    "no duration column": _lines(
        "e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00",
        "e2,taro@sample.co.jp,deck-2,2026-03-01T11:00:00",
        header="event_id,rep_email,material_external_id,viewed_at",
    ),
    "rep by external id, material by url": _lines(
        "e1,u-1,https://cdn.example/d1,2026-03-01T10:00:00Z,1",
        "e2,u-1,https://cdn.example/d1,2026-03-01T11:00:00Z,2",
        header="event_id,rep_external_id,material_url,viewed_at,duration_seconds",
    ),
    "extra named column": _lines(*(f"{row},提案書を閲覧" for row in ROWS), header=f"{HEADER},メモ"),
    "duplicate header name": _lines(
        "e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,5,deck-2",
        "e2,taro@sample.co.jp,deck-2,2026-03-01T10:00:00,5,deck-1",
        header=f"{HEADER},material_external_id",
    ),
    "trailing comma": _lines(*(f"{row}," for row in ROWS), header=f"{HEADER},"),
    "quoted fields": _lines(
        '"e1","taro@sample.co.jp","deck-1","2026-03-01T10:00:00","5"',
        '"e""2",taro@sample.co.jp,"deck-2",2026-03-01T10:00:00,6',
        '" e3 ", Taro@Sample.co.jp ,deck-1,2026-03-01T10:00:00,7',
    ),
    "quoted line breaks": _lines(
        'e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,5,"two\nlines"',
        'e2,taro@sample.co.jp,deck-2,2026-03-01T10:00:00,6,"three\r\nlines\rhere"',
        '"e3\nx",taro@sample.co.jp,deck-1,2026-03-01T10:00:00,7,',
        "e4,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,8,plain",
        header=f"{HEADER},memo",
    ),
    "blank lines": _lines(ROWS[0], "", "   ", ROWS[1], "\t", "", ROWS[2]) + "\n\n\n",
    "blank lines only": _lines("", "", " "),
    "header only": _lines(),
    "too few and too many fields": _lines(
        ROWS[0], "e90,taro@sample.co.jp,deck-1", ROWS[1], f"{ROWS[2]},extra", ",", ROWS[3]
    ),
    "a field too long to read": _lines(ROWS[0], f"e91,{LONG},deck-1,2026-03-01,1", ROWS[1]),
    "unterminated quote at the end": _lines(ROWS[0], ROWS[1]) + 'e92,"taro@sample.co.jp,deck-1',
    "nul in a field": _lines(ROWS[0], "e93,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,1\x002"),
    "invalid values": _lines(
        ROWS[0],
        "e94,taro@sample.co.jp,deck-1,yesterday,5",
        "e95,ghost@nowhere.example,deck-1,2026-03-01T10:00:00,5",
        "e96,new@tokyo.sample.co.jp,deck-1,2026-03-01T10:00:00,5",
        ROWS[0],  # a duplicate event_id
        "e97,taro@sample.co.jp,nope,2026-03-01T10:00:00,-1",
        ",taro@sample.co.jp,deck-1,2026-03-01T10:00:00,5",
        "e98,taro@sample.co.jp,deck-1\x1b,2026-03-01T10:00:00,5",
        ROWS[1],
    ),
    "new reps": _lines(
        "e1,hanako@tokyo.sample.co.jp,deck-1,2026-03-01T10:00:00,5",
        "e2,ken@sample.co.jp,deck-2,2026-03-01T10:00:00,5",
        "e3,Hanako@Tokyo.sample.co.jp,deck-1,2026-03-01T10:00:00,5",
        *ROWS[3:],
    ),
    "times of every kind": _lines(
        "e1,taro@sample.co.jp,deck-1,2026-03-01,1",
        "e2,taro@sample.co.jp,deck-1,2026-03-01 10:00,1",
        "e3,taro@sample.co.jp,deck-1,2026-03-01T10:00:00.123456-05:00,1",
        "e4,taro@sample.co.jp,deck-1,9999-12-31T20:00:00,1",
        "e5,taro@sample.co.jp,deck-1,0001-01-01T12:00:00+09:00,1",
        "e6,taro@sample.co.jp,deck-1,20260301T100000,1",
    ),
}
ENCODED = {name: text.encode() for name, text in FILES.items()}
ENCODED["shift_jis"] = FILES["extra named column"].encode("shift_jis")
SIZES = [1, 2, 3, 1_000]


def _as_rows(chunks) -> list[tuple[int, dict]]:
    rows = []
    for chunk in chunks:
        rows.extend(chunk.rows() if isinstance(chunk, ColumnChunk) else chunk)
    return rows


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", sorted(ENCODED))
def test_the_chunks_hold_the_rows_of_the_row_reader(name, size):
    data = ENCODED[name]
    expected = list(iter_csv_rows(data))
    chunks = list(iter_csv_chunks(data, size))
    assert _as_rows(chunks) == expected
    # In the same order, field by field (the first field with a problem is the one reported).
    assert [list(row) for _n, row in _as_rows(chunks)] == [list(row) for _n, row in expected]
    assert all(0 < len(chunk) <= size for chunk in chunks)
    assert len(chunks) == -(-len(expected) // size)  # full chunks, as the rows would give


def test_regular_chunks_are_column_wise_and_irregular_ones_rows():
    data = ENCODED["too few and too many fields"]
    kinds = [isinstance(chunk, ColumnChunk) for chunk in iter_csv_chunks(data, 2)]
    # rows 1-2: a short record; 3-4: a long one; 5-6: "," (two fields) and a good row.
    assert kinds == [False, False, False]
    kinds = [isinstance(chunk, ColumnChunk) for chunk in iter_csv_chunks(ENCODED["plain"], 3)]
    assert kinds == [True, True, True]
    blank = list(iter_csv_chunks(ENCODED["blank lines"], 1_000))
    assert [type(chunk) for chunk in blank] == [ColumnChunk]
    assert blank[0].numbers == [2, 5, 8]


FILE_ERRORS = {
    "empty": b"",
    "only a BOM": b"\xef\xbb\xbf",
    "missing columns": b"event_id,rep_email\ne1,taro@sample.co.jp\n",
    "nul in the header": HEADER.encode().replace(b"rep", b"r\x00p") + b"\n",
    "utf-16": HEADER.encode("utf-16"),
    "not text": HEADER.encode() + b"\ne1,\x80\x80\n",
    "unreadable header": f'"{LONG}\n'.encode(),
}


@pytest.mark.parametrize("name", sorted(FILE_ERRORS))
def test_a_file_refused_as_a_whole_is_refused_the_same_way(name):
    data = FILE_ERRORS[name]
    with pytest.raises(IngestValidationError) as by_rows:
        list(iter_csv_rows(data))
    with pytest.raises(IngestValidationError) as by_chunks:
        list(iter_csv_chunks(data, 2))
    assert by_chunks.value.errors == by_rows.value.errors


# --- through the ingestion ---------------------------------------------------------------


@pytest.fixture
def world(tenant, other_tenant):
    partner = PartnerFactory(tenant=tenant)
    PartnerDomainFactory(partner=partner, domain="sample.co.jp")
    rep = RepFactory(partner=partner, email="taro@sample.co.jp", external_id="u-1")
    MaterialFactory(tenant=tenant, external_id="deck-1", url="https://cdn.example/d1")
    MaterialFactory(tenant=tenant, external_id="deck-2")
    RepFactory(partner=PartnerFactory(tenant=other_tenant), email="ken@sample.co.jp")
    return {"rep": rep}


def _outcome(tenant, call):
    """What one ingestion reports and leaves behind, rolled back afterwards."""
    with transaction.atomic():
        try:
            result = call()
        except IngestValidationError as exc:
            reported = ("refused", [(e.row, e.field, e.message) for e in exc.errors])
        else:
            reported = (
                result.created,
                result.duplicates,
                result.reps_created,
                [(e.row, e.field, e.message) for e in result.rejected],
            )
        stored, reps = _stored(tenant)
        transaction.set_rollback(True)
    return reported, stored, reps


def _stored(tenant) -> tuple[list, list]:
    """The tenant's views (key fields) and reps (email, external id), sorted."""
    with tenant_scope(tenant):
        stored = sorted(
            MaterialView.objects.values_list(
                "event_id", "rep__email", "material__external_id", "viewed_at",
                "duration_seconds",
            )
        )  # fmt: skip
        reps = sorted(Rep.objects.values_list("email", "external_id"))
    return stored, reps


@pytest.mark.django_db
@pytest.mark.parametrize("skip_invalid", [False, True])
@pytest.mark.parametrize("name", sorted(ENCODED))
def test_importing_by_chunks_reports_and_stores_what_the_rows_give(
    tenant, world, monkeypatch, name, skip_invalid
):
    """The file as the import command reads it now (column-wise chunks of 3, the fast
    check on), against its rows as they were read before, checked row by row in one
    chunk: the same refusals, counts, views and reps, and again on a replay."""
    data = ENCODED[name]
    monkeypatch.setattr(material_views, "CHUNK_ROWS", 3)

    def by_chunks():
        return material_views_ingest(
            tenant=tenant,
            chunks=lambda size: iter_csv_chunks(data, size),
            skip_invalid=skip_invalid,
        )

    def by_rows():
        return material_views_ingest(
            tenant=tenant, rows=list(iter_csv_rows(data)), skip_invalid=skip_invalid
        )

    def twice(call):
        return lambda: (call(), call())[1]  # the replay's outcome, after the first import

    def by_chunks_read():  # read already, as the API reads a CSV batch
        return material_views_ingest(
            tenant=tenant, chunks=list(iter_csv_chunks(data, 3)), skip_invalid=skip_invalid
        )

    fast = _outcome(tenant, by_chunks), _outcome(tenant, twice(by_chunks))
    assert (_outcome(tenant, by_chunks_read), _outcome(tenant, twice(by_chunks_read))) == fast
    monkeypatch.setattr(material_views, "CHUNK_ROWS", 10_000)
    monkeypatch.setattr(material_views, "_validate_fast", lambda **kwargs: None)
    monkeypatch.setattr(material_views, "_validate_columns", lambda **kwargs: None)
    slow = _outcome(tenant, by_rows), _outcome(tenant, twice(by_rows))
    assert fast == slow


@pytest.mark.django_db
def test_the_column_path_is_taken_and_the_rows_path_when_it_declines(tenant, world, monkeypatch):
    """Not vacuous: a clean file goes through the column check chunk by chunk (new rows,
    then a replay), and a chunk it declines is reported by the row check."""
    monkeypatch.setattr(material_views, "CHUNK_ROWS", 3)
    accepted = []
    real = material_views._validate_columns

    def counted(**kwargs):
        valid = real(**kwargs)
        accepted.append(valid is not None)
        return valid

    monkeypatch.setattr(material_views, "_validate_columns", counted)

    def ingest(name):
        return material_views_ingest(
            tenant=tenant, chunks=lambda size: iter_csv_chunks(ENCODED[name], size)
        )

    assert (ingest("plain").created, ingest("plain").duplicates) == (7, 7)
    assert accepted == [True] * 6
    accepted.clear()
    with pytest.raises(IngestValidationError) as exc:
        ingest("invalid values")
    assert [e.row for e in exc.value.errors] == [3, 4, 6, 7, 8, 9]
    assert accepted == [False, False, False]


@pytest.mark.django_db
def test_rows_or_chunks_not_both(tenant):
    with pytest.raises(TypeError):
        material_views_ingest(tenant=tenant)
    with pytest.raises(TypeError):
        material_views_ingest(tenant=tenant, rows=[], chunks=lambda size: [])


@pytest.mark.django_db
def test_chunks_read_already_load_only_the_reps_and_materials_they_name(tenant, world):
    """Chunks handed over as a list (the API's CSV batch) narrow the reps' and materials'
    queries to the keys the chunks hold, column-wise or row-wise, as rows do; a callable
    (the import command's lazily read file) loads the tenant's whole rep table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        RepFactory(partner=world["rep"].partner)  # reps no row names

    def rep_queries(**batch) -> list[str]:
        with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
            material_views_ingest(tenant=tenant, **batch)
            transaction.set_rollback(True)
        return [
            q["sql"] for q in ctx.captured_queries if q["sql"].startswith('SELECT "reps_rep"."id"')
        ]

    data = ENCODED["rep by external id, material by url"]
    for chunks in (list(iter_csv_chunks(data, 1)), [list(iter_csv_rows(data))]):
        (query,) = rep_queries(chunks=chunks)
        assert "'u-1'" in query and " IN " in query
    (query,) = rep_queries(chunks=lambda size: iter_csv_chunks(data, size))
    assert " IN " not in query
    (query,) = rep_queries(rows=list(iter_csv_rows(data)))
    assert "'u-1'" in query


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ENCODED))
def test_the_api_stores_and_reports_a_csv_batch_as_its_rows_give(api_client, tenant, world, name):
    """``POST /api/v1/material-views/`` with ``text/csv`` (read column-wise): the counts,
    or the refusal line by line, and the stored views and reps of the rows checked one by
    one through the service; then the replay."""
    from activities.services.material_view_csv import iter_csv_rows as rows_of

    data = ENCODED[name]
    expected_first = _outcome(
        tenant, lambda: material_views_ingest(tenant=tenant, rows=list(rows_of(data)))
    )

    def post():
        response = api_client.post("/api/v1/material-views/", data, content_type="text/csv")
        body = response.json()
        if response.status_code == 400:
            return ("refused", [(e["line"], e["field"], e["message"]) for e in body["errors"]])
        assert response.status_code == 200, body
        return (body["created"], body["duplicates"], body["reps_created"], [])

    reported = post()
    assert (reported, *_stored(tenant)) == expected_first
    if reported[0] != "refused":
        assert post() == (0, reported[0], 0, [])  # the replay: every event a duplicate
