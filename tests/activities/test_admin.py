"""Admin for materials, views and deals: tenant staff see only their tenant's rows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.activities.factories import DealFactory, MaterialFactory, MaterialViewFactory
from tests.factories import UserFactory
from tests.helpers import admin_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(tenant, other_tenant):
    mine = {
        "material": MaterialFactory(tenant=tenant, title="製品概要資料 Mine"),
        "view": MaterialViewFactory(rep__partner__tenant=tenant, event_id="evt-mine-1"),
        "deal": DealFactory(rep__partner__tenant=tenant, name="東京製造株式会社 Mine 導入"),
    }
    theirs = {
        "material": MaterialFactory(tenant=other_tenant, title="Rival deck"),
        "view": MaterialViewFactory(rep__partner__tenant=other_tenant, event_id="evt-rival-1"),
        "deal": DealFactory(rep__partner__tenant=other_tenant, name="Rival deal"),
    }
    return mine, theirs


PAGES = [
    ("material", "title", "製品概要資料 Mine", "Rival deck"),
    ("materialview", "event_id", "evt-mine-1", "evt-rival-1"),
    ("deal", "name", "東京製造株式会社 Mine 導入", "Rival deal"),
]


@pytest.mark.parametrize(("model", "_field", "mine_text", "their_text"), PAGES)
def test_changelist_shows_only_the_tenants_rows(
    staff_admin, rows, model, _field, mine_text, their_text
):
    page = staff_admin.get(reverse(f"admin:activities_{model}_changelist"))
    assert page.status_code == 200
    body = page.content.decode()
    assert mine_text in body
    assert their_text not in body


@pytest.mark.parametrize(("model", "_field", "mine_text", "their_text"), PAGES)
def test_change_page_loads_for_own_rows_only(
    staff_admin, rows, model, _field, mine_text, their_text
):
    mine, theirs = rows
    key = {"material": "material", "materialview": "view", "deal": "deal"}[model]
    own = staff_admin.get(reverse(f"admin:activities_{model}_change", args=[mine[key].pk]))
    assert own.status_code == 200
    assert 'name="created_at"' not in own.content.decode()
    other = staff_admin.get(reverse(f"admin:activities_{model}_change", args=[theirs[key].pk]))
    assert other.status_code == 302


def test_search_and_filters(staff_admin, rows, tenant):
    DealFactory(rep__partner__tenant=tenant, name="Won deal", stage="Closed Won", is_won=True,
                is_closed=True)  # fmt: skip
    url = reverse("admin:activities_deal_changelist")
    body = staff_admin.get(url, {"is_won__exact": "1"}).content.decode()
    assert "Won deal" in body
    assert "Mine 導入" not in body
    body = staff_admin.get(url, {"q": "Rival"}).content.decode()
    assert "Rival deal" not in body
    views = staff_admin.get(
        reverse("admin:activities_materialview_changelist"), {"q": "evt-"}
    ).content.decode()
    assert "evt-mine-1" in views
    assert "evt-rival-1" not in views


def test_superuser_sees_every_tenant(client, rows):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    body = client.get(reverse("admin:activities_deal_changelist")).content.decode()
    assert "Mine 導入" in body
    assert "Rival deal" in body


def test_admin_index_lists_the_data_models_for_tenant_staff(staff_admin, rows):
    body = staff_admin.get(reverse("admin:index")).content.decode()
    for path in ("partners/partner/", "reps/rep/", "activities/material/",
                 "activities/materialview/", "activities/deal/"):  # fmt: skip
        assert path in body


def test_sync_settings_one_row_per_tenant_and_owners_only(staff_admin, tenant, other_tenant):
    from activities.models import SyncSettings
    from pse_crm.roles import Role
    from pse_crm.tenancy import tenant_scope
    from tests.activities.factories import SyncSettingsFactory

    SyncSettingsFactory(tenant=other_tenant, rep_field="Rival__c")
    url = reverse("admin:activities_syncsettings_changelist")
    # The Salesforce field mapping is an owner's setting: a manager is refused.
    assert staff_admin.get(url).status_code == 403
    staff_admin.logout()
    staff_admin = admin_client_for(staff_admin, tenant, role=Role.OWNER)
    assert "Rival__c" not in staff_admin.get(url).content.decode()
    response = staff_admin.post(
        reverse("admin:activities_syncsettings_add"),
        {"partner_field": "Partner__c", "rep_field": "Owner.Email", "rep_match": "email"},
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        assert SyncSettings.objects.get().rep_field == "Owner.Email"
    assert staff_admin.get(reverse("admin:activities_syncsettings_add")).status_code == 403
