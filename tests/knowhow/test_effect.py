"""The effect of know-how against a comparison group (knowhow/effect.py), on constructed
cases whose true difference is known."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from activities.models import Deal, MaterialView
from knowhow.effect import DEFAULT_EFFECT_DAYS, MIN_COMPARISON, MIN_MATCHED
from knowhow.models import KnowHowEffect
from knowhow.selectors import know_how_effect
from knowhow.services import know_how_effects_compute
from pse_crm.calendar import day_start, tenant_today
from pse_crm.models import TenantAPIKey
from pse_crm.roles import Role
from pse_crm.tenancy import TenantScopeError, tenant_scope
from segmentation.models import Quadrant, RepSegment, Tier
from tests.activities.factories import MaterialFactory
from tests.helpers import member_api_client
from tests.knowhow.factories import KnowHowFactory, KnowHowShareFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.factories import SegmentationRunFactory

N = DEFAULT_EFFECT_DAYS
_event = itertools.count()
_deal = itertools.count()


def rep_rows(count: int, *, pre: int = 3, post: int = 1, won_before: int = 0, won_after: int = 0):
    """``count`` reps: views before and after day 0; the first ``won_before`` won a deal
    before and the first ``won_after`` after."""
    return [(pre, post, i < won_before, i < won_after) for i in range(count)]


class World:
    """One tenant: a reached partner and an unreached one, a segmentation run the day
    before the share, and each rep's views and wins in the windows around it."""

    def __init__(self, tenant, *, share_ago: int = N + 10, run_before_share: bool = True):
        self.tenant = tenant
        self.today = tenant_today(tenant)
        self.day0 = self.today - dt.timedelta(days=share_ago)
        self.material = MaterialFactory(tenant=tenant)
        self.run = (
            SegmentationRunFactory(
                tenant=tenant,
                as_of=day_start(tenant, self.day0 - dt.timedelta(days=1)) + dt.timedelta(hours=2),
                as_of_date=self.day0 - dt.timedelta(days=1),
            )
            if run_before_share
            else None
        )
        self.views: list[MaterialView] = []
        self.deals: list[Deal] = []
        self.segments: list[RepSegment] = []

    def partner(self, rows, *, quadrant=Quadrant.MOTIVATED, tier=Tier.MIDDLE, segmented=True):
        partner = PartnerFactory(tenant=self.tenant)
        reps = []
        for pre, post, won_before, won_after in rows:
            rep = RepFactory(tenant=self.tenant, partner=partner)
            reps.append(rep)
            # Views 5 days before day 0 and 3 days after; wins 10 days either side.
            self._views(rep, self.day0 - dt.timedelta(days=5), pre)
            self._views(rep, self.day0 + dt.timedelta(days=3), post)
            if won_before:
                self._won(rep, self.day0 - dt.timedelta(days=10))
            if won_after:
                self._won(rep, self.day0 + dt.timedelta(days=10))
            if segmented and self.run is not None:
                self.segments.append(
                    RepSegment(
                        tenant=self.tenant,
                        run=self.run,
                        rep=rep,
                        partner=partner,
                        quadrant=quadrant,
                        tier=tier,
                    )
                )
        return partner, reps

    def _views(self, rep, day, count):
        start = day_start(self.tenant, day) + dt.timedelta(hours=9)
        self.views += [
            MaterialView(
                tenant=self.tenant,
                rep=rep,
                material=self.material,
                viewed_at=start + dt.timedelta(minutes=i),
                event_id=f"evt-{next(_event)}",
            )
            for i in range(count)
        ]

    def _won(self, rep, day):
        n = next(_deal)
        self.deals.append(
            Deal(
                tenant=self.tenant,
                rep=rep,
                partner=rep.partner,
                sf_id=f"006T{n:014d}",
                name=f"Deal {n}",
                amount=1000,
                currency="JPY",
                stage="Closed Won",
                is_closed=True,
                is_won=True,
                close_date=day,
                system_modstamp=day_start(self.tenant, day),
            )
        )

    def save(self):
        MaterialView.objects.bulk_create(self.views)
        Deal.objects.bulk_create(self.deals)
        RepSegment.objects.bulk_create(self.segments)
        self.views, self.deals, self.segments = [], [], []

    def share(self, partner, *, day=None, know_how=None):
        return KnowHowShareFactory(
            tenant=self.tenant,
            partner=partner,
            know_how=know_how or KnowHowFactory(tenant=self.tenant),
            shared_on=day or self.day0,
        )


