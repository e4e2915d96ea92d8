"""The partner page reads its first pages from the segments the run placed at the partner
(``DeferredJoinQuerySet`` with a superset): every slice is the slice of the exact
queryset (the segment's partner and the rep's partner now), whether or not reps moved
since the run, in every order, on pages before, at and beyond ``SUPERSET_ROWS``; the
fast path costs the first page no query and falls back when a moved rep is among the
first rows."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pse_crm.tables import DeferredJoinQuerySet
from pse_crm.tenancy import tenant_scope
from segmentation.models import Quadrant, Tier
from segmentation.selectors import rep_segments_current, rep_segments_placed_at
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.factories import RepSegmentFactory, SegmentationRunFactory

pytestmark = pytest.mark.django_db

ID_STATEMENT = 'SELECT "enablement_repsegment"."id" AS "pk" FROM "enablement_repsegment"'

ORDERS = (
    ("-score", "rep_id"),
    ("score", "-rep_id"),
    ("-views", "rep_id"),
    ("rep__name", "rep_id"),
    ("-won_amount", "rep_id"),
    ("quadrant", "rep_id"),
    ("-tier", "-rep_id"),
)


def _world(tenant, rng: random.Random, *, reps: int = 40):
    """A current run with ``reps`` segments placed at ``partner`` (tied scores and views
    among them) and a few at ``other``; returns the two partners and the reps placed at
    ``partner``, in a random order."""
    partner, other = PartnerFactory(tenant=tenant), PartnerFactory(tenant=tenant)
    run = SegmentationRunFactory(tenant=tenant)
    placed = []
    for i in range(reps + 5):
        at = partner if i < reps else other
        rep = RepFactory(partner=at, name=f"rep {rng.randint(0, 9)}")
        RepSegmentFactory(
            rep=rep,
            run=run,
            partner=at,
            score=rng.choice([0.0, 0.25, 0.5, 0.5, 0.75, rng.random()]),
            views=rng.randint(0, 6),
            won_amount=rng.choice([0, 100, 250]),
            quadrant=rng.choice(Quadrant.values),
            tier=rng.choice([*Tier.values, None]),
        )
        if at is partner:
            placed.append(rep)
    rng.shuffle(placed)
    return partner, other, placed


def _move(reps: list, *, to) -> list:
    """The reps moved to partner ``to`` after the run."""
    for rep in reps:
        rep.partner = to
        rep.save(update_fields=["partner"])
    return reps


def _querysets(tenant, partner, *, tier=None, order=ORDERS[0]):
    exact = rep_segments_current(tenant=tenant, partner_id=partner.pk, tier=tier)
    superset = rep_segments_placed_at(
        rep_segments_current(tenant=tenant, tier=tier), partner_id=partner.pk
    )
    wrapped = DeferredJoinQuerySet.wrap(exact.order_by(*order), superset=superset)
    return exact.order_by(*order), wrapped


@pytest.mark.parametrize("seed", range(6))
def test_every_slice_is_the_exact_querysets_slice(tenant, seed, monkeypatch):
    rng = random.Random(seed)
    monkeypatch.setattr(DeferredJoinQuerySet, "SUPERSET_ROWS", 12)
    with tenant_scope(tenant):
        partner, other, placed = _world(tenant, rng)
        # Moves after the run: none, then one at a time, to the other partner.
        for moved in [None, *placed[: rng.randint(1, 6)]]:
            if moved is not None:
                moved.partner = other
                moved.save(update_fields=["partner"])
            for order in ORDERS:
                for tier in (None, rng.choice(Tier.values)):
                    exact, wrapped = _querysets(tenant, partner, tier=tier, order=order)
                    expected = list(exact.values_list("pk", flat=True))
                    for start, stop in ((0, 5), (0, 12), (3, 9), (10, 12), (0, 13), (11, 30)):
                        got = [s.pk for s in wrapped[start:stop]]
                        assert got == expected[start:stop], (order, tier, start, stop)
                    assert [s.pk for s in wrapped.reverse()[0:7]] == list(
                        exact.reverse().values_list("pk", flat=True)[0:7]
                    )


def test_the_first_page_costs_no_extra_query_and_a_moved_rep_falls_back(tenant):
    rng = random.Random(7)
    with tenant_scope(tenant):
        partner, other, _placed = _world(tenant, rng, reps=30)
        exact, wrapped = _querysets(tenant, partner)
        with CaptureQueriesContext(connection) as ctx:
            rows = wrapped[0:11]
        assert [s.pk for s in rows] == list(exact.values_list("pk", flat=True)[0:11])
        # The superset's ids, then the rows through the exact queryset: two queries, as
        # the plain deferred join (ids, then rows). No statement joins reps to sort.
        assert len(ctx.captured_queries) == 2
        assert "reps_rep" not in ctx.captured_queries[0]["sql"]
        assert all(r.rep.name and r.partner_id == partner.pk for r in rows)

        top = rows[0].rep
        top.partner = other
        top.save(update_fields=["partner"])
        exact, wrapped = _querysets(tenant, partner)
        with CaptureQueriesContext(connection) as ctx:
            rows = wrapped[0:11]
        assert top.pk not in {s.rep_id for s in rows}
        assert [s.pk for s in rows] == list(exact.values_list("pk", flat=True)[0:11])
        assert len(ctx.captured_queries) == 4  # the fast path's two, then the exact read


def test_a_superset_of_another_model_is_refused(tenant):
    from reps.models import Rep

    with tenant_scope(tenant):
        exact = rep_segments_current(tenant=tenant)
        with pytest.raises(TypeError):
            DeferredJoinQuerySet.wrap(exact, superset=Rep.objects.all())


def test_the_partner_page_lists_the_partners_reps_now_in_score_order(manager_client, tenant):
    rng = random.Random(11)
    with tenant_scope(tenant):
        partner, other, placed = _world(tenant, rng, reps=60)
        moved = _move(placed[:3], to=other)
        exact, _wrapped = _querysets(tenant, partner)
        expected = list(exact.values_list("rep_id", flat=True))
    assert len(expected) == 57
    for page, rows in ((1, expected[:50]), (2, expected[50:])):
        html = manager_client.get(
            reverse("partner-detail", args=[partner.pk]), {"page": page}
        ).content.decode()
        shown = [rep_id for rep_id in expected if f"/reps/{rep_id}/" in html]
        assert shown == rows
        assert all(f"/reps/{rep.pk}/" not in html for rep in moved)
        positions = [html.index(f"/reps/{rep_id}/") for rep_id in rows]
        assert positions == sorted(positions)


def test_orders_it_cannot_vouch_for_are_read_as_usual(tenant):
    """A superset ordered or reversed on its own still follows this queryset's order; an
    expression, a random order, an annotation the superset lacks or ``distinct`` skip the
    fast path (the exact read's statement joins reps)."""
    from django.db.models import F, Value
    from django.db.models.functions import Coalesce

    rng = random.Random(5)
    with tenant_scope(tenant):
        partner, other, placed = _world(tenant, rng, reps=25)
        placed[0].partner = other
        placed[0].save(update_fields=["partner"])
        exact = rep_segments_current(tenant=tenant, partner_id=partner.pk)
        superset = rep_segments_placed_at(
            rep_segments_current(tenant=tenant), partner_id=partner.pk
        )
        expected = list(exact.order_by("-score", "rep_id").values_list("pk", flat=True))
        for odd in (superset.order_by("views"), superset.order_by("-score", "rep_id").reverse()):
            wrapped = DeferredJoinQuerySet.wrap(exact.order_by("-score", "rep_id"), superset=odd)
            assert [s.pk for s in wrapped[0:9]] == expected[0:9]
            assert [s.pk for s in wrapped[4:9]] == expected[4:9]
            assert [s.pk for s in wrapped.reverse()[0:5]] == expected[::-1][0:5]

        def first_statement(qs) -> str:
            with CaptureQueriesContext(connection) as ctx:
                list(DeferredJoinQuerySet.wrap(qs, superset=superset)[0:5])
            return ctx.captured_queries[0]["sql"]

        assert "reps_rep" not in first_statement(exact.order_by("-score", "rep_id"))
        by_field = exact.order_by(F("views").desc(nulls_last=True), "rep_id")
        assert "reps_rep" not in first_statement(by_field)
        for qs in (
            exact.order_by(Coalesce("views", 0).desc(), "rep_id"),
            exact.order_by("?"),
            exact.annotate(k=Value(1)).order_by("k", "rep_id"),
            exact.order_by("-score", "rep_id").distinct(),
        ):
            assert "reps_rep" in first_statement(qs)


@pytest.mark.parametrize(
    "extra", [{}, {"quadrant": "motivated"}, {"q": "rep 3"}, {"sort": "views"}]
)
def test_the_keymen_page_filtered_by_a_partner_lists_its_reps_now(manager_client, tenant, extra):
    """The keymen page's partner filter reads its first pages from the same superset: the
    rows and their order are those of the exact queryset, reps moved since the run gone."""
    from django.db.models import Q

    from segmentation.selectors import keymen_default_order

    rng = random.Random(13)
    with tenant_scope(tenant):
        partner, other, placed = _world(tenant, rng, reps=70)
        moved = _move(placed[:4], to=other)
        exact = rep_segments_current(
            tenant=tenant, partner_id=partner.pk, quadrant=extra.get("quadrant")
        )
        if "q" in extra:
            exact = exact.filter(Q(rep__name__icontains="rep 3") | Q(rep__email__icontains="rep 3"))
        order = keymen_default_order(quadrant=extra.get("quadrant"), results_measure=None)
        if extra.get("sort") == "views":
            order = ["-views", "rep_id"]
        expected = list(exact.order_by(*order).values_list("rep_id", flat=True))
    assert expected
    with CaptureQueriesContext(connection) as ctx:
        response = manager_client.get(reverse("keymen"), {"partner": partner.pk, **extra})
    html = response.content.decode()
    ids = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith(ID_STATEMENT)]
    # The first page's ids from the superset (no join to reps) unless the search needs one.
    assert any("reps_rep" not in sql for sql in ids) == ("q" not in extra)
    shown = sorted(
        (html.index(f"/reps/{rep_id}/"), rep_id)
        for rep_id in expected[:50]
        if f"/reps/{rep_id}/" in html
    )
    assert [rep_id for _pos, rep_id in shown] == expected[:50]
    assert all(f"/reps/{rep.pk}/" not in html for rep in moved)
