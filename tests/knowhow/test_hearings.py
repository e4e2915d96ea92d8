"""Hearings, know-how and its spread: rules, and the reach of each piece of know-how."""

import datetime as dt
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.utils import timezone

from knowhow.models import Hearing, KnowHow, KnowHowShare
from knowhow.selectors import hearing_list, know_how_reach
from knowhow.services import (
    hearing_create,
    hearing_update,
    know_how_create,
    know_how_share,
    know_how_update,
)
from pse_crm.tenancy import tenant_scope
from segmentation.models import Quadrant
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.knowhow.factories import HearingFactory, KnowHowFactory, KnowHowShareFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.factories import RepSegmentFactory, SegmentationRunFactory

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def test_hearing_needs_a_rep_of_the_tenant_and_a_past_date(in_tenant, other_tenant, staff):
    today = timezone.localdate()
    with pytest.raises(ValidationError) as exc:
        hearing_create(tenant=in_tenant, rep=None, held_by=staff, held_on=today)
    assert "rep" in exc.value.message_dict
    foreign = RepFactory(partner__tenant=other_tenant)
    with pytest.raises(ValidationError):
        hearing_create(tenant=in_tenant, rep=foreign, held_by=staff, held_on=today)
    rep = RepFactory(partner__tenant=in_tenant)
    with pytest.raises(ValidationError) as exc:
        hearing_create(
            tenant=in_tenant, rep=rep, held_by=staff, held_on=today + dt.timedelta(days=2)
        )
    assert "held_on" in exc.value.message_dict
    assert Hearing.objects.count() == 0
    hearing = hearing_create(
        tenant=in_tenant,
        rep=rep,
        held_by=staff,
        held_on=today,
        finding_customers="Renewals",
        tags=["a", "a ", "", "b"],
    )
    assert hearing.tags == ["a", "b"] and hearing.held_by == staff
    hearing_update(tenant=in_tenant, hearing=hearing, notes="Follow up in May", tags=["c"])
    hearing.refresh_from_db()
    assert (hearing.notes, hearing.tags) == ("Follow up in May", ["c"])


def test_hearing_list_filters_and_isolation(tenant, other_tenant):
    rep = RepFactory(partner__tenant=tenant)
    mine = HearingFactory(rep=rep, tags=["price"])
    other = HearingFactory(rep=RepFactory(partner__tenant=tenant), tags=["renewal"])
    HearingFactory(rep=RepFactory(partner__tenant=other_tenant), tags=["price"])
    with tenant_scope(tenant):
        assert set(hearing_list()) == {mine, other}
        assert list(hearing_list(tag="price")) == [mine]
        assert list(hearing_list(partner_id=rep.partner_id)) == [mine]


def test_know_how_quadrants_from_the_current_run_or_given(in_tenant, staff):
    performer = RepFactory(partner__tenant=in_tenant)
    independent = RepFactory(partner__tenant=in_tenant)
    run = SegmentationRunFactory(tenant=in_tenant)
    RepSegmentFactory(run=run, rep=performer, quadrant=Quadrant.PERFORMER)
    RepSegmentFactory(run=run, rep=independent, quadrant=Quadrant.INDEPENDENT)
    hearings = [HearingFactory(rep=performer), HearingFactory(rep=independent)]
    kh = know_how_create(
        tenant=in_tenant,
        title="Renewal opener",
        body="…",
        hearings=hearings,
        created_by=staff,
        products=["CRM"],
    )
    assert kh.source_quadrants == ["performer", "independent"]
    assert set(kh.hearings.all()) == set(hearings)
    with pytest.raises(ValidationError):
        know_how_update(tenant=in_tenant, know_how=kh, source_quadrants=["superstar"])
    know_how_update(tenant=in_tenant, know_how=kh, hearings=hearings[:1], title="Renewal opener v2")
    kh.refresh_from_db()
    assert kh.title == "Renewal opener v2" and list(kh.hearings.all()) == hearings[:1]
    with pytest.raises(ValidationError):
        know_how_create(tenant=in_tenant, title=" ", body="", created_by=staff)
    assert KnowHow.objects.count() == 1


def test_a_rep_with_hearings_is_kept_not_deleted(in_tenant, staff):
    hearing = HearingFactory(rep=RepFactory(partner__tenant=in_tenant))
    know_how_create(tenant=in_tenant, title="t", body="b", hearings=[hearing], created_by=staff)
    with pytest.raises(ProtectedError):
        hearing.rep.delete()


