"""The segmentation's readers: every reader of "the segments" reads the current run."""

from __future__ import annotations

import datetime as dt

from segmentation.models import PartnerSegment
from segmentation.selectors import (
    keymen_default_order,
    rep_segments_current,
    segment_scatter_points,
)
from segmentation.services.runs import segmentation_run
from tests.activities.factories import MaterialFactory
from tests.segmentation.handbuilt import AS_OF, add_views
from web.selectors import tier_counts_of


def test_selectors_filter_the_current_run(data):
    segmentation_run(tenant=data["tenant"], as_of=AS_OF)
    tenant = data["tenant"]
    motivated = rep_segments_current(tenant=tenant, quadrant="motivated")
    assert {s.rep.name for s in motivated} == {"a3", "b1"}
    top = rep_segments_current(tenant=tenant, tier="top")
    assert {s.rep.name for s in top} == {"a1", "a2"}
    untiered = rep_segments_current(tenant=tenant, tier="none")
    assert {s.rep.name for s in untiered} == {"b1", "b2", "b3", "b4"}
    in_b = rep_segments_current(tenant=tenant, partner_id=data["partners"]["B"].pk)
    assert in_b.count() == 4
    points = segment_scatter_points(tenant=tenant, partner_id=data["partners"]["B"].pk)
    assert sorted(points) == [
        (0, 0.0, "dormant"),
        (2, 0.0, "casual"),
        (6, 1_000_000.0, "independent"),
        (15, 0.0, "motivated"),
    ]


def test_a_partners_reps_are_its_reps_now_as_segmented_in_the_run(data):
    """``rep_segments_of_partner``: the segment's partner and the rep's partner now."""
    tenant, partners, b2 = data["tenant"], data["partners"], data["reps"]["b2"]
    segmentation_run(tenant=tenant, as_of=AS_OF)
    b2.partner = partners["A"]  # moves after the run
    b2.save(update_fields=["partner"])

    def names(partner):
        return {s.rep.name for s in rep_segments_current(tenant=tenant, partner_id=partner.pk)}

    assert "b2" not in names(partners["B"]) | names(partners["A"])
    assert names(partners["B"]) == {"b1", "b3", "b4"}
    # The run's own figures still count b2 where it was.
    figures = PartnerSegment.objects.get(run__is_current=True, partner=partners["B"])
    assert figures.reps == 4
    assert tier_counts_of(figures) == {"none": 4}
    assert len(segment_scatter_points(tenant=tenant, partner_id=partners["B"].pk)) == 3

    segmentation_run(tenant=tenant, as_of=AS_OF + dt.timedelta(days=1))
    assert "b2" in names(partners["A"])
    assert names(partners["B"]) == {"b1", "b3", "b4"}
    assert PartnerSegment.objects.get(run__is_current=True, partner=partners["B"]).reps == 3


def test_the_keymen_list_to_act_on_is_ordered_by_motivation_and_by_results(data):
    """Keyman ② by views in the window (then the latest view); keyman ① by results."""
    tenant, reps = data["tenant"], data["reps"]
    deck = MaterialFactory(tenant=tenant)
    # a3 (8 views) and b1 (15) both reach 16; b1 read last. By rep id a3 would come first.
    add_views(reps["a3"], deck, 8, days_ago=2)
    add_views(reps["b1"], deck, 1, days_ago=0.1)
    segmentation_run(tenant=tenant, as_of=AS_OF)

    def ordered(quadrant, measure="won_amount"):
        order = keymen_default_order(quadrant=quadrant, results_measure=measure)
        qs = rep_segments_current(tenant=tenant, quadrant=quadrant).order_by(*order)
        return [s.rep.name for s in qs]

    # 16 views each; b1 read last (0.1 days before the run), a3 a day before.
    assert ordered("motivated") == ["b1", "a3"]
    # a1 won 3,000,000, a2 500,000.
    assert ordered("performer") == ["a1", "a2"]
    assert keymen_default_order(quadrant="performer", results_measure="won_deals")[0] == (
        "-won_deals"
    )
    assert keymen_default_order(quadrant=None, results_measure=None) == ("-score", "rep_id")
