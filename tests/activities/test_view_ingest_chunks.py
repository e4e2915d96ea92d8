"""The ingestion's fast path and its chunks: they must report and store exactly what the
row-by-row validation does, and keep the roll-ups equal to a recompute from the views."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from activities.models import Material, MaterialView, RepMaterialSpan, RepViewDay
from activities.services import material_view_store, material_views
from activities.services.material_view_csv import ColumnChunk, IngestValidationError, RowError
from activities.services.material_view_store import _not_stored
from activities.services.material_views import _Lookups, material_views_ingest
from activities.services.rollups import view_rollups_fold
from pse_crm.models import Tenant
from pse_crm.tenancy import tenant_scope
from reps.models import Rep
from tests.activities.factories import MaterialFactory
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tenant, other_tenant):
    partner = PartnerFactory(tenant=tenant)
    PartnerDomainFactory(partner=partner, domain="sample.co.jp")
    rep = RepFactory(partner=partner, email="taro@sample.co.jp", external_id="u-1")
    MaterialFactory(tenant=tenant, external_id="deck-1", url="https://cdn.example/d1")
    MaterialFactory(tenant=tenant, external_id="deck-2")
    other = PartnerFactory(tenant=other_tenant)
    RepFactory(partner=other, email="jiro@sample.co.jp", external_id="u-9")
    MaterialFactory(tenant=other_tenant, external_id="deck-9")
    return {"rep": rep}


def _event(n: int, **change) -> dict:
    event = {
        "event_id": f"e{n}",
        "rep_email": "taro@sample.co.jp",
        "material_external_id": "deck-1" if n % 2 else "deck-2",
        "viewed_at": f"2026-03-{1 + n % 28:02d}T{n % 24:02d}:15:00" + ("+09:00" if n % 3 else ""),
        "duration_seconds": str(n % 50),
    }
    event.update(change)
    return {k: v for k, v in event.items() if v is not _GONE}


_GONE = object()

# Chunks of rows, each of which the fast path must either take exactly as the row-by-row
# validation would, or leave to it.
CHUNKS = {
    "plain": [_event(n) for n in range(6)],
    "json numbers": [_event(n, duration_seconds=n) for n in range(4)],
    "no duration": [_event(n, duration_seconds=_GONE) for n in range(3)],
    "blank duration": [_event(0, duration_seconds=""), _event(1)],
    "rep by external id": [_event(n, rep_email=_GONE, rep_external_id="u-1") for n in range(3)],
    "unknown external id, known email": [_event(0, rep_external_id="u-404")],
    "material by url": [
        _event(0, material_external_id=_GONE, material_url="https://cdn.example/d1")
    ],
    "new reps": [
        _event(0, rep_email="hanako@tokyo.sample.co.jp", rep_external_id="x-1"),
        _event(1, rep_email="hanako@tokyo.sample.co.jp", rep_external_id="x-2"),
        _event(2, rep_email="ken@sample.co.jp"),
        _event(3),
    ],
    "spaces and case": [_event(0, event_id=" e0 ", rep_email=" Taro@Sample.co.jp ")],
    "japanese memo": [_event(0, memo="提案書を閲覧"), _event(1, memo="")],
    "utc and fractions": [_event(0, viewed_at="2026-03-01T10:00:00.123456Z")],
    # Each of these holds one row the row-by-row validation refuses.
    "bad time": [_event(0), _event(1, viewed_at="yesterday")],
    "year 9999": [_event(0, viewed_at="9999-12-31T23:00:00-05:00")],
    "year 1": [_event(0, viewed_at="0001-01-01T01:00:00+09:00")],
    "negative": [_event(0), _event(1, duration_seconds="-5")],
    "float duration": [_event(0, duration_seconds="7.6")],
    "fullwidth duration": [_event(0, duration_seconds="０１２")],
    "unknown material": [_event(0, material_external_id="nope")],
    "other tenant's material": [_event(0, material_external_id="deck-9")],
    "other tenant's rep": [_event(0, rep_email=_GONE, rep_external_id="u-9")],
    "no partner": [_event(0, rep_email="ghost@nowhere.example")],
    "bad email": [_event(0, rep_email="not an email@sample.co.jp")],
    "duplicate in chunk": [_event(0), _event(0)],
    "blank event id": [_event(0, event_id="  ")],
    "no event id": [_event(0, event_id=_GONE)],
    "long event id": [_event(0, event_id="x" * 101)],
    "tab in event id": [_event(0, event_id="a\tb")],
    "control in key": [_event(0, material_external_id="deck-1\x1b")],
    "nul in memo": [_event(0, memo="a\x00b")],
    "number as key": [_event(0, event_id=12345)],
    "float as key": [_event(0, material_external_id=1.5)],
    "null time": [_event(0, viewed_at=None)],
    "no rep": [_event(0, rep_email=_GONE)],
    "no material": [_event(0, material_external_id=_GONE)],
    "bool duration": [_event(0, duration_seconds=True)],
}
REFUSED = {
    "bad time", "year 1", "negative", "unknown material", "other tenant's material",
    "other tenant's rep", "no partner", "bad email", "duplicate in chunk", "blank event id",
    "no event id", "long event id", "nul in memo", "null time", "no rep", "no material",
    "bool duration", "float as key", "year 9999", "control in key",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CHUNKS))
def test_the_fast_path_returns_what_the_row_by_row_validation_does_or_declines(tenant, world, name):
    chunk = list(enumerate(CHUNKS[name], start=2))
    with tenant_scope(tenant):
        lookups = _Lookups.load(tenant=tenant, chunks=[chunk])
    earlier = {"before": 1}  # an event_id seen in an earlier chunk of the batch
    slow_seen, slow_new, errors = dict(earlier), {}, []
    slow = material_views._validate(
        rows=chunk,
        lookups=lookups,
        tz=tenant.tzinfo,
        seen=slow_seen,
        new_reps=slow_new,
        errors=errors,
    )
    fast_seen, fast_new = dict(earlier), {}
    fast = material_views._validate_fast(
        chunk=chunk, lookups=lookups, tz=tenant.tzinfo, seen=fast_seen, new_reps=fast_new
    )
    assert bool(errors) == (name in REFUSED)
    if fast is None:
        # Declined: nothing of its own state changed; the row-by-row path decides.
        assert (fast_seen, fast_new) == (earlier, {})
        assert errors or name in {
            "tab in event id", "number as key",
        }  # fmt: skip
    else:
        assert not errors
        assert list(fast) == slow
        assert fast_seen == slow_seen
        assert list(fast_new.items()) == list(slow_new.items())  # in the same order


def test_the_fast_path_declines_an_event_id_of_an_earlier_chunk(tenant, world):
    chunk = list(enumerate([_event(0), _event(1)], start=2))
    with tenant_scope(tenant):
        lookups = _Lookups.load(tenant=tenant, chunks=[chunk])
    seen = {"e1": 1}
    assert (
        material_views._validate_fast(
            chunk=chunk, lookups=lookups, tz=tenant.tzinfo, seen=seen, new_reps={}
        )
        is None
    )
    assert seen == {"e1": 1}


def _rollups(tenant_id: int) -> tuple[dict, dict]:
    """The roll-ups once the views stored are folded in (storing views writes none)."""
    view_rollups_fold(tenant=Tenant._base_manager.get(pk=tenant_id))
    days = {
        (r.rep_id, r.day): r.views for r in RepViewDay._base_manager.filter(tenant_id=tenant_id)
    }
    spans = {
        (r.rep_id, r.material_id): (r.first_viewed_at, r.last_viewed_at)
        for r in RepMaterialSpan._base_manager.filter(tenant_id=tenant_id)
    }
    return days, spans


def _recomputed(tenant_id: int) -> tuple[dict, dict]:
    days: dict = {}
    spans: dict = {}
    for rep, material, at in MaterialView._base_manager.filter(tenant_id=tenant_id).values_list(
        "rep_id", "material_id", "viewed_at"
    ):
        key = (rep, at.astimezone(dt.UTC).date())
        days[key] = days.get(key, 0) + 1
        first, last = spans.get((rep, material), (at, at))
        spans[(rep, material)] = (min(first, at), max(last, at))
    return days, spans


def _stored(tenant) -> list[tuple]:
    with tenant_scope(tenant):
        return sorted(
            MaterialView.objects.values_list(
                "event_id", "rep__email", "material__external_id", "viewed_at", "duration_seconds"
            )
        )


def _outcome(call):
    try:
        result = call()
    except IngestValidationError as exc:
        return ("refused", [(e.row, e.field, e.message) for e in exc.errors])
    return (
        result.created,
        result.duplicates,
        result.reps_created,
        [(e.row, e.field, e.message) for e in result.rejected],
    )


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(material_views, "CHUNK_ROWS", 3)


MIXED = [
    _event(0),
    _event(1, viewed_at="not a time"),
    _event(2, rep_email="hanako@tokyo.sample.co.jp"),
    _event(3),
    _event(0),  # a duplicate of row 0 in the batch
    _event(5, rep_email="ghost@nowhere.example"),
    _event(6),
    _event(7, rep_email="ken@sample.co.jp", viewed_at="bad"),  # names a new rep, refused
    _event(8, duration_seconds="x"),
    _event(9),
]


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_chunks_and_fast_path_report_and_store_what_the_row_by_row_path_does(
    tenant, other_tenant, world, small_chunks, monkeypatch, skip_invalid
):
    """New rows, then a replay mixing duplicates and invalid rows, then a batch half new:
    the same results, errors, views, reps and roll-ups as with the fast path switched
    off and one chunk for the whole batch."""
    batches = [
        [_event(n) for n in range(10, 17)],
        MIXED,
        MIXED,  # the replay: duplicates and the same invalid rows
        [_event(n) for n in range(14, 22)],  # half of them stored already
    ]

    def run_all():
        outcomes = []
        for batch in batches:
            rows = list(enumerate(batch))
            outcomes.append(
                _outcome(
                    lambda rows=rows: material_views_ingest(
                        tenant=tenant, rows=rows, skip_invalid=skip_invalid
                    )
                )
            )
        with tenant_scope(tenant):
            reps = sorted(Rep.objects.values_list("email", "external_id"))
        return outcomes, _stored(tenant), reps, _rollups(tenant.pk)

    fast = run_all()
    assert fast[3] == _recomputed(tenant.pk)
    # Again from nothing, row by row in one chunk.
    with tenant_scope(tenant), connection.cursor() as cursor:
        cursor.execute("DELETE FROM activities_materialview WHERE tenant_id = %s", [tenant.pk])
        Rep.objects.exclude(pk=world["rep"].pk).delete()
    monkeypatch.setattr(material_views, "CHUNK_ROWS", 10_000)
    monkeypatch.setattr(material_views, "_validate_fast", lambda **kwargs: None)
    slow = run_all()
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]
    assert slow[3] == _recomputed(tenant.pk)
    # Not vacuous: rows were stored, some refused, and the replay stored nothing new.
    if skip_invalid:
        assert fast[0][1][0] > 0 and fast[0][2][0] == 0 and fast[0][1][3]
    else:
        assert fast[0][1][0] == "refused"
    assert _stored(other_tenant) == []


def test_an_invalid_row_in_a_later_chunk_rolls_back_the_chunks_stored_before(
    tenant, world, small_chunks
):
    rows = list(
        enumerate(
            [_event(n) for n in range(7)]
            + [_event(7, rep_email="new@sample.co.jp"), _event(8), _event(9, viewed_at="x")]
        )
    )
    with pytest.raises(IngestValidationError) as exc:
        material_views_ingest(tenant=tenant, rows=rows)
    assert exc.value.errors == [
        RowError(9, "viewed_at", exc.value.errors[0].message),
    ]
    assert _stored(tenant) == []
    assert _rollups(tenant.pk) == ({}, {})
    with tenant_scope(tenant):
        assert not Rep.objects.filter(email="new@sample.co.jp").exists()


def test_chunks_sum_up_and_the_roll_ups_stay_exact(tenant, world, small_chunks):
    rows = list(enumerate([_event(n) for n in range(20)]))
    first = material_views_ingest(tenant=tenant, rows=rows)
    assert (first.created, first.duplicates, first.rep_ids) == (20, 0, [world["rep"].pk])
    again = material_views_ingest(tenant=tenant, rows=rows)
    assert (again.created, again.duplicates, again.rep_ids) == (0, 20, [])
    assert len(_stored(tenant)) == 20
    if connection.vendor == "postgresql":
        assert _rollups(tenant.pk) == _recomputed(tenant.pk)
        # A view inside a span leaves it as it is; one outside widens it.
        inside = _event(100, viewed_at="2026-03-10T00:30:00+09:00")
        outside = _event(101, viewed_at="2026-04-30T00:30:00+09:00")
        material_views_ingest(tenant=tenant, rows=list(enumerate([inside, outside])))
        assert _rollups(tenant.pk) == _recomputed(tenant.pk)


def _csv_like(rows: list[dict]) -> bool:
    """Whether ``rows`` could come from one CSV file: the same fields, all text."""
    return all(r.keys() == rows[0].keys() for r in rows) and all(
        v.__class__ is str for r in rows for v in r.values()
    )


@pytest.mark.parametrize("name", sorted(n for n, rows in CHUNKS.items() if _csv_like(rows)))
def test_the_column_check_of_a_file_returns_what_the_row_by_row_validation_does_or_declines(
    tenant, world, name
):
    """``_validate_columns`` on the columns of a CSV file, as ``ColumnChunk`` holds them."""
    chunk = list(enumerate(CHUNKS[name], start=2))
    columns = ColumnChunk(
        [n for n, _row in chunk], {key: [row[key] for _n, row in chunk] for key in chunk[0][1]}
    )
    assert columns.rows() == chunk
    with tenant_scope(tenant):
        lookups = _Lookups.load(tenant=tenant, chunks=None)
    slow_seen, slow_new, errors = {"before": 1}, {}, []
    slow = material_views._validate(
        rows=chunk, lookups=lookups, tz=tenant.tzinfo, seen=slow_seen, new_reps=slow_new,
        errors=errors,
    )  # fmt: skip
    fast_seen, fast_new = {"before": 1}, {}
    fast = material_views._validate_columns(
        numbers=columns.numbers,
        columns=columns.columns,
        lookups=lookups,
        tz=tenant.tzinfo,
        seen=fast_seen,
        new_reps=fast_new,
    )
    assert bool(errors) == (name in REFUSED)
    if fast is None:
        assert (fast_seen, fast_new) == ({"before": 1}, {})
        assert errors or name == "tab in event id"
    else:
        assert (list(fast), fast_seen, list(fast_new.items())) == (
            slow,
            slow_seen,
            list(slow_new.items()),
        )


def test_a_key_resolved_in_one_chunk_is_read_from_the_same_column_in_the_next(
    tenant, world, small_chunks
):
    """The check remembers the reps a chunk's keys named for the batch's later chunks,
    by the column they came from: an email and an external id may be the same text."""
    twin = RepFactory(
        partner=world["rep"].partner, email="twin@sample.co.jp", external_id="taro@sample.co.jp"
    )
    rows = list(
        enumerate(
            [_event(n) for n in range(3)]  # by rep_email: taro
            + [_event(n, rep_email=_GONE, rep_external_id="taro@sample.co.jp") for n in range(3, 6)]
        )
    )
    material_views_ingest(tenant=tenant, rows=rows)
    with tenant_scope(tenant):
        reps = dict(MaterialView.objects.values_list("event_id", "rep_id"))
    assert reps == {f"e{n}": world["rep"].pk if n < 3 else twin.pk for n in range(6)}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's COPY path")
def test_a_chunk_that_starts_with_stored_rows_sends_only_the_others(tenant, world, monkeypatch):
    """``_not_stored``: a replayed chunk is probed, and what it leaves is exactly the rows
    not stored; a chunk of new rows is left whole. An event_id holding the separator of
    the probe's string (never a valid one) falls back to a plain array."""
    stored = list(enumerate([_event(n) for n in range(4)]))
    material_views_ingest(tenant=tenant, rows=stored)
    rep, material = world["rep"].pk, 1
    at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

    def rows(*event_ids):
        return [(e, rep, material, at, 0) for e in event_ids]

    table = MaterialView._meta.db_table
    with tenant_scope(tenant), connection.cursor() as cursor:

        def left(batch):
            return [r[0] for r in _not_stored(cursor, table=table, tenant_id=tenant.pk, rows=batch)]

        assert left(rows("e0", "new-1", "e2", "new-2", "new\x1f3")) == [
            "new-1",
            "new-2",
            "new\x1f3",
        ]
        assert left(rows("e0", "e1", "e3", "new\t4")) == ["new\t4"]
        assert left(rows("e0", "e1", "e2", "e3")) == []
        monkeypatch.setattr(material_view_store, "_SAMPLE", 1)
        assert left(rows("new-5", "e0")) == ["new-5", "e0"]  # the sample saw new rows
    # Through the ingestion: a batch half stored stores the other half, once.
    again = material_views_ingest(
        tenant=tenant, rows=list(enumerate([_event(n) for n in range(2, 8)]))
    )
    assert (again.created, again.duplicates) == (4, 2)
    assert len(_stored(tenant)) == 8
    assert _rollups(tenant.pk) == _recomputed(tenant.pk)