def _compute(tenant, **kwargs):
    know_how_effects_compute(tenant=tenant, **kwargs)
    return {row.know_how_id: row for row in KnowHowEffect.objects.all()}


@pytest.mark.django_db
def test_did_recovers_a_known_difference_that_the_naive_change_overstates(in_tenant):
    world = World(in_tenant)
    # Reached: win rate 20% → 70% (+50 pt); all stay active (100% → 100%).
    reached, _ = world.partner(rep_rows(20, post=1, won_before=4, won_after=14))
    # Comparison: win rate 20% → 40% (+20 pt); half stop viewing (100% → 50%).
    world.partner(rep_rows(15, post=1, won_before=3, won_after=6))
    world.partner(rep_rows(15, post=0, won_before=3, won_after=6))
    world.save()
    share = world.share(reached)

    rows = _compute(in_tenant)

    effect = rows[share.know_how_id]
    assert effect.status == "measured"
    assert (effect.reached, effect.matched, effect.comparison_reps) == (20, 20, 30)
    win, activation = effect.metrics["win_rate"], effect.metrics["activation"]
    assert (win["reached_before"], win["reached_after"]) == (0.2, 0.7)
    assert (win["comparison_before"], win["comparison_after"]) == (0.2, 0.4)
    assert win["naive"] == pytest.approx(0.5)
    assert win["did"] == pytest.approx(0.5 - 0.2)
    assert win["ci_low"] < 0.3 < win["ci_high"]
    assert activation["naive"] == 0
    assert activation["did"] == pytest.approx(0.0 - (0.5 - 1.0))
    # All know-how together: one know-how, so the same figures (another bootstrap seed).
    for name in ("activation", "win_rate"):
        assert rows[None].metrics[name]["did"] == effect.metrics[name]["did"]


@pytest.mark.django_db
def test_everyone_improved_naive_says_a_gain_did_says_none(in_tenant):
    world = World(in_tenant)
    # Two levels of views before (0 and 4), matched within each; in both groups activation
    # goes 50% → 100% and the win rate 10% → 50%: the season, not the know-how.
    treated = rep_rows(10, pre=0, post=2, won_before=1, won_after=5) + rep_rows(
        10, pre=4, post=2, won_before=1, won_after=5
    )
    control = rep_rows(20, pre=0, post=2, won_before=2, won_after=10) + rep_rows(
        20, pre=4, post=2, won_before=2, won_after=10
    )
    reached, _ = world.partner(treated)
    world.partner(control)
    world.save()
    share = world.share(reached)

    effect = _compute(in_tenant)[share.know_how_id]

    assert effect.status == "measured" and effect.matched == 20
    for name, naive in (("activation", 0.5), ("win_rate", 0.4)):
        figures = effect.metrics[name]
        assert figures["naive"] == pytest.approx(naive)
        assert figures["did"] == pytest.approx(0)
        assert figures["ci_low"] <= 0 <= figures["ci_high"]


@pytest.mark.django_db
def test_matching_is_exact_on_quadrant_and_tier_and_nearest_on_views(in_tenant):
    world = World(in_tenant)
    reached, _ = world.partner(rep_rows(12, pre=6, post=1, won_after=12))
    # Same stratum, views 6 and 7 (7 is farther): only the 6s are the comparison.
    world.partner(rep_rows(10, pre=6, post=1, won_after=5))
    world.partner(rep_rows(10, pre=7, post=1, won_after=0))
    # Another tier, same views: never a comparison.
    world.partner(rep_rows(10, pre=6, post=1, won_after=10), tier=Tier.TOP)
    world.save()
    share = world.share(reached)

    effect = _compute(in_tenant)[share.know_how_id]

    assert effect.comparison_reps == 10
    assert effect.metrics["win_rate"]["comparison_after"] == 0.5
    assert effect.metrics["win_rate"]["did"] == pytest.approx(1.0 - 0.5)


@pytest.mark.django_db
def test_views_beyond_the_caliper_leave_a_rep_unmatched(in_tenant):
    world = World(in_tenant)
    reached, _ = world.partner(rep_rows(12, pre=40))
    world.partner(rep_rows(12, pre=3))  # |40 - 3| > max(2, 25% of 40)
    world.save()
    share = world.share(reached)

    effect = _compute(in_tenant)[share.know_how_id]

    assert (effect.matched, effect.unmatched_comparison) == (0, 12)
    assert effect.status == "too_small" and effect.metrics == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reached_n", "comparison_n"), [(MIN_MATCHED - 1, 30), (20, MIN_COMPARISON - 1)]
)
def test_too_small_groups_say_so_instead_of_a_number(in_tenant, reached_n, comparison_n):
    world = World(in_tenant)
    reached, _ = world.partner(rep_rows(reached_n, won_after=reached_n))
    world.partner(rep_rows(comparison_n))
    world.save()
    share = world.share(reached)

    effect = _compute(in_tenant)[share.know_how_id]

    assert effect.status == "too_small"
    assert (effect.matched, effect.comparison_reps) == (reached_n, comparison_n)
    shown = know_how_effect(tenant=in_tenant, know_how_id=share.know_how_id)
    assert shown["win_rate"] is None and shown["activation"] is None
    assert "Too few reps to measure" in shown["message"]


