"""Partner admin: a tenant's staff see and edit only their tenant's partners; CSV in and out."""

from __future__ import annotations

import pytest
from django.urls import reverse

from partners.models import Partner, PartnerDomain
from pse_crm.roles import Role
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import admin_client_for
from tests.partners.factories import PartnerDomainFactory, PartnerFactory

pytestmark = pytest.mark.django_db

ACCOUNT = to_18("001000000000AAA")


@pytest.fixture
def partners(tenant, other_tenant):
    mine = PartnerFactory(tenant=tenant, name="株式会社アオバシステム", external_id=ACCOUNT)
    PartnerDomainFactory(partner=mine, domain="aoba.co.jp")
    theirs = PartnerFactory(tenant=other_tenant, name="Rival Partner KK", external_id=ACCOUNT)
    PartnerDomainFactory(partner=theirs, domain="rival-partner.example")
    return mine, theirs


def test_changelist_shows_only_the_tenants_partners(staff_admin, partners):
    page = staff_admin.get(reverse("admin:partners_partner_changelist"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "株式会社アオバシステム" in body
    assert "aoba.co.jp" in body
    assert "Rival Partner KK" not in body


def test_search_and_filter(staff_admin, partners, tenant):
    PartnerFactory(tenant=tenant, name="Other Reseller", status=Partner.Status.INACTIVE)
    url = reverse("admin:partners_partner_changelist")
    body = staff_admin.get(url, {"q": "aoba.co.jp"}).content.decode()
    assert "株式会社アオバシステム" in body
    assert "Other Reseller" not in body
    body = staff_admin.get(url, {"status__exact": "inactive"}).content.decode()
    assert "Other Reseller" in body
    assert "株式会社アオバシステム" not in body


def test_another_tenants_partner_cannot_be_opened(staff_admin, partners):
    _mine, theirs = partners
    page = staff_admin.get(reverse("admin:partners_partner_change", args=[theirs.pk]))
    assert page.status_code == 302  # the admin's "does not exist" redirect
    assert "Rival Partner KK" not in staff_admin.get(page.url).content.decode()


def test_change_page_has_read_only_audit_fields(staff_admin, partners):
    mine, _theirs = partners
    page = staff_admin.get(reverse("admin:partners_partner_change", args=[mine.pk]))
    assert page.status_code == 200
    assert 'name="created_at"' not in page.content.decode()
    assert 'name="updated_at"' not in page.content.decode()


def test_adding_a_partner_with_a_domain_puts_both_in_the_staffs_tenant(staff_admin, tenant):
    response = staff_admin.post(
        reverse("admin:partners_partner_add"),
        {
            "name": "株式会社ミライデータ",
            "external_id": "",
            "partner_type": "reseller",
            "program_tier": "registered",
            "status": "active",
            "domains-TOTAL_FORMS": "1",
            "domains-INITIAL_FORMS": "0",
            "domains-0-domain": "Mirai-Data.co.jp",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_scope(tenant):
        partner = Partner.objects.get(name="株式会社ミライデータ")
        assert partner.tenant_id == tenant.pk
        assert PartnerDomain.objects.get(partner=partner).domain == "mirai-data.co.jp"


@pytest.mark.parametrize(
    ("role", "is_staff", "status"),
    [
        (Role.STAFF, True, 403),  # in the admin, but the role may not see partners
        (Role.MANAGER, False, 302),  # not staff: sent to the admin's login page
    ],
)
def test_admin_needs_is_staff_and_a_managing_role(client, tenant, partners, role, is_staff, status):
    c = admin_client_for(client, tenant, role=role, is_staff=is_staff)
    page = c.get(reverse("admin:partners_partner_changelist"))
    assert page.status_code == status
    if status == 302:
        assert page["Location"].startswith(reverse("admin:login"))


def test_superuser_sees_every_tenant(client, partners):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    body = client.get(reverse("admin:partners_partner_changelist")).content.decode()
    assert "株式会社アオバシステム" in body
    assert "Rival Partner KK" in body


def test_csv_export_has_only_the_tenants_partners(staff_admin, partners):
    response = staff_admin.post(
        reverse("admin:partners_partner_export"),
        {"format": "0", "resource": "0", **{f"partnerresource_{f}": "on" for f in (
            "name", "external_id", "partner_type", "program_tier", "competing_products",
            "status", "contract_start", "notes", "email_domains")}},
    )  # fmt: skip
    assert response.status_code == 200
    text = response.content.decode("utf-8")
    assert "株式会社アオバシステム" in text
    assert "aoba.co.jp" in text
    assert "Rival Partner KK" not in text


def _import(client, url_name: str, csv_text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    app, model = url_name.split(".")
    upload = SimpleUploadedFile("data.csv", csv_text.encode("utf-8-sig"), "text/csv")
    preview = client.post(
        reverse(f"admin:{app}_{model}_import"),
        {"import_file": upload, "format": "0", "resource": "0"},
    )
    assert preview.status_code == 200
    result = preview.context["result"]
    if result.has_errors() or result.has_validation_errors():
        return preview
    confirm = preview.context["confirm_form"]
    return client.post(reverse(f"admin:{app}_{model}_process_import"), confirm.initial)


def test_csv_import_writes_into_the_admins_tenant_only(staff_admin, partners, tenant, other_tenant):
    response = _import(
        staff_admin,
        "partners.partner",
        "tenant,name,external_id,partner_type,program_tier,status,email_domains\n"
        f"{other_tenant.pk},株式会社アオバシステム(更新),{ACCOUNT[:15]},si,gold,active,aoba.co.jp aoba.jp\n"
        f"{other_tenant.pk},株式会社ひかり商事,,agency,registered,active,hikari.co.jp\n",
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        mine = Partner.objects.get(external_id=ACCOUNT)
        assert mine.name == "株式会社アオバシステム(更新)"
        assert mine.program_tier == "gold"
        assert mine.email_domains == ["aoba.co.jp", "aoba.jp"]
        assert Partner.objects.get(name="株式会社ひかり商事").email_domains == ["hikari.co.jp"]
    with tenant_scope(other_tenant):
        assert list(Partner.objects.values_list("name", flat=True)) == ["Rival Partner KK"]


def test_csv_import_refuses_a_domain_of_another_partner(staff_admin, partners, tenant):
    response = _import(
        staff_admin,
        "partners.partner",
        "name,external_id,partner_type,program_tier,status,email_domains\n"
        "株式会社ひかり商事,,agency,registered,active,aoba.co.jp\n",
    )
    assert response.status_code == 200
    assert "aoba.co.jp" in response.content.decode()
    with tenant_scope(tenant):
        assert not Partner.objects.filter(name="株式会社ひかり商事").exists()


def test_owner_field_accepts_only_this_tenants_members(staff_admin, tenant, other_tenant):
    stranger = MembershipFactory(tenant=other_tenant, role=Role.MANAGER).user
    colleague = MembershipFactory(tenant=tenant, role=Role.STAFF).user
    form = {
        "name": "株式会社ヨツバ",
        "external_id": "",
        "partner_type": "reseller",
        "program_tier": "registered",
        "status": "active",
        "domains-TOTAL_FORMS": "0",
        "domains-INITIAL_FORMS": "0",
    }
    page = staff_admin.get(reverse("admin:partners_partner_add")).content.decode()
    assert stranger.email not in page
    refused = staff_admin.post(
        reverse("admin:partners_partner_add"), {**form, "owner": stranger.pk}
    )
    assert refused.status_code == 200  # the form again, with the error by the field
    with tenant_scope(tenant):
        assert not Partner.objects.filter(name="株式会社ヨツバ").exists()
    accepted = staff_admin.post(
        reverse("admin:partners_partner_add"), {**form, "owner": colleague.pk}
    )
    assert accepted.status_code == 302
    with tenant_scope(tenant):
        assert Partner.objects.get(name="株式会社ヨツバ").owner == colleague


def test_owners_change_roles_in_the_admin_but_add_members_on_the_settings_page(client, tenant):
    c = admin_client_for(client, tenant, role=Role.OWNER)
    assert c.get(reverse("admin:pse_crm_membership_add")).status_code == 403
    assert c.get(reverse("admin:pse_crm_membership_changelist")).status_code == 200