def test_share_with_a_rep_records_the_partner_and_checks_it(in_tenant, other_tenant, staff):
    kh = KnowHowFactory(tenant=in_tenant)
    rep = RepFactory(partner__tenant=in_tenant)
    share = know_how_share(tenant=in_tenant, know_how=kh, rep=rep, shared_by=staff)
    assert share.partner == rep.partner and share.shared_on == timezone.localdate()
    other_partner = PartnerFactory(tenant=in_tenant)
    with pytest.raises(ValidationError):
        know_how_share(
            tenant=in_tenant, know_how=kh, rep=rep, partner=other_partner, shared_by=staff
        )
    with pytest.raises(ValidationError):
        know_how_share(tenant=in_tenant, know_how=kh, shared_by=staff)
    with pytest.raises(ValidationError):
        know_how_share(
            tenant=in_tenant,
            know_how=kh,
            partner=PartnerFactory(tenant=other_tenant),
            shared_by=staff,
        )
    with pytest.raises(ValidationError):
        know_how_share(
            tenant=in_tenant,
            know_how=kh,
            partner=other_partner,
            shared_by=staff,
            shared_on=timezone.localdate() + dt.timedelta(days=1),
        )
    assert KnowHowShare.objects.count() == 1


def test_reach_counts_reps_once_and_activity_within_n_days(tenant, other_tenant):
    partner = PartnerFactory(tenant=tenant)
    r1, r2, r3 = (RepFactory(partner=partner) for _ in range(3))
    lone = RepFactory(partner__tenant=tenant)
    kh = KnowHowFactory(tenant=tenant)
    idle = KnowHowFactory(tenant=tenant)
    day0 = dt.date(2026, 4, 1)
    # Shared with the partner (r1..r3) on day 0, again with r1 later, and with a lone rep.
    KnowHowShareFactory(know_how=kh, partner=partner, shared_on=day0)
    KnowHowShareFactory(know_how=kh, partner=partner, rep=r1, shared_on=day0 + dt.timedelta(5))
    KnowHowShareFactory(
        know_how=kh, partner=lone.partner, rep=lone, shared_on=day0 + dt.timedelta(1)
    )

    def at(day):
        return dt.datetime.combine(day, dt.time(9), tzinfo=TOKYO)

    MaterialViewFactory(rep=r1, viewed_at=at(day0 + dt.timedelta(days=30)))  # day 30: counts
    MaterialViewFactory(rep=r2, viewed_at=at(day0 + dt.timedelta(days=31)))  # day 31: too late
    MaterialViewFactory(rep=r3, viewed_at=at(day0 - dt.timedelta(days=1)))  # before: no
    DealFactory(rep=r3, is_won=True, close_date=day0 + dt.timedelta(days=2), sf_created_at=None)
    DealFactory(rep=lone, sf_created_at=at(day0 + dt.timedelta(days=3)))  # opened: active
    # Another tenant's share and activity are never counted.
    foreign = RepFactory(partner__tenant=other_tenant)
    KnowHowShareFactory(partner=foreign.partner, rep=foreign, shared_on=day0)
    MaterialViewFactory(rep=foreign, viewed_at=at(day0))

    with tenant_scope(tenant):
        reach = know_how_reach(tenant=tenant, days=30)
    assert reach[kh.pk] == {"shares": 3, "reached": 4, "became_active": 2, "won": 1}
    assert reach[idle.pk] == {"shares": 0, "reached": 0, "became_active": 0, "won": 0}
    assert len(reach) == 2


def test_reach_is_a_fixed_number_of_queries(tenant, django_assert_max_num_queries):
    partner = PartnerFactory(tenant=tenant)
    reps = [RepFactory(partner=partner) for _ in range(10)]
    for i in range(5):
        kh = KnowHowFactory(tenant=tenant)
        KnowHowShareFactory(know_how=kh, partner=partner, shared_on=dt.date(2026, 4, 1))
        KnowHowShareFactory(
            know_how=kh, partner=partner, rep=reps[i], shared_on=dt.date(2026, 4, 2)
        )
        MaterialViewFactory(rep=reps[i], viewed_at=dt.datetime(2026, 4, 3, 9, tzinfo=TOKYO))
    with tenant_scope(tenant), django_assert_max_num_queries(7):
        reach = know_how_reach(tenant=tenant, days=30)
    assert all(
        r == {"shares": 2, "reached": 10, "became_active": 5, "won": 0} for r in reach.values()
    )