def test_the_column_check_builds_only_the_rows_it_is_asked_for(tenant, world, monkeypatch):
    """``CheckedRows``: the check attaches no zone and makes no row; the rows taken, or
    all of them, are the row-by-row validation's."""
    chunk = list(enumerate(CHUNKS["plain"], start=2))
    with tenant_scope(tenant):
        lookups = _Lookups.load(tenant=tenant, chunks=[chunk])
    slow = material_views._validate(
        rows=chunk, lookups=lookups, tz=tenant.tzinfo, seen={}, new_reps={}, errors=[]
    )
    attached = []
    aware = material_views._aware
    monkeypatch.setattr(
        material_views, "_aware", lambda parsed, tz: attached.append(parsed) or aware(parsed, tz)
    )
    fast = material_views._validate_fast(
        chunk=chunk, lookups=lookups, tz=tenant.tzinfo, seen={}, new_reps={}
    )
    assert (len(fast), attached) == (6, [])
    assert fast.event_ids == [row[0] for row in slow]
    assert fast.take([4, 1]) == [slow[4], slow[1]]
    assert len(attached) == 2
    assert (list(fast), fast[2], fast[1:3]) == (slow, slow[2], slow[1:3])
    assert fast.take([5, 0]) == [slow[5], slow[0]]
    assert len(attached) == 2 + 6  # every row once, the two taken before them again


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's COPY path")
def test_a_replayed_batch_builds_none_of_its_rows(tenant, world, monkeypatch):
    rows = list(enumerate([_event(n) for n in range(6)]))
    assert material_views_ingest(tenant=tenant, rows=rows).created == 6
    attached = []
    aware = material_views._aware
    monkeypatch.setattr(
        material_views, "_aware", lambda parsed, tz: attached.append(parsed) or aware(parsed, tz)
    )
    again = material_views_ingest(tenant=tenant, rows=[*rows, (6, _event(6))])
    assert (again.created, again.duplicates) == (1, 6)
    assert len(attached) == 1  # the new row's time only
    assert len(_stored(tenant)) == 7


