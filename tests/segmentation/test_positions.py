"""Each segment's place in its run's default order (``RepSegment.position``): the run
writes it beside the score, the migration ranked the rows written before it, and the
keymen and partner pages sort by it where the run is ranked, showing the rows the score
order shows."""

from __future__ import annotations

import importlib
import math
import random
import re

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pse_crm.tenancy import all_tenants, tenant_scope
from reps.models import Rep
from segmentation.models import PartnerSegment, RepSegment, SegmentationRun
from segmentation.selectors import keymen_default_order
from segmentation.services.quadrants import positions
from segmentation.services.runs import segmentation_run
from tests.activities.factories import MaterialFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.segmentation.handbuilt import AS_OF, add_views, add_won
from tests.web.test_page_rows import _run


def _by_score(run) -> list[int]:
    return list(
        RepSegment.objects.filter(run=run).order_by("-score", "rep_id").values_list("pk", flat=True)
    )


def _by_position(run) -> list[int]:
    return list(
        RepSegment.objects.filter(run=run).order_by("position").values_list("pk", flat=True)
    )


@pytest.mark.parametrize("seed", range(6))
def test_positions_sort_as_postgresql_sorts_scores_highest_first(seed):
    """Ties (many, and 0.0 beside -0.0) go to the lowest rep id; NaN, which PostgreSQL
    puts above every number, comes first."""
    rng = random.Random(seed)
    n = rng.randint(0, 60)
    score = np.array([rng.choice([0.0, -0.0, 12.5, 12.5, 50.0, 99.0, math.nan]) for _ in range(n)])
    rep = np.array(rng.sample(range(1, 10_000), n), dtype=np.int64)
    place = positions(score, rep)

    def key(i):  # ORDER BY score DESC, rep_id
        s = score[i]
        return (0, 0.0, rep[i]) if math.isnan(s) else (1, -s, rep[i])

    expected = sorted(range(n), key=key)
    assert sorted(place.tolist()) == list(range(n))
    assert [int(i) for i in np.argsort(place)] == expected


@pytest.mark.parametrize("seed", range(3))
def test_a_run_ranks_its_segments_in_the_order_by_score(in_tenant, seed):
    rng = random.Random(seed)
    material = MaterialFactory(tenant=in_tenant)
    for partner in [PartnerFactory(tenant=in_tenant) for _ in range(3)]:
        for _ in range(rng.randint(2, 12)):
            rep = RepFactory(tenant=in_tenant, partner=partner)
            add_views(rep, material, rng.choice([0, 0, 1, 2, 2, 4]))
            if rng.random() < 0.3:
                add_won(rep, rng.choice([500, 500, 2_000]))
    run = segmentation_run(tenant=in_tenant, as_of=AS_OF)
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    run.refresh_from_db()
    assert run.segments_ranked
    places = list(RepSegment.objects.filter(run=run).values_list("position", flat=True))
    assert sorted(places) == list(range(run.rep_count))
    assert _by_position(run) == _by_score(run)


def test_the_migration_ranks_the_current_runs(tenant, other_tenant):
    """Every tenant's current run: the order by score, from 0, and marked ranked; an older
    run is left as it was (never listed by position)."""
    migration = importlib.import_module("segmentation.migrations.0005_rank_current_runs")
    runs = []
    for owner in (tenant, other_tenant):
        with tenant_scope(owner):
            material = MaterialFactory(tenant=owner)
            partner = PartnerFactory(tenant=owner)
            for views in (3, 0, 3, 1, 5, 0):
                add_views(RepFactory(tenant=owner, partner=partner), material, views)
            runs.append(segmentation_run(tenant=owner, as_of=AS_OF))
            runs.append(segmentation_run(tenant=owner, as_of=AS_OF))
    with all_tenants():
        current = {run.pk for run in SegmentationRun.objects.filter(is_current=True)}
        assert len(current) == 2
        written = {run.pk: dict(_placed(run)) for run in runs}
        RepSegment.objects.update(position=None)
        SegmentationRun.objects.update(segments_ranked=False)
        with connection.schema_editor() as editor:
            migration.rank_current_runs(None, editor)
        for run in runs:
            if run.pk in current:
                assert dict(_placed(run)) == written[run.pk]
                assert _by_position(run) == _by_score(run)
            else:
                assert set(dict(_placed(run)).values()) == {None}
        ranked = set(
            SegmentationRun.objects.filter(segments_ranked=True).values_list("pk", flat=True)
        )
        assert ranked == current


def _placed(run):
    return RepSegment.objects.filter(run=run).values_list("pk", "position")


def test_the_order_by_score_is_the_position_only_for_a_ranked_run():
    assert keymen_default_order(quadrant=None, results_measure=None, ranked=True) == ("position",)
    assert keymen_default_order(quadrant=None, results_measure=None) == ("-score", "rep_id")
    for quadrant in ("motivated", "performer"):
        assert keymen_default_order(
            quadrant=quadrant, results_measure=None, ranked=True
        ) == keymen_default_order(quadrant=quadrant, results_measure=None)


def _table(html: str) -> str:
    """The page's django-tables2 table (the keymen table), with its pager."""
    at = html.index('<table class="data"')
    return html[at : html.index("</nav>", at)]


