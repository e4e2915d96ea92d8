"""Rep admin: tenant staff see only their reps; CSV import places reps in the admin's tenant."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from reps.models import Rep
from tests.factories import UserFactory
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.partners.test_admin import _import
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db

ACCOUNT = to_18("001000000000BBB")


@pytest.fixture
def world(tenant, other_tenant):
    partner = PartnerFactory(tenant=tenant, name="株式会社さくらデジタル", external_id=ACCOUNT)
    PartnerDomainFactory(partner=partner, domain="sakura-digital.co.jp")
    rep = RepFactory(partner=partner, name="山田 太郎", email="taro@sakura-digital.co.jp")
    other_partner = PartnerFactory(tenant=other_tenant, name="Rival KK", external_id=ACCOUNT)
    PartnerDomainFactory(partner=other_partner, domain="rival-kk.example")
    other_rep = RepFactory(
        partner=other_partner, name="Rival Rep", email="taro@sakura-digital.co.jp"
    )
    return {"partner": partner, "rep": rep, "other_partner": other_partner, "other_rep": other_rep}


def test_changelist_and_search_show_only_the_tenants_reps(staff_admin, world):
    url = reverse("admin:reps_rep_changelist")
    body = staff_admin.get(url).content.decode()
    assert "山田 太郎" in body
    assert "株式会社さくらデジタル" in body
    assert "Rival Rep" not in body
    body = staff_admin.get(url, {"q": "taro@"}).content.decode()
    assert "山田 太郎" in body
    assert "Rival Rep" not in body


def test_partner_filter_lists_only_the_tenants_partners(staff_admin, world):
    body = staff_admin.get(reverse("admin:reps_rep_changelist")).content.decode()
    assert "Rival KK" not in body


def test_change_page_loads_and_another_tenants_rep_does_not(staff_admin, world):
    ok = staff_admin.get(reverse("admin:reps_rep_change", args=[world["rep"].pk]))
    assert ok.status_code == 200
    assert 'name="created_at"' not in ok.content.decode()  # read-only audit field
    assert (
        staff_admin.get(reverse("admin:reps_rep_change", args=[world["other_rep"].pk])).status_code
        == 302
    )


def test_a_rep_cannot_be_put_under_another_tenants_partner(staff_admin, world, tenant):
    response = staff_admin.post(
        reverse("admin:reps_rep_add"),
        {
            "partner": world["other_partner"].pk,
            "name": "侵入 者",
            "email": "x@rival-kk.example",
            "hire_type": "unknown",
            "influence": "mid",
            "is_employed": "on",
        },
    )
    assert response.status_code == 200  # the form comes back with an error
    with tenant_scope(tenant):
        assert not Rep.objects.filter(name="侵入 者").exists()


def test_superuser_sees_every_tenants_reps(client, world):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    body = client.get(reverse("admin:reps_rep_changelist")).content.decode()
    assert "山田 太郎" in body
    assert "Rival Rep" in body


def test_csv_import_by_partner_id_and_by_email_domain(staff_admin, world, tenant, other_tenant):
    response = _import(
        staff_admin,
        "reps.rep",
        "tenant,name,email,partner,title,hire_type,influence,is_employed\n"
        f"{other_tenant.pk},山田 太郎,TARO@sakura-digital.co.jp,{ACCOUNT},課長,mid_career,high,1\n"
        f"{other_tenant.pk},佐藤 花子,hanako@sakura-digital.co.jp,,主任,new_graduate,mid,1\n",
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        taro = Rep.objects.get(email="taro@sakura-digital.co.jp")
        assert (taro.title, taro.influence) == ("課長", "high")
        hanako = Rep.objects.get(email="hanako@sakura-digital.co.jp")
        assert hanako.partner == world["partner"]
        assert hanako.tenant_id == tenant.pk
    with tenant_scope(other_tenant):
        assert list(Rep.objects.values_list("name", flat=True)) == ["Rival Rep"]


def test_csv_import_refuses_another_tenants_partner_and_unknown_domains(staff_admin, world, tenant):
    response = _import(
        staff_admin,
        "reps.rep",
        "name,email,partner,hire_type,influence,is_employed\n"
        "Spy,spy@rival-kk.example,Rival KK,unknown,mid,1\n"
        "Ghost,ghost@nowhere.example,,unknown,mid,1\n",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Unknown partner" in body
    with tenant_scope(tenant):
        assert not Rep.objects.filter(name__in=["Spy", "Ghost"]).exists()


def test_csv_export_has_only_the_tenants_reps(staff_admin, world):
    fields = ("name", "email", "partner", "external_id", "salesforce_user_id", "title",
              "hire_type", "started_at_partner", "influence", "is_employed", "notes")  # fmt: skip
    response = staff_admin.post(
        reverse("admin:reps_rep_export"),
        {"format": "0", "resource": "0", **{f"represource_{f}": "on" for f in fields}},
    )
    text = response.content.decode()
    assert "山田 太郎" in text
    assert ACCOUNT in text
    assert "Rival Rep" not in text


def test_csv_import_of_a_shift_jis_file_from_excel(staff_admin, world, tenant):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = (
        "name,email,partner,hire_type,influence,is_employed\n"
        "鈴木 一郎,ichiro@sakura-digital.co.jp,株式会社さくらデジタル,unknown,mid,1\n"
    ).encode("cp932")
    preview = staff_admin.post(
        reverse("admin:reps_rep_import"),
        {"import_file": SimpleUploadedFile("reps.csv", data, "text/csv"), "format": "0"},
    )
    assert not preview.context["result"].has_errors()
    staff_admin.post(
        reverse("admin:reps_rep_process_import"), preview.context["confirm_form"].initial
    )
    with tenant_scope(tenant):
        assert Rep.objects.get(email="ichiro@sakura-digital.co.jp").name == "鈴木 一郎"