def _spy_on_ranges(monkeypatch) -> list:
    answers = []
    real = material_view_store._stored_in_range

    def spied(*args, **kwargs):
        answers.append(real(*args, **kwargs))
        return answers[-1]

    monkeypatch.setattr(material_view_store, "_stored_in_range", spied)
    return answers


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's COPY path")
@pytest.mark.parametrize("range_read", [2, 1, 0])
def test_a_replayed_chunk_is_answered_alike_by_its_range_or_by_probes(
    tenant, other_tenant, world, monkeypatch, range_read
):
    """A replayed chunk reads the stored event_ids between its least and greatest, the
    tenant's only, when there are at most ``_RANGE_READ`` times its rows; else one probe
    per row. Either way the rows left are exactly those not stored."""
    material_views_ingest(tenant=tenant, rows=list(enumerate([_event(n) for n in range(6)])))
    other = {"rep_email": "jiro@sample.co.jp", "material_external_id": "deck-9"}
    material_views_ingest(tenant=other_tenant, rows=[(0, _event(0, event_id="new-1", **other))])
    monkeypatch.setattr(material_view_store, "_RANGE_READ", range_read)
    answers = _spy_on_ranges(monkeypatch)
    at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    batch = [(e, world["rep"].pk, 1, at, 0) for e in ("e0", "new-1", "e2", "e5")]
    with tenant_scope(tenant), connection.cursor() as cursor:
        left = _not_stored(
            cursor, table=MaterialView._meta.db_table, tenant_id=tenant.pk, rows=batch
        )
    assert [row[0] for row in left] == ["new-1"]
    # The range [e0, new-1] holds the tenant's six: within 2 × 4, not within 1 × 4.
    assert answers == ([{f"e{n}" for n in range(6)}] if range_read == 2 else [None])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's COPY path")