@pytest.mark.django_db
def test_recent_shares_wait_and_shares_before_any_run_are_not_matched(in_tenant):
    world = World(in_tenant)
    old, _ = world.partner(rep_rows(12))
    world.partner(rep_rows(12))
    # A partner whose reps the run did not segment (they joined later).
    new, _ = world.partner(rep_rows(12), segmented=False)
    world.save()
    recent = world.share(old, day=world.today - dt.timedelta(days=N - 1))
    unsegmented = world.share(new)

    rows = _compute(in_tenant)

    assert rows[recent.know_how_id].status == "waiting"
    assert rows[recent.know_how_id].waiting == 12
    assert rows[unsegmented.know_how_id].unmatched_segment == 12
    assert rows[unsegmented.know_how_id].status == "too_small"


@pytest.mark.django_db
def test_the_segmentation_at_the_share_time_decides_the_stratum(in_tenant):
    world = World(in_tenant)
    reached, reached_reps = world.partner(rep_rows(12, won_after=12))
    world.partner(rep_rows(12, won_after=3))
    world.save()
    # A later run puts everyone else in another quadrant: it is after the share, ignored.
    later = SegmentationRunFactory(
        tenant=in_tenant,
        as_of=day_start(in_tenant, world.day0 + dt.timedelta(days=2)),
        as_of_date=world.day0 + dt.timedelta(days=2),
        is_current=False,
    )
    RepSegment.objects.bulk_create(
        RepSegment(
            tenant=in_tenant, run=later, rep=r, partner=r.partner, quadrant=Quadrant.PERFORMER
        )
        for r in reached_reps
    )
    share = world.share(reached)

    effect = _compute(in_tenant)[share.know_how_id]

    assert effect.matched == 12 and effect.comparison_reps == 12
    assert effect.metrics["win_rate"]["did"] == pytest.approx(1 - 0.25)


@pytest.mark.django_db
def test_reps_reached_by_other_know_how_are_no_comparison(in_tenant):
    world = World(in_tenant)
    reached, _ = world.partner(rep_rows(12, won_after=12))
    other, _ = world.partner(rep_rows(12, won_after=12))
    world.partner(rep_rows(12, won_after=0))  # reached by nothing
    world.save()
    share = world.share(reached)
    world.share(other, day=world.day0 + dt.timedelta(days=5))  # within the after-window

    rows = _compute(in_tenant)

    effect = rows[share.know_how_id]
    assert effect.comparison_reps == 12
    assert effect.metrics["win_rate"]["did"] == pytest.approx(1.0)
    # Overall, each rep counts once from its first reach: 24 reached, the clean 12 compared.
    assert (rows[None].reached, rows[None].comparison_reps) == (24, 12)


@pytest.mark.django_db
def test_compute_is_idempotent_and_flat_in_queries(in_tenant):
    world = World(in_tenant)
    reached, _ = world.partner(rep_rows(12, won_before=2, won_after=8))
    world.partner(rep_rows(12, won_before=2, won_after=4))
    world.save()
    share = world.share(reached)

    with CaptureQueriesContext(connection) as one:
        first = {k: (r.status, r.metrics) for k, r in _compute(in_tenant).items()}
    again = {k: (r.status, r.metrics) for k, r in _compute(in_tenant).items()}
    assert first == again and KnowHowEffect.objects.count() == 2
    for _ in range(3):
        world.share(reached, know_how=None)
    with CaptureQueriesContext(connection) as four:
        rows = _compute(in_tenant)
    assert len(rows) == 5
    assert len(four) == len(one)
    assert rows[share.know_how_id].metrics == first[share.know_how_id][1]


def test_days_out_of_range_is_refused(in_tenant):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        know_how_effects_compute(tenant=in_tenant, days=0)
    assert not KnowHowEffect.objects.exists()