def test_the_pages_show_the_same_rows_ranked_or_not(manager_client, tenant):
    """Every page of the keymen list and of a partner's list, ranked (sorted by position)
    and not (by score and rep): the same rows; only the ranked read sorts by position."""
    with tenant_scope(tenant):
        material = MaterialFactory(tenant=tenant)
        big, small = PartnerFactory(tenant=tenant), PartnerFactory(tenant=tenant)
        rng = random.Random(7)
        for i in range(125):
            rep = RepFactory(tenant=tenant, partner=big if i % 3 else small)
            add_views(rep, material, rng.choice([0, 0, 0, 1, 2, 3]))
        run = _run(tenant)
    assert run.segments_ranked
    urls = [reverse("keymen") + f"?page={page}" for page in (1, 2, 3, 4)]  # 4: beyond the last
    urls += [reverse("partner-detail", args=[big.pk]) + f"?page={page}" for page in (1, 2)]
    urls += [reverse("partner-detail", args=[small.pk])]
    filtered = [reverse("keymen") + "?quadrant=dormant&page=2", reverse("keymen") + "?q=a"]

    def read(url):
        with CaptureQueriesContext(connection) as queries:
            response = manager_client.get(url)
        assert response.status_code == 200
        ids = ('SELECT "enablement_repsegment"."id" AS "pk"', "SELECT COUNT(")
        sorts = " ".join(q["sql"] for q in queries.captured_queries if q["sql"].startswith(ids))
        return _table(response.content.decode()), sorts

    ranked = {url: read(url) for url in urls + filtered}
    with tenant_scope(tenant):
        SegmentationRun.objects.filter(pk=run.pk).update(segments_ranked=False)
    plain = {url: read(url) for url in urls + filtered}
    for url in urls + filtered:
        assert ranked[url][0] == plain[url][0], url
        assert '"position" ASC' not in plain[url][1] and "ARRAY_AGG" not in plain[url][1], url
    # The keymen list unfiltered: read by position numbers, no sort; filtered: by position.
    for url in urls[:4]:
        assert 'ARRAY_AGG("enablement_repsegment"."id"' in ranked[url][1], url
    for url in filtered + urls[4:]:
        assert '"enablement_repsegment"."position" ASC' in ranked[url][1], url
        assert "ARRAY_AGG" not in ranked[url][1], url
    assert ranked[urls[2]][0].count("<tr") > 20  # the last keymen page: 25 reps and a header
    # The partners' first pages from their first reps listed by the run: no sort of the
    # run's rows (the big partner's 83 reps beyond the 51 listed, the small one's 42 all).
    for url in (urls[4], urls[6]):
        assert '"enablement_repsegment"."rep_id" IN (' in ranked[url][1], url
        assert '"rep_id" IN (' not in plain[url][1], url
    assert '"rep_id" IN (' not in ranked[urls[5]][1]  # page 2: beyond the 51
    assert ranked[urls[4]][0].count('href="/reps/') == 50


def test_the_keymen_list_read_by_position_falls_back_when_a_segment_is_gone(manager_client, tenant):
    """A deleted segment leaves a number missing: every page is then read by the sort,
    and shows what it shows without the numbers."""
    with tenant_scope(tenant):
        material = MaterialFactory(tenant=tenant)
        partner = PartnerFactory(tenant=tenant)
        for i in range(120):
            add_views(RepFactory(tenant=tenant, partner=partner), material, i % 5)
        run = _run(tenant)
        order = list(
            RepSegment.objects.filter(run=run).order_by("position").values_list("rep_id", flat=True)
        )
    for gone in (order[3], order[75]):  # a number before page 2, one inside it
        with tenant_scope(tenant):
            RepSegment.objects.filter(run=run, rep_id=gone).delete()
            order.remove(gone)
        for page in (1, 2, 3):
            html = manager_client.get(reverse("keymen") + f"?page={page}").content.decode()
            table = _table(html)
            shown = [int(pk) for pk in re.findall(r'href="/reps/(\d+)/"', table)]
            assert shown == order[(page - 1) * 50 : page * 50], (gone, page)
            assert ('rel="next"' in table) == (page * 50 < len(order)), (gone, page)


def _first_page(client, partner) -> tuple[list[int], bool]:
    """The rep ids of the partner page's first page, and whether it links a next page."""
    table = _table(client.get(reverse("partner-detail", args=[partner.pk])).content.decode())
    return [int(pk) for pk in re.findall(r'href="/reps/(\d+)/"', table)], 'rel="next"' in table


def test_a_partners_first_page_listed_by_the_run_falls_back_when_its_reps_changed(
    manager_client, tenant
):
    """A listed rep who moved partner since the run, a listed rep's segment gone: the
    first page is what the plain read gives (the next reps take their places)."""
    with tenant_scope(tenant):
        material = MaterialFactory(tenant=tenant)
        partner, other = PartnerFactory(tenant=tenant), PartnerFactory(tenant=tenant)
        reps = [RepFactory(tenant=tenant, partner=partner) for _ in range(60)]
        for i, rep in enumerate(reps):
            add_views(rep, material, i % 7)
        run = _run(tenant)
        figures = PartnerSegment.objects.get(run=run, partner=partner)
        listed = figures.first_listed_reps
        by_position = list(
            RepSegment.objects.filter(run=run, partner=partner)
            .order_by("position")
            .values_list("rep_id", flat=True)
        )
        assert listed == by_position[:51] and len(by_position) == 60
    assert _first_page(manager_client, partner) == (listed[:50], True)
    with tenant_scope(tenant):
        RepSegment.objects.filter(run=run, rep_id=listed[1]).delete()
    # 50 of the 51 listed are there: the page still has a next one.
    assert _first_page(manager_client, partner) == ([listed[0], *by_position[2:51]], True)
    with tenant_scope(tenant):
        Rep.objects.filter(pk=listed[0]).update(partner=other)
    assert _first_page(manager_client, partner) == (by_position[2:52], True)
