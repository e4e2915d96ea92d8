"""The owners' Salesforce field mapping page."""

import pytest
from django.urls import reverse

from activities.models import SyncSettings
from pse_crm.tenancy import tenant_scope

pytestmark = pytest.mark.django_db


def test_only_owners_open_the_mapping(manager_client, viewer_client):
    assert manager_client.get(reverse("settings-salesforce")).status_code == 403
    assert viewer_client.get(reverse("settings-salesforce")).status_code == 403


def test_owner_sees_defaults_then_saves_a_mapping(owner_client, tenant, other_tenant):
    with tenant_scope(other_tenant):
        SyncSettings.objects.create(tenant=other_tenant, partner_field="Rival_Partner__c")
    html = owner_client.get(reverse("settings-salesforce")).content.decode()
    assert 'value="PartnerAccountId"' in html and "Rival_Partner__c" not in html
    response = owner_client.post(
        reverse("settings-salesforce"),
        {"partner_field": "Reseller__c", "rep_field": "Partner_Rep_Email__c", "rep_match": "email"},
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        saved = SyncSettings.objects.get()
    assert (saved.partner_field, saved.rep_match) == ("Reseller__c", "email")
    with tenant_scope(other_tenant):
        assert SyncSettings.objects.get().partner_field == "Rival_Partner__c"


def test_a_bad_field_name_is_shown_next_to_the_field(owner_client):
    response = owner_client.post(
        reverse("settings-salesforce"),
        {
            "partner_field": "not a field!",
            "rep_field": "OwnerId",
            "rep_match": "salesforce_user_id",
        },
    )
    html = response.content.decode()
    field = html[html.index('name="partner_field"') :]
    assert field.index("is not a Salesforce field name.") < field.index("</div>")
