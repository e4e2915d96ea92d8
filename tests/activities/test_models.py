"""Constraints of the data models, and factories that keep a child in its parent's tenant."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from activities.models import Deal
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory, MaterialFactory, MaterialViewFactory
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db


def _refused(factory, **kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**kwargs)


def test_child_factories_inherit_the_parents_tenant(other_tenant):
    view = MaterialViewFactory(rep__partner__tenant=other_tenant)
    deal = DealFactory(rep__partner__tenant=other_tenant)
    domain = PartnerDomainFactory(partner__tenant=other_tenant)
    for row in (view, view.rep, view.rep.partner, view.material, deal, deal.partner, domain):
        assert row.tenant_id == other_tenant.pk


def test_duplicate_event_id_is_refused_in_one_tenant_allowed_across(tenant, other_tenant):
    MaterialViewFactory(rep__partner__tenant=tenant, event_id="evt-1")
    _refused(MaterialViewFactory, rep__partner__tenant=tenant, event_id="evt-1")
    MaterialViewFactory(rep__partner__tenant=other_tenant, event_id="evt-1")


def test_duplicate_sf_id_is_refused_in_one_tenant_allowed_across(tenant, other_tenant):
    DealFactory(rep__partner__tenant=tenant, sf_id="006000000000001AAA")
    _refused(DealFactory, rep__partner__tenant=tenant, sf_id="006000000000001AAA")
    DealFactory(rep__partner__tenant=other_tenant, sf_id="006000000000001AAA")


def test_same_rep_email_in_two_tenants_is_allowed_but_not_twice_in_one(tenant, other_tenant):
    RepFactory(partner__tenant=tenant, email="taro@example.co.jp")
    RepFactory(partner__tenant=other_tenant, email="taro@example.co.jp")
    # The same address in another case is the same rep.
    _refused(RepFactory, partner__tenant=tenant, email="Taro@Example.co.jp")


def test_a_domain_belongs_to_one_partner_per_tenant(tenant, other_tenant):
    PartnerDomainFactory(partner__tenant=tenant, domain="aoba.co.jp")
    _refused(PartnerDomainFactory, partner__tenant=tenant, domain="AOBA.co.jp")
    PartnerDomainFactory(partner__tenant=other_tenant, domain="aoba.co.jp")


def test_partner_and_material_external_ids_unique_per_tenant(tenant, other_tenant):
    PartnerFactory(tenant=tenant, external_id="001000000000001AAA")
    _refused(PartnerFactory, tenant=tenant, external_id="001000000000001AAA")
    PartnerFactory(tenant=other_tenant, external_id="001000000000001AAA")
    # Blank ids are not keys: many partners may have none.
    PartnerFactory(tenant=tenant, external_id="")
    PartnerFactory(tenant=tenant, external_id="")
    MaterialFactory(tenant=tenant, external_id="deck-1")
    _refused(MaterialFactory, tenant=tenant, external_id="deck-1")


def test_negative_view_duration_is_refused(tenant):
    _refused(MaterialViewFactory, rep__partner__tenant=tenant, duration_seconds=-1)


def test_scoped_manager_shows_only_the_tenant_in_scope(tenant, other_tenant):
    MaterialViewFactory(rep__partner__tenant=tenant, event_id="mine")
    MaterialViewFactory(rep__partner__tenant=other_tenant, event_id="theirs")
    from activities.models import MaterialView

    with tenant_scope(tenant):
        assert list(MaterialView.objects.values_list("event_id", flat=True)) == ["mine"]


def test_corporate_cents_follow_the_corporate_amount_through_every_write(tenant):
    """``amount_corporate_cents`` (a stored generated column, what the segmentation sums)
    is the corporate amount in hundredths, exactly, after an insert, an update and a
    deal left unconverted; never a value written by the application."""

    def cents(deal):
        return Deal.objects.values_list("amount_corporate_cents", flat=True).get(pk=deal.pk)

    with tenant_scope(tenant):
        deal = DealFactory(rep__partner__tenant=tenant, amount_corporate=Decimal("0.57"))
        credit = DealFactory(rep__partner__tenant=tenant, amount_corporate=Decimal("-1234.05"))
        large = DealFactory(
            rep__partner__tenant=tenant, amount_corporate=Decimal("9999999999999999.99")
        )
        assert (cents(deal), cents(credit), cents(large)) == (57, -123405, 999999999999999999)
        Deal.objects.filter(pk=deal.pk).update(amount_corporate=Decimal("1999.99"))
        assert cents(deal) == 199999
        deal.refresh_from_db()
        deal.amount_corporate = None  # unconverted: counted by no sum
        deal.save()
        assert cents(deal) is None
        # Saving an instance carrying a stale value does not write it.
        deal.amount_corporate = Decimal("12.34")
        deal.amount_corporate_cents = 1
        deal.save()
        assert cents(deal) == 1234