@pytest.mark.django_db
def test_tenants_are_isolated(tenant, other_tenant):
    with tenant_scope(other_tenant):
        theirs = World(other_tenant)
        # The other tenant's reps would make a perfect comparison: same stratum, views.
        their_partner, _ = theirs.partner(rep_rows(30, won_after=30))
        theirs.partner(rep_rows(30, won_after=0))
        theirs.save()
        theirs.share(their_partner)
    with tenant_scope(tenant):
        world = World(tenant)
        reached, _ = world.partner(rep_rows(12, won_after=6))
        world.partner(rep_rows(12, won_after=6))
        world.save()
        share = world.share(reached)
        rows = _compute(tenant)
        with pytest.raises(TenantScopeError):
            know_how_effects_compute(tenant=other_tenant)
    effect = rows[share.know_how_id]
    assert (effect.reached, effect.comparison_reps) == (12, 12)
    assert effect.metrics["win_rate"]["did"] == pytest.approx(0)
    assert set(rows) == {share.know_how_id, None}
    with tenant_scope(other_tenant):
        assert not KnowHowEffect.objects.exists()


@pytest.mark.django_db
def test_the_nightly_pipeline_measures_the_effect(tenant):
    from momentum import tasks

    with tenant_scope(tenant):
        world = World(tenant)
        reached, _ = world.partner(rep_rows(12, won_after=6))
        world.partner(rep_rows(12))
        world.save()
        share = world.share(reached)
    now = day_start(tenant, world.today) + dt.timedelta(hours=2, minutes=5)

    tasks.tenant_nightly.apply(args=[tenant.pk, now.isoformat()]).get()
    # The sweep's later hours find the night done: the effects are not recomputed.
    later = now + dt.timedelta(hours=1)
    tasks.tenant_nightly.apply(args=[tenant.pk, later.isoformat()]).get()

    with tenant_scope(tenant):
        effect = KnowHowEffect.objects.get(know_how=share.know_how)
        assert effect.status == "measured" and effect.as_of_date == world.today
        assert effect.computed_at == now
        assert KnowHowEffect.objects.count() == 2


# --- the API and the pages -------------------------------------------------------------


@pytest.fixture
def measured(tenant, other_tenant):
    with tenant_scope(tenant):
        world = World(tenant)
        reached, _ = world.partner(rep_rows(20, won_before=4, won_after=14))
        world.partner(rep_rows(30, won_before=6, won_after=12))
        world.save()
        share = world.share(reached)
        small = world.share(world.partner(rep_rows(3))[0], day=world.day0)
        world.save()
        know_how_effects_compute(tenant=tenant)
    with tenant_scope(other_tenant):
        theirs = KnowHowShareFactory(tenant=other_tenant).know_how
    return share.know_how, small.know_how, theirs


def test_api_effect_of_one_know_how(tenant, measured):
    know_how, small, theirs = measured
    client = member_api_client(tenant, Role.VIEWER)

    body = client.get(reverse("api-know-how-effect", args=[know_how.pk])).json()
    assert body["status"] == "measured" and body["know_how"] == know_how.pk
    assert (body["reached"], body["matched"], body["comparison_reps"]) == (20, 20, 30)
    assert body["win_rate"]["did"] == pytest.approx(0.3)
    assert body["win_rate"]["ci_low"] < 0.3 < body["win_rate"]["ci_high"]
    assert body["caution"] == "Correlation, not causation."
    assert "same quadrant and tier" in body["matching"]

    small_body = client.get(reverse("api-know-how-effect", args=[small.pk])).json()
    assert small_body["status"] == "too_small" and small_body["win_rate"] is None
    assert small_body["message"].startswith("Too few reps")

    assert client.get(reverse("api-know-how-effect", args=[theirs.pk])).status_code == 404
    assert client.get(f"/api/v1/know-how/{know_how.pk}/effect").status_code == 200


def test_api_overall_effect_and_who_reads_it(measured, tenant):
    body = member_api_client(tenant, Role.VIEWER).get(reverse("api-know-how-effect-overall"))
    body = body.json()
    assert body["know_how"] is None and body["status"] == "measured"
    assert body["reached"] == 23

    _, raw = TenantAPIKey.objects.create_key(tenant=tenant, name="results", scopes="read")
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert key_client.get(reverse("api-know-how-effect-overall")).status_code == 200
    _, feed = TenantAPIKey.objects.create_key(tenant=tenant, name="feed", scopes="write")
    key_client.credentials(HTTP_AUTHORIZATION=f"Bearer {feed}")
    assert key_client.get(reverse("api-know-how-effect-overall")).status_code == 403
    assert APIClient().get(reverse("api-know-how-effect-overall")).status_code == 401


