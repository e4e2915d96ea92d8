"""Tenant export, import and removal: all of one tenant's rows, nothing of another's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from activities.models import Deal
from partners.models import Partner
from pse_crm.models import Tenant, User
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from pse_crm.tenant_data import LEGACY_LABELS, tenant_counts, tenant_linked_models
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.deal_signals.factories import DealSignalFactory
from tests.factories import MembershipFactory, make_api_key
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.segmentation.factories import RepSegmentFactory, SegmentationRunFactory

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def _populate(tenant, n: int) -> None:
    run = SegmentationRunFactory(tenant=tenant)
    for i in range(n):
        partner = PartnerFactory(tenant=tenant, name=f"{tenant.slug} partner {i}")
        PartnerDomainFactory(tenant=tenant, partner=partner)
        deal = DealFactory(tenant=tenant, rep__partner=partner, partner=partner)
        MaterialViewFactory(tenant=tenant, rep=deal.rep, material__tenant=tenant)
        DealSignalFactory(tenant=tenant, rep=deal.rep, partner=partner)
        RepSegmentFactory(tenant=tenant, rep=deal.rep, partner=partner, run=run)
    MembershipFactory(tenant=tenant, role=Role.OWNER)
    make_api_key(tenant)


@pytest.fixture
def populated(tenant, other_tenant):
    _populate(tenant, 3)
    _populate(other_tenant, 2)
    # One person works for both vendors.
    shared = MembershipFactory(tenant=tenant, role=Role.MANAGER).user
    MembershipFactory(tenant=other_tenant, user=shared, role=Role.VIEWER)
    return tenant, other_tenant, shared


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def test_export_writes_every_row_of_the_tenant_and_none_of_another(populated, tmp_path):
    a, b, _ = populated
    out = tmp_path / "acme.zip"
    call_command("export_tenant", tenant=a.slug, out=str(out))
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        files = {n: json.loads(zf.read(n)) for n in zf.namelist() if n.startswith("data/")}
    expected = tenant_counts(a)
    # Roll-ups derived from the views are not exported (an import rebuilds them).
    derived = {m._meta.label for m in tenant_linked_models() if getattr(m, "is_derived", False)}
    assert derived and not derived & set(manifest["counts"])
    assert {k: manifest["counts"][k] for k in expected if k not in derived} == {
        k: v for k, v in expected.items() if k not in derived
    }
    assert manifest["counts"]["pse_crm.Tenant"] == 1
    assert manifest["counts"]["pse_crm.User"] == 2  # the owner and the shared manager
    assert expected["activities.Deal"] == 3 and expected["segmentation.RepSegment"] == 3
    for name, rows in files.items():
        assert len(rows) == manifest["counts"][name[5:-5]], name
        for row in rows:
            assert row["fields"].get("tenant", a.pk) == a.pk, f"{name}: another tenant's row"
    assert b.slug not in json.dumps(files)


def test_export_delete_import_restores_the_same_data(populated, tmp_path):
    a, b, shared = populated
    before_a, before_b = tenant_counts(a), tenant_counts(b)
    with tenant_scope(a):
        deals = sorted(Deal.objects.values_list("sf_id", "name", "rep__email", "partner__name"))
    out = tmp_path / "acme.zip"
    call_command("export_tenant", tenant=a.slug, out=str(out))
    call_command("delete_tenant", tenant=a.slug, yes=True)
    assert not Tenant.objects.filter(slug=a.slug).exists()

    call_command("import_tenant", str(out))
    restored = Tenant.objects.get(slug=a.slug)
    assert tenant_counts(restored) == before_a
    assert tenant_counts(b) == before_b
    with tenant_scope(restored):
        assert (
            sorted(Deal.objects.values_list("sf_id", "name", "rep__email", "partner__name"))
            == deals
        )
    # The shared member was kept by the deletion and linked again, not duplicated.
    assert User.objects.filter(email=shared.email).count() == 1
    # New rows get ids after the imported ones (the sequences were moved on).
    with tenant_scope(restored):
        newest = max(Partner.objects.values_list("pk", flat=True))
    assert PartnerFactory(tenant=restored).pk > newest


def _as_legacy_export(src: Path, dst: Path) -> int:
    """Rewrite an export the way it looked before the move: moved models as enablement.*."""
    old_of = {new: old for old, new in LEGACY_LABELS.items()}
    renamed = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        manifest = json.loads(zin.read("manifest.json"))
        manifest["counts"] = {old_of.get(k, k): v for k, v in manifest["counts"].items()}
        zout.writestr("manifest.json", json.dumps(manifest))
        for name in zin.namelist():
            if not name.startswith("data/"):
                continue
            label = name[5:-5]
            rows = json.loads(zin.read(name))
            if label in old_of:
                label = old_of[label]
                renamed += len(rows)
                for row in rows:
                    row["model"] = label.lower()
            zout.writestr(f"data/{label}.json", json.dumps(rows))
    return renamed


def test_import_reads_an_export_made_before_the_move_out_of_enablement(populated, tmp_path):
    a, b, _ = populated
    before_a, before_b = tenant_counts(a), tenant_counts(b)
    out, legacy = tmp_path / "acme.zip", tmp_path / "acme-legacy.zip"
    call_command("export_tenant", tenant=a.slug, out=str(out))
    # Runs, segments and signals: rows of moved models are in it under their old labels.
    assert _as_legacy_export(out, legacy) >= 7
    with zipfile.ZipFile(legacy) as zf:
        assert "data/enablement.RepSegment.json" in zf.namelist()
    call_command("delete_tenant", tenant=a.slug, yes=True)

    call_command("import_tenant", str(legacy))
    restored = Tenant.objects.get(slug=a.slug)
    assert tenant_counts(restored) == before_a
    assert before_a["segmentation.RepSegment"] == 3 and before_a["deal_signals.DealSignal"] == 3
    assert tenant_counts(b) == before_b


def test_import_refuses_a_tenant_that_exists(populated, tmp_path):
    a, _, _ = populated
    out = tmp_path / "acme.zip"
    call_command("export_tenant", tenant=a.slug, out=str(out))
    with pytest.raises(CommandError, match="already exists"):
        call_command("import_tenant", str(out))


def test_delete_removes_every_row_of_one_tenant_and_nothing_of_another(populated):
    a, b, shared = populated
    before_b = tenant_counts(b)
    owner_a = User.objects.get(memberships__tenant=a, memberships__role="owner")
    call_command("delete_tenant", tenant=a.slug, yes=True)
    for model in tenant_linked_models():
        field = next(f.attname for f in model._meta.concrete_fields if f.name == "tenant")
        assert not model._base_manager.filter(**{field: a.pk}).exists(), model._meta.label
    assert tenant_counts(b) == before_b
    assert _nonzero(before_b)["activities.Deal"] == 2
    # The owner belonged to the deleted tenant only; the shared member stays.
    assert not User.objects.filter(pk=owner_a.pk).exists()
    assert User.objects.filter(pk=shared.pk).exists()


def test_delete_without_yes_only_reports(populated, capsys):
    a, _, _ = populated
    before = tenant_counts(a)
    call_command("delete_tenant", tenant=a.slug)
    assert "Would delete tenant 'acme'" in capsys.readouterr().out
    assert tenant_counts(a) == before


@pytest.mark.django_db(transaction=True)
def test_import_into_an_empty_sqlite_database(populated, tmp_path):
    """The export is restored into a fresh database (SQLite here) with the same counts."""
    a, _, _ = populated
    out = tmp_path / "acme.zip"
    call_command("export_tenant", tenant=a.slug, out=str(out))
    with zipfile.ZipFile(out) as zf:
        expected = json.loads(zf.read("manifest.json"))["counts"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pse_crm.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
    }

    def manage(*args):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    manage("migrate", "--noinput", "-v", "0")
    manage("import_tenant", str(out))
    counted = manage(
        "shell",
        "-c",
        "import json; from pse_crm.models import Tenant, User; "
        "from pse_crm.tenant_data import tenant_counts; t = Tenant.objects.get(slug='acme'); "
        "c = tenant_counts(t); c['pse_crm.Tenant'] = 1; c['pse_crm.User'] = User.objects.count(); "
        "print(json.dumps(c))",
    )
    restored = json.loads(counted.strip().splitlines()[-1])
    # Every exported model restored with its count; the derived roll-ups (not exported)
    # are the only others, and SQLite keeps none (no triggers there).
    assert {k: v for k, v in restored.items() if k in expected} == expected
    assert {k: v for k, v in restored.items() if k not in expected} == {
        "activities.PartnerWonMonth": 0,
        "activities.RepMaterialSpan": 0,
        "activities.RepViewDay": 0,
        "activities.ViewRollupMark": 0,
    }
