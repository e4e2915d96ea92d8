"""The hand-built data set the segmentation tests share (the ``data`` fixture in
``conftest.py``): 14 employed reps of two partners, each with views and won deals worked
out so that every expected quadrant, tier, activation rate and statistic can be checked
by hand; plus things that must not count, and another tenant's data.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from segmentation.models import RepSegment
from tests.activities.factories import DealFactory, MaterialFactory, MaterialViewFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
AS_OF = dt.datetime(2026, 11, 20, 3, 0, tzinfo=TOKYO)
AS_OF_DATE = AS_OF.date()

# name: (partner, views in the 90-day window, won amounts closed in the 365-day window)
REPS = {
    "a1": ("A", 20, [1_000_000, 1_000_000, 1_000_000]),
    "a2": ("A", 12, [500_000]),
    "a3": ("A", 8, []),
    "a4": ("A", 5, []),
    "a5": ("A", 3, []),
    "a6": ("A", 0, [2_000_000]),
    "a7": ("A", 1, []),
    "a8": ("A", 0, []),  # an old open deal only: not activity, so inactive and dormant
    "a9": ("A", 0, []),  # one view 200 days ago: inactive
    "a10": ("A", 0, []),
    "b1": ("B", 15, []),
    "b2": ("B", 2, []),
    "b3": ("B", 0, []),
    "b4": ("B", 6, [1_000_000]),
}


def add_views(rep, material, count, *, days_ago=1.0):
    for i in range(count):
        MaterialViewFactory(
            tenant=rep.tenant,
            rep=rep,
            material=material,
            viewed_at=AS_OF - dt.timedelta(days=days_ago, minutes=i),
        )


def add_won(rep, amount, *, days_ago=10, **extra):
    """A deal won ``days_ago`` before the as-of day, created 120 days before that (outside
    the 90-day view window, so only the win is activity)."""
    extra.setdefault("sf_created_at", AS_OF - dt.timedelta(days=days_ago + 120))
    return DealFactory(
        tenant=rep.tenant,
        rep=rep,
        partner=rep.partner,
        amount=amount,
        is_closed=True,
        is_won=True,
        stage="Closed Won",
        close_date=AS_OF_DATE - dt.timedelta(days=days_ago),
        **extra,
    )


def build_handbuilt_data(in_tenant, other_tenant):
    """Build the data set in ``in_tenant`` (and rivals in ``other_tenant``)."""
    tenant = in_tenant
    partners = {"A": PartnerFactory(tenant=tenant, name="A"), "B": PartnerFactory(tenant=tenant)}
    deck = MaterialFactory(tenant=tenant)
    case = MaterialFactory(tenant=tenant)
    reps = {}
    for name, (partner, views, wins) in REPS.items():
        rep = RepFactory(tenant=tenant, partner=partners[partner], name=name)
        reps[name] = rep
        add_views(rep, deck, views - 1 if name == "a1" else views)
        for amount in wins:
            add_won(rep, amount)
    # a1's 20 views: 19 of the deck and the case study once (2 distinct materials).
    add_views(reps["a1"], case, 1, days_ago=0.5)

    # Things that must not count:
    add_won(reps["a5"], 10_000_000, is_deleted=True)  # a deleted deal
    add_won(reps["a7"], 4_000_000, days_ago=400)  # closed before the results window
    DealFactory(  # a lost deal
        tenant=tenant,
        rep=reps["a7"],
        partner=partners["A"],
        amount=900_000,
        is_closed=True,
        is_won=False,
        close_date=AS_OF_DATE - dt.timedelta(days=5),
        sf_created_at=AS_OF - dt.timedelta(days=150),
    )
    DealFactory(  # a won deal without a rep counts for no rep
        tenant=tenant,
        rep=None,
        partner=partners["A"],
        amount=7_000_000,
        is_closed=True,
        is_won=True,
        close_date=AS_OF_DATE - dt.timedelta(days=5),
    )
    add_views(reps["a4"], deck, 4, days_ago=100)  # before the view window
    add_views(reps["a5"], deck, 30, days_ago=-2)  # after the as-of moment
    add_views(reps["a9"], deck, 1, days_ago=200)  # only long ago
    DealFactory(  # an open deal opened long ago: not activity
        tenant=tenant,
        rep=reps["a8"],
        partner=partners["A"],
        amount=100_000,
        sf_created_at=AS_OF - dt.timedelta(days=200),
    )
    # A rep who left partner A: busy and selling, but not segmented.
    left = RepFactory(tenant=tenant, partner=partners["A"], name="left", is_employed=False)
    add_views(left, deck, 50)
    add_won(left, 9_000_000)

    # Another tenant's reps, views and deals in the same database change nothing.
    rival_partner = PartnerFactory(tenant=other_tenant)
    rival_deck = MaterialFactory(tenant=other_tenant)
    for i in range(12):
        rival = RepFactory(tenant=other_tenant, partner=rival_partner)
        add_views(rival, rival_deck, 40 + i)
        add_won(rival, 5_000_000 * (i + 1))
    return {"tenant": tenant, "reps": reps, "partners": partners, "left": left}


def segments_by_name(run):
    return {s.rep.name: s for s in RepSegment.objects.filter(run=run).select_related("rep")}