def test_api_before_the_first_computation(tenant):
    with tenant_scope(tenant):
        know_how = KnowHowFactory(tenant=tenant)
    client = member_api_client(tenant, Role.VIEWER)
    body = client.get(reverse("api-know-how-effect", args=[know_how.pk])).json()
    assert body["status"] == "not_computed" and body["activation"] is None
    assert "every night" in body["message"]


def test_know_how_page_shows_the_effect(client, viewer, measured):
    know_how, small, theirs = measured
    client.force_login(viewer)

    page = client.get(reverse("knowhow-detail", args=[know_how.pk])).content.decode()
    assert "Difference in differences" in page
    assert "+30.0 pp" in page  # the win rate's DiD
    assert "+50.0 pp" in page  # its naive change
    assert "n = 20 reps reached and matched (of 20 reached), 30 comparison reps." in page
    assert "Correlation, not causation." in page

    small_page = client.get(reverse("knowhow-detail", args=[small.pk])).content.decode()
    assert "Too few reps to measure" in small_page
    assert "Difference in differences" not in small_page

    assert client.get(reverse("knowhow-detail", args=[theirs.pk])).status_code == 404

    listing = client.get(reverse("knowhow-list")).content.decode()
    assert "Effect of all know-how" in listing and "+30.0 pp" not in listing


def test_know_how_pages_keep_a_flat_query_count(client, viewer, measured, tenant):
    know_how, *_ = measured
    client.force_login(viewer)

    def queries(url):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx)

    client.get(reverse("knowhow-list"))  # the first request of a session does more
    detail, listing = (
        queries(reverse("knowhow-detail", args=[know_how.pk])),
        queries(reverse("knowhow-list")),
    )
    with tenant_scope(tenant):
        for _ in range(5):
            KnowHowShareFactory(tenant=tenant, know_how=know_how)
            KnowHowShareFactory(tenant=tenant)
        know_how_effects_compute(tenant=tenant)
    assert queries(reverse("knowhow-detail", args=[know_how.pk])) == detail
    assert queries(reverse("knowhow-list")) == listing


@pytest.mark.django_db
def test_the_command_measures_now_and_prints_it(tenant):
    from io import StringIO

    from django.core.management import CommandError, call_command

    with tenant_scope(tenant):
        world = World(tenant)
        reached, _ = world.partner(rep_rows(12, won_after=6))
        world.partner(rep_rows(12))
        world.save()
        world.share(reached)
    out = StringIO()
    call_command("measure_know_how_effect", tenant=tenant.slug, stdout=out)
    text = out.getvalue()
    assert "All know-how: measured; reached 12, matched 12, comparison 12" in text
    assert "win_rate: reached 0.000→0.500, comparison 0.000→0.000" in text
    assert text.rstrip().endswith("Correlation, not causation.")
    with pytest.raises(CommandError, match="Between 1 and 365"):
        call_command("measure_know_how_effect", tenant=tenant.slug, days=0)
    with pytest.raises(CommandError, match="Unknown tenant"):
        call_command("measure_know_how_effect", tenant="nobody")


@pytest.mark.django_db
def test_the_interval_counts_the_few_comparison_reps_reused_by_many(in_tenant):
    import numpy as np
    from scipy import stats as scipy_stats

    world = World(in_tenant)
    # 120 reached reps, all compared with the same 12: the comparison's noise is shared.
    reached, _ = world.partner(rep_rows(120, won_before=24, won_after=60))
    world.partner(rep_rows(12, won_before=3, won_after=6))
    world.save()
    share = world.share(reached)

    win = _compute(in_tenant)[share.know_how_id].metrics["win_rate"]

    assert win["did"] == pytest.approx(0.3 - 0.25)
    # Resampling the reached reps alone (each against the fixed comparison change) would
    # give a narrower interval: the 12 comparison reps' own spread is left out.
    changes = np.array([w_a - w_b for w_b, w_a in _wins(120, 24, 60)], float) - 0.25
    alone = scipy_stats.bootstrap(
        (changes,), np.mean, method="percentile", rng=np.random.default_rng(0)
    ).confidence_interval
    assert win["ci_high"] - win["ci_low"] > 1.3 * (alone.high - alone.low)
    assert win["ci_low"] < 0.05 < win["ci_high"]


def _wins(count, before, after):
    """(won before, won after) per rep, as ``rep_rows`` lays them out."""
    return [(int(i < before), int(i < after)) for i in range(count)]
