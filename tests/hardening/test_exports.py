"""Formula injection: a name a spreadsheet would run (``=HYPERLINK(...)``, ``+1``, ``@SUM``)
comes out of every CSV and Excel export as text, prefixed with ``'`` (OWASP).

Numbers stay numbers: a negative amount is not text to escape.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from import_export.formats.base_formats import XLSX
from openpyxl import load_workbook

from partners.models import Partner
from partners.resources import PartnerResource
from pse_crm.exports import spreadsheet_safe
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from reps.resources import RepResource
from tests.activities.factories import MaterialFactory
from tests.factories import MembershipFactory
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.factories import RepSegmentFactory, SegmentationRunFactory

pytestmark = pytest.mark.django_db

NAMES = ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
ESCAPED = sorted("'" + name for name in NAMES)
RIVAL = "=Rival(1)"

PARTNER_FIELDS = ("name", "external_id", "partner_type", "program_tier", "competing_products",
                  "status", "contract_start", "notes", "email_domains")  # fmt: skip
REP_FIELDS = ("name", "email", "partner", "external_id", "salesforce_user_id", "title",
              "hire_type", "started_at_partner", "influence", "is_employed", "notes")  # fmt: skip


@pytest.fixture
def world(tenant, other_tenant):
    """Per name: a partner, its rep and a segment of the current run (a negative won
    amount); the other tenant has a formula-named rep that must not appear."""
    run = SegmentationRunFactory(tenant=tenant)
    for i, name in enumerate(NAMES):
        partner = PartnerFactory(tenant=tenant, name=name, notes=name, competing_products=i)
        rep = RepFactory(partner=partner, name=name, title=name, email=f"r{i}@p.example")
        RepSegmentFactory(rep=rep, run=run, won_amount=Decimal(f"-{i + 1}500.00"), score=i)
    rival = RepFactory(partner=PartnerFactory(tenant=other_tenant, name=RIVAL), name=RIVAL)
    RepSegmentFactory(rep=rival, run=SegmentationRunFactory(tenant=other_tenant))


@pytest.fixture
def owner_admin(client, tenant):
    """A tenant owner with staff status, in the admin."""
    client.force_login(MembershipFactory(tenant=tenant, role=Role.OWNER, user__is_staff=True).user)
    return client


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def _cells(content: bytes):
    return [cell for row in load_workbook(io.BytesIO(content)).active.iter_rows() for cell in row]


def _xml_text(values) -> list[str]:
    # XML reads a bare carriage return in cell text back as a line feed.
    return sorted(v.replace("\r", "\n") for v in values)


@pytest.mark.parametrize("value", NAMES)
def test_a_text_a_spreadsheet_would_run_is_prefixed(value):
    assert spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["株式会社アオバ", "a=b", "x-1", "", None, -3, -2.5, Decimal("-1500.00")]
)
def test_plain_text_and_numbers_are_left_alone(value):
    assert spreadsheet_safe(value) == value


def test_keymen_csv_prefixes_rep_and_partner_names_and_keeps_amounts(manager_client, world):
    response = manager_client.get(reverse("keymen-export", args=["csv"]))
    rows = _csv(b"".join(response.streaming_content).decode("utf-8"))
    assert sorted(r["Rep"] for r in rows) == ESCAPED
    assert sorted(r["Partner"] for r in rows) == ESCAPED
    assert sorted(r["Won amount (JPY)"] for r in rows) == sorted(
        f"-{i + 1}500.00" for i in range(len(NAMES))
    )
    assert not any(RIVAL in value for r in rows for value in r.values())


def test_keymen_xlsx_has_no_formula_cells_only_prefixed_text(manager_client, world):
    response = manager_client.get(reverse("keymen-export", args=["xlsx"]))
    cells = _cells(response.content)
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    by_column = {}
    for c in cells[1:]:
        by_column.setdefault(c.column, []).append(c)
    header = [c.value for c in cells if c.row == 1]
    rep, partner, amount = (header.index(h) + 1 for h in ("Rep", "Partner", "Won amount (JPY)"))
    assert _xml_text(c.value for c in by_column[rep] if c.row > 1) == _xml_text(ESCAPED)
    assert _xml_text(c.value for c in by_column[partner] if c.row > 1) == _xml_text(ESCAPED)
    amounts = [c for c in by_column[amount] if c.row > 1]
    assert {c.data_type for c in amounts} == {"n"}
    assert sorted(c.value for c in amounts) == sorted(-float(f"{i + 1}500") for i in range(6))
    assert RIVAL not in {c.value for c in cells}


def test_keymen_xlsx_writes_every_name_as_a_string(manager_client, tenant):
    # "#N/A" is no formula, but openpyxl would store it as an error cell, not the name.
    rep = RepFactory(partner=PartnerFactory(tenant=tenant), name="#N/A")
    RepSegmentFactory(rep=rep, run=SegmentationRunFactory(tenant=tenant))
    response = manager_client.get(reverse("keymen-export", args=["xlsx"]))
    name = next(c for c in _cells(response.content) if c.row == 2 and c.column == 1)
    assert (name.value, name.data_type) == ("#N/A", "s")


def test_admin_partner_csv_export_prefixes_names(owner_admin, world):
    response = owner_admin.post(
        reverse("admin:partners_partner_export"),
        {"format": "0", "resource": "0", **{f"partnerresource_{f}": "on" for f in PARTNER_FIELDS}},
    )
    assert response.status_code == 200
    rows = _csv(response.content.decode("utf-8"))
    assert sorted(r["name"] for r in rows) == ESCAPED
    assert sorted(r["notes"] for r in rows) == ESCAPED
    assert sorted(r["competing_products"] for r in rows) == [str(i) for i in range(6)]
    assert RIVAL not in response.content.decode("utf-8")


def test_admin_rep_csv_export_prefixes_names_and_partner_names(owner_admin, world):
    response = owner_admin.post(
        reverse("admin:reps_rep_export"),
        {"format": "0", "resource": "0", **{f"represource_{f}": "on" for f in REP_FIELDS}},
    )
    assert response.status_code == 200
    rows = _csv(response.content.decode("utf-8"))
    for column in ("name", "partner", "title"):
        assert sorted(r[column] for r in rows) == ESCAPED, column
    assert RIVAL not in response.content.decode("utf-8")


@pytest.mark.parametrize("resource_class", [PartnerResource, RepResource])
def test_the_admin_resources_xlsx_has_no_formula_cells(tenant, world, resource_class):
    # The admin offers CSV only; the resources' protection holds in the library's XLSX too.
    with tenant_scope(tenant):
        content = XLSX().export_data(resource_class(tenant=tenant).export())
    cells = _cells(content)
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    names = [c.value for c in cells if c.column == 1 and c.row > 1]
    assert _xml_text(names) == _xml_text(ESCAPED)


def test_a_number_column_of_a_resource_is_not_escaped(tenant):
    # A negative number renders as the text "-3" in a CSV export: it stays "-3".
    partner = Partner(tenant=tenant, name="-1 Partner", competing_products=-3)
    with tenant_scope(tenant):
        dataset = PartnerResource(tenant=tenant).export(
            queryset=[partner], export_fields=["name", "competing_products"]
        )
    assert dataset.dict == [{"name": "'-1 Partner", "competing_products": "-3"}]


def test_import_views_report_prefixes_the_echoed_material(tenant, tmp_path):
    partner = PartnerFactory(tenant=tenant)
    PartnerDomainFactory(partner=partner, domain="sample.co.jp")
    MaterialFactory(tenant=tenant, external_id="deck-1")
    upload = io.StringIO()
    writer = csv.writer(upload)
    writer.writerow(["event_id", "rep_email", "material_external_id", "viewed_at"])
    for i, name in enumerate(NAMES):
        writer.writerow([f"e{i}", "taro@sample.co.jp", name, "2026-03-01T10:00:00"])
    path = tmp_path / "views.csv"
    path.write_text(upload.getvalue(), encoding="utf-8")
    call_command("import_views", str(path), tenant="acme", skip_invalid=True)
    with (tmp_path / "views.rejected.csv").open(encoding="utf-8-sig", newline="") as fh:
        report = _csv(fh.read())
    assert sorted(r["material_external_id"] for r in report) == ESCAPED
    assert all(r["reason"].startswith("Unknown material") for r in report)
