"""``import_views`` and the ingestion service it shares with the API."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.core.management import CommandError, call_command

from activities.models import MaterialView
from activities.services.material_view_csv import IngestValidationError, iter_csv_rows
from activities.services.material_views import material_views_ingest
from activities.signals import material_views_ingested
from reps.models import Rep
from tests.activities.factories import MaterialFactory, MaterialViewFactory
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db

HEADER = "event_id,rep_email,material_external_id,viewed_at,duration_seconds\n"
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


@pytest.fixture
def world(tenant, other_tenant):
    """A partner with a domain, a known rep and a material in ``tenant``; look-alikes in
    ``other_tenant`` that must never be matched or written to."""
    partner = PartnerFactory(tenant=tenant, name="株式会社サンプル")
    PartnerDomainFactory(partner=partner, domain="sample.co.jp")
    rep = RepFactory(
        partner=partner, name="山田 太郎", email="taro@sample.co.jp", external_id="u-1"
    )
    material = MaterialFactory(tenant=tenant, external_id="deck-1", url="https://cdn.example/d1")
    other_partner = PartnerFactory(tenant=other_tenant)
    PartnerDomainFactory(partner=other_partner, domain="other.example")
    RepFactory(partner=other_partner, email="taro@sample.co.jp")
    MaterialFactory(tenant=other_tenant, external_id="deck-1")
    return {"partner": partner, "rep": rep, "material": material}


def _write(tmp_path, text: str, *, encoding: str = "utf-8", name: str = "views.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _rows(tenant):
    from pse_crm.tenancy import tenant_scope

    with tenant_scope(tenant):
        return list(
            MaterialView.objects.order_by("event_id").values_list(
                "event_id", "rep__email", "material__external_id", "viewed_at", "duration_seconds"
            )
        )


def test_happy_path_stores_views_and_creates_a_rep_from_a_partner_domain(
    tenant, other_tenant, world, tmp_path, capsys
):
    path = _write(
        tmp_path,
        HEADER
        + "e1,Taro@Sample.co.jp,deck-1,2026-03-01T10:00:00,30\n"
        + "e2,hanako@tokyo.sample.co.jp,deck-1,2026-03-01T01:00:00Z,0\n",
    )
    call_command("import_views", str(path), tenant="acme", source="platform")
    out = capsys.readouterr().out
    assert "Imported 2 new view(s)" in out
    assert "1 new rep(s)" in out
    rows = _rows(tenant)
    assert rows == [
        ("e1", "taro@sample.co.jp", "deck-1", dt.datetime(2026, 3, 1, 10, tzinfo=TOKYO), 30),
        ("e2", "hanako@tokyo.sample.co.jp", "deck-1", dt.datetime(2026, 3, 1, 1, tzinfo=dt.UTC), 0),
    ]
    from pse_crm.tenancy import tenant_scope

    with tenant_scope(tenant):
        new_rep = Rep.objects.get(email="hanako@tokyo.sample.co.jp")
        assert new_rep.partner == world["partner"]
        assert set(MaterialView.objects.values_list("source", flat=True)) == {"platform"}
    assert _rows(other_tenant) == []


def test_replaying_a_file_adds_nothing(tenant, world, tmp_path, capsys):
    path = _write(tmp_path, HEADER + "e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,30\n")
    call_command("import_views", str(path), tenant="acme")
    call_command("import_views", str(path), tenant="acme")
    assert "Imported 0 new view(s)" in capsys.readouterr().out
    assert len(_rows(tenant)) == 1


def test_same_event_id_in_another_tenant_is_a_separate_view(tenant, other_tenant, world, tmp_path):
    MaterialViewFactory(rep__partner__tenant=other_tenant, event_id="e1")
    path = _write(tmp_path, HEADER + "e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,30\n")
    call_command("import_views", str(path), tenant="acme")
    assert [r[0] for r in _rows(tenant)] == ["e1"]
    assert [r[0] for r in _rows(other_tenant)] == ["e1"]


def test_rep_external_id_and_material_url_columns(tenant, world, tmp_path):
    path = _write(
        tmp_path,
        "event_id,rep_external_id,material_url,viewed_at,duration_seconds\n"
        "e1,u-1,https://cdn.example/d1,2026-03-01T10:00:00+09:00,12\n",
    )
    call_command("import_views", str(path), tenant="acme")
    assert _rows(tenant)[0][:3] == ("e1", "taro@sample.co.jp", "deck-1")


BAD_ROWS = [
    ("e9,taro@sample.co.jp,deck-1,2026-03-01T10:00:00\n", "", "Expected 5 columns"),
    ("e9,taro@sample.co.jp,deck-1,yesterday,5\n", "viewed_at", "ISO 8601"),
    ("e9,nobody@unknown.example,deck-1,2026-03-01T10:00:00,5\n", "rep_email", "no partner"),
    ("e9,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,-5\n", "duration_seconds", "negative"),
    ("e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,5\n", "event_id", "Duplicate"),
    ("e9,taro@sample.co.jp,nope,2026-03-01T10:00:00,5\n", "material_external_id", "Unknown"),
    (",taro@sample.co.jp,deck-1,2026-03-01T10:00:00,5\n", "event_id", "Required"),
]


@pytest.mark.parametrize(("bad", "field", "reason"), BAD_ROWS)
def test_a_bad_row_writes_nothing_and_is_reported_with_its_line(
    tenant, world, tmp_path, capsys, bad, field, reason
):
    path = _write(
        tmp_path,
        HEADER
        + "e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,30\n"
        + "e2,new@sample.co.jp,deck-1,2026-03-01T10:00:00,30\n"
        + bad,
    )
    with pytest.raises(CommandError, match="1 invalid row"):
        call_command("import_views", str(path), tenant="acme")
    err = capsys.readouterr().err
    expected = f"line 4: {field}: " if field else "line 4: "
    assert expected in err
    assert reason in err
    assert _rows(tenant) == []
    from pse_crm.tenancy import tenant_scope

    with tenant_scope(tenant):
        assert not Rep.objects.filter(email="new@sample.co.jp").exists()


def test_every_invalid_row_is_listed(tenant, world, tmp_path, capsys):
    path = _write(
        tmp_path,
        HEADER
        + "e1,taro@sample.co.jp,deck-1,bad,30\n"
        + "e2,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,30\n"
        + "e3,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,x\n",
    )
    with pytest.raises(CommandError, match="2 invalid row"):
        call_command("import_views", str(path), tenant="acme")
    err = capsys.readouterr().err
    assert "line 2: viewed_at:" in err
    assert "line 4: duration_seconds:" in err
    assert "line 3" not in err


def test_missing_column_in_the_header_is_refused(tenant, world, tmp_path, capsys):
    path = _write(
        tmp_path,
        "event_id,rep_email,material_external_id,duration_seconds\n"
        "e1,taro@sample.co.jp,deck-1,30\n",
    )
    with pytest.raises(CommandError):
        call_command("import_views", str(path), tenant="acme")
    assert "line 1: viewed_at: Missing column" in capsys.readouterr().err
    assert _rows(tenant) == []


def test_skip_invalid_writes_the_valid_rows_and_a_report_beside_the_input(
    tenant, world, tmp_path, capsys
):
    path = _write(
        tmp_path,
        HEADER
        + "e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,30\n"
        + "e2,taro@sample.co.jp,deck-1,not-a-date,30\n"
        + "e3,ghost@nowhere.example,deck-1,2026-03-01T10:00:00,30\n"
        + "e4,taro@sample.co.jp,deck-1,2026-03-02T10:00:00,45\n",
    )
    call_command("import_views", str(path), tenant="acme", skip_invalid=True)
    assert "2 row(s) rejected" in capsys.readouterr().out
    assert [r[0] for r in _rows(tenant)] == ["e1", "e4"]
    report = (tmp_path / "views.rejected.csv").read_text(encoding="utf-8-sig").splitlines()
    assert report[0].startswith("line,field,reason,event_id")
    assert report[1].startswith("3,viewed_at,")
    assert ",e2," in report[1]
    assert report[2].startswith("4,rep_email,")
    assert len(report) == 3


def test_shift_jis_file(tenant, world, tmp_path):
    RepFactory(partner=world["partner"], name="佐藤 花子", email="hanako@sample.co.jp")
    path = _write(
        tmp_path,
        "event_id,rep_email,material_external_id,viewed_at,duration_seconds,メモ\n"
        "e1,hanako@sample.co.jp,deck-1,2026-03-01 10:00:00,30,提案書を閲覧\n",
        encoding="shift_jis",
    )
    call_command("import_views", str(path), tenant="acme")
    assert [r[:2] for r in _rows(tenant)] == [("e1", "hanako@sample.co.jp")]


def test_utf8_with_bom(tenant, world, tmp_path):
    path = _write(
        tmp_path,
        "\ufeff" + HEADER + "e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,30\n",
    )
    call_command("import_views", str(path), tenant="acme")
    assert len(_rows(tenant)) == 1


def test_a_wrong_encoding_is_a_clear_error(tenant, world, tmp_path, capsys):
    path = tmp_path / "views.csv"
    path.write_bytes(HEADER.encode() + b"e1,taro@sample.co.jp,deck-1,2026-03-01,\x80\x80\n")
    with pytest.raises(CommandError):
        call_command("import_views", str(path), tenant="acme")
    assert "neither UTF-8 nor Shift_JIS" in capsys.readouterr().err
    path.write_bytes(HEADER.encode("utf-16"))
    with pytest.raises(CommandError):
        call_command("import_views", str(path), tenant="acme")
    assert "UTF-16" in capsys.readouterr().err


def test_unknown_tenant(tmp_path):
    path = _write(tmp_path, HEADER)
    with pytest.raises(CommandError, match="Unknown tenant"):
        call_command("import_views", str(path), tenant="nope")


# --- the service, as the API calls it ---------------------------------------------------


def test_service_json_rows_counts_created_and_duplicates(tenant, world):
    rows = [
        (0, {"event_id": "a", "rep_email": "taro@sample.co.jp", "material_external_id": "deck-1",
             "viewed_at": "2026-03-01T10:00:00Z", "duration_seconds": 5}),
        (1, {"event_id": "b", "rep_external_id": "u-1", "material_url": "https://cdn.example/d1",
             "viewed_at": dt.datetime(2026, 3, 2, 9, 0), "duration_seconds": 7.0}),
    ]  # fmt: skip
    first = material_views_ingest(tenant=tenant, rows=rows, source="api")
    assert (first.created, first.duplicates, first.rep_ids) == (2, 0, [world["rep"].pk])
    again = material_views_ingest(tenant=tenant, rows=rows, source="api")
    assert (again.created, again.duplicates, again.rep_ids) == (0, 2, [])
    assert _rows(tenant)[1][3] == dt.datetime(2026, 3, 2, 9, tzinfo=TOKYO)


def test_service_reports_one_error_per_bad_record_with_its_index(tenant, world):
    rows = [
        (0, {"event_id": "a", "rep_email": "taro@sample.co.jp", "material_external_id": "deck-1",
             "viewed_at": "2026-03-01T10:00:00Z"}),
        (1, {"event_id": "b", "rep_email": "taro@sample.co.jp", "material_external_id": "deck-1",
             "viewed_at": "2026-03-01T10:00:00Z", "duration_seconds": True}),
        (2, {"event_id": "a", "rep_email": "taro@sample.co.jp", "material_external_id": "deck-1",
             "viewed_at": "2026-03-01T10:00:00Z"}),
        (3, {"event_id": "c", "material_external_id": "deck-1", "viewed_at": "2026-03-01"}),
    ]  # fmt: skip
    with pytest.raises(IngestValidationError) as exc:
        material_views_ingest(tenant=tenant, rows=rows)
    assert [(e.row, e.field) for e in exc.value.errors] == [
        (1, "duration_seconds"),
        (2, "event_id"),
        (3, "rep_email"),
    ]
    assert _rows(tenant) == []


def test_service_sends_the_signal_on_commit_with_the_new_views(
    tenant, world, django_capture_on_commit_callbacks
):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    material_views_ingested.connect(receiver)
    try:
        rows = list(
            iter_csv_rows(
                (
                    HEADER
                    + "e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,30\n"
                    + "e2,taro@sample.co.jp,deck-1,2026-03-05T10:00:00,30\n"
                ).encode()
            )
        )
        with django_capture_on_commit_callbacks(execute=True):
            material_views_ingest(tenant=tenant, rows=rows)
        with django_capture_on_commit_callbacks(execute=True):
            material_views_ingest(tenant=tenant, rows=rows)  # replay: no new views, no signal
    finally:
        material_views_ingested.disconnect(receiver)
    assert len(received) == 1
    assert received[0]["tenant_id"] == tenant.pk
    assert received[0]["rep_ids"] == [world["rep"].pk]
    assert received[0]["first_viewed_at"] == dt.datetime(2026, 3, 1, 10, tzinfo=TOKYO)
    assert received[0]["last_viewed_at"] == dt.datetime(2026, 3, 5, 10, tzinfo=TOKYO)


def test_service_large_batch_resolves_reps_and_materials_with_one_query_each(tenant, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rows = [
        (i, {"event_id": f"e{i}", "rep_email": f"r{i % 700}@sample.co.jp",
             "material_external_id": "deck-1", "viewed_at": "2026-03-01T10:00:00Z"})
        for i in range(3000)
    ]  # fmt: skip
    with CaptureQueriesContext(connection) as ctx:
        result = material_views_ingest(tenant=tenant, rows=rows)
    assert (result.created, result.reps_created) == (3000, 700)
    selects = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    rep_lookups = [q for q in selects if 'FROM "reps_rep"' in q and "LIMIT" not in q]
    assert len(rep_lookups) == 1
    assert len([q for q in selects if 'FROM "activities_material"' in q]) == 1


def test_service_works_as_the_application_role_under_row_level_security(tenant, world):
    """PostgreSQL: the COPY and INSERT … SELECT path passes the tenant wall policies."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row-level security is PostgreSQL-only")
    from tests.hardening.conftest import acting_as_app_role

    rows = list(
        iter_csv_rows((HEADER + "e1,taro@sample.co.jp,deck-1,2026-03-01T10:00:00,30\n").encode())
    )
    with acting_as_app_role():
        first = material_views_ingest(tenant=tenant, rows=rows)
        again = material_views_ingest(tenant=tenant, rows=rows)
    assert (first.created, again.duplicates) == (1, 1)
    assert [r[0] for r in _rows(tenant)] == ["e1"]


def test_service_stores_event_ids_with_special_characters_exactly(tenant, world):
    odd = ["tab\there", "back\\slash", "new\nline", "日本語-イベント"]
    rows = [
        (i, {"event_id": e, "rep_email": "taro@sample.co.jp", "material_external_id": "deck-1",
             "viewed_at": "2026-03-01T10:00:00Z", "duration_seconds": "０１２"})
        for i, e in enumerate(odd)
    ]  # fmt: skip
    assert material_views_ingest(tenant=tenant, rows=rows).created == 4
    assert material_views_ingest(tenant=tenant, rows=rows).duplicates == 4
    assert sorted(r[0] for r in _rows(tenant)) == sorted(odd)
    assert {r[4] for r in _rows(tenant)} == {12}
    with pytest.raises(IngestValidationError) as exc:
        material_views_ingest(tenant=tenant, rows=[(0, {**rows[0][1], "event_id": "a\x00b"})])
    assert exc.value.errors[0].field == "event_id"