def test_a_stored_event_id_holding_the_separator_leaves_the_chunk_to_the_probes(
    tenant, world, monkeypatch
):
    """No valid event_id holds the range's separator; one written some other way would
    split into ids never stored, and its chunk's rows be skipped: the probes answer."""
    material_views_ingest(tenant=tenant, rows=list(enumerate([_event(n) for n in range(3)])))
    with tenant_scope(tenant):
        MaterialView.objects.create(
            tenant=tenant,
            rep=world["rep"],
            material=Material.objects.get(external_id="deck-1"),
            event_id="e1\x1fnew-9",
            viewed_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        )
    answers = _spy_on_ranges(monkeypatch)
    at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    batch = [(e, world["rep"].pk, 1, at, 0) for e in ("e0", "e2", "new-9")]
    with tenant_scope(tenant), connection.cursor() as cursor:
        left = _not_stored(
            cursor, table=MaterialView._meta.db_table, tenant_id=tenant.pk, rows=batch
        )
    assert [row[0] for row in left] == ["new-9"]
    assert answers == [None]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's COPY path")
def test_replayed_chunks_after_a_new_rep_build_none_of_their_rows(
    tenant, world, small_chunks, monkeypatch
):
    """The rep ids of reps created in the batch go into the rows as they are built, so the
    chunks after the first new rep stay unbuilt until stored (a replayed one never is)."""
    stored = [(n, _event(n)) for n in range(3, 9)]
    material_views_ingest(tenant=tenant, rows=stored)
    attached = []
    aware = material_views._aware
    monkeypatch.setattr(
        material_views, "_aware", lambda parsed, tz: attached.append(parsed) or aware(parsed, tz)
    )
    new = [(0, _event(0, rep_email="hanako@sample.co.jp")), (1, _event(1)), (2, _event(2))]
    again = material_views_ingest(tenant=tenant, rows=[*new, *stored])
    assert (again.created, again.duplicates, again.reps_created) == (3, 6, 1)
    assert len(attached) == 3  # the first chunk's rows, not the two replayed chunks'
    with tenant_scope(tenant):
        hanako = Rep.objects.get(email="hanako@sample.co.jp")
        assert MaterialView.objects.get(event_id="e0").rep_id == hanako.pk


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's COPY path")
@pytest.mark.parametrize("range_read", [2, 0])
def test_a_batch_stops_reading_ranges_once_one_did_not_answer(
    tenant, world, small_chunks, monkeypatch, range_read
):
    """Random ids would miss the bound in every chunk: after the first miss the batch's
    later chunks go straight to the probes, with the same result."""
    rows = [(n, _event(n)) for n in range(9)]
    material_views_ingest(tenant=tenant, rows=rows)
    monkeypatch.setattr(material_view_store, "_RANGE_READ", range_read)
    answers = _spy_on_ranges(monkeypatch)
    again = material_views_ingest(tenant=tenant, rows=[*rows, (9, _event(9))])
    assert (again.created, again.duplicates) == (1, 9)
    assert len(_stored(tenant)) == 10
    # Chunks of three: e0–e2, e3–e5, e6–e8, then e9 alone (new: no range asked).
    assert [a is not None for a in answers] == ([True] * 3 if range_read else [False])
