"""The list pages draw their rows in Python (keymen, a partner's reps, partners) and the
keymen filter draws its partner choice in Python: what a reader sees in a row, escaped;
the partner list reads the shares of its page's partners; the playbook reads the current
run; and the query counts stay flat however many partners there are."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from segmentation.models import QUADRANT_SHORT, Quadrant, RepSegment, SegmentationRun
from segmentation.services.runs import segmentation_run
from tests.factories import MembershipFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.web.test_share_pages import world as share_world
from tests.web.test_verdict_pages import _views, _won
from tests.web.test_verdict_pages import build as verdict_world

pytestmark = pytest.mark.django_db


def _row(html: str, marker: str) -> str:
    """The ``<tr>`` of the table row that contains ``marker``."""
    at = html.index(marker)
    start = html.rindex("<tr", 0, at)
    return html[start : html.index("</tr>", at) + len("</tr>")]


def _run(tenant, **kwargs) -> SegmentationRun:
    run = segmentation_run(tenant=tenant, as_of=timezone.now(), **kwargs)
    assert run.status == SegmentationRun.Status.SUCCEEDED, run.error
    return run


def test_keymen_rows_escape_names_and_show_quadrant_tier_move_and_last_view(
    manager_client, tenant, other_tenant
):
    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant, name="Acme <b>&</b> KK")
        reps = [RepFactory(partner=partner, name=f"Acme rep {i}") for i in range(5)]
        mover = RepFactory(partner=partner, name="<script>alert(1)</script>")
        for i, rep in enumerate(reps):
            _views(rep, 2 + 3 * i)
            if i % 2:
                _won(rep, 1_000_000 * (i + 1))
        _run(tenant)
        _views(mover, 40)  # dormant in the first run, reads most in the second
        run = _run(tenant)
        seg = RepSegment.objects.get(run=run, rep=mover)
    with tenant_scope(other_tenant):
        PartnerFactory(tenant=other_tenant, name="Rival partner")
    html = manager_client.get(reverse("keymen")).content.decode()
    assert "<script>alert(1)" not in html and "<b>&</b>" not in html
    row = _row(html, "&lt;script&gt;alert(1)&lt;/script&gt;")
    assert f'<tr data-quadrant="{seg.quadrant}">' in row
    assert f'<a href="{reverse("rep-detail", args=[mover.pk])}">' in row
    assert "Acme &lt;b&gt;&amp;&lt;/b&gt; KK" in row
    label = dict(Quadrant.choices)
    assert (
        f'<span class="badge q-{seg.quadrant}" title="{label[seg.quadrant]}">'
        f"{QUADRANT_SHORT[seg.quadrant]}</span>"
    ) in row
    # It moved: the previous quadrant, short, with its full name as the title.
    assert seg.previous_quadrant == Quadrant.DORMANT != seg.quadrant
    assert (
        f'<span class="small muted" title="{label[Quadrant.DORMANT]}">'
        f"{QUADRANT_SHORT[Quadrant.DORMANT]} →</span>"
    ) in row
    assert f'<td class="num">{seg.views}</td>' in row
    last = date_format(timezone.localtime(seg.last_viewed_at), "SHORT_DATE_FORMAT")
    assert f"<td>{last}</td>" in row
    if seg.tier:
        assert f'<span class="badge t-{seg.tier}"' in row and "%</span>" in row
    assert 'data-testid="assign"' in row and "Log hearing" in row
    # A rep who did not move has an empty cell there; a rep without views shows a dash.
    still = _row(html, ">Acme rep 0<")
    assert "→" not in still
    # The partner filter lists this tenant's partners only, escaped.
    choice = html[html.index('<select name="partner" id="id_partner">') :]
    choice = choice[: choice.index("</select>")]
    assert '<option value="" selected>All partners</option>' in choice
    assert f'<option value="{partner.pk}">Acme &lt;b&gt;&amp;&lt;/b&gt; KK</option>' in choice
    assert "Rival" not in choice


def test_the_partner_filter_keeps_the_chosen_partner(manager_client, tenant, other_tenant):
    with tenant_scope(tenant):
        chosen, other = (PartnerFactory(tenant=tenant, name=f"Acme {n}") for n in "AB")
    with tenant_scope(other_tenant):
        rival = PartnerFactory(tenant=other_tenant, name="Rival")

    def choice(query) -> str:
        html = manager_client.get(reverse("keymen"), query).content.decode()
        return html[html.index('<select name="partner"') :].split("</select>")[0]

    chose = choice({"partner": chosen.pk})
    assert f'<option value="{chosen.pk}" selected>Acme A</option>' in chose
    assert f'<option value="{other.pk}">Acme B</option>' in chose
    assert '<option value="">All partners</option>' in chose
    # Another tenant's id is no choice: nothing is selected, the page still answers.
    assert " selected>" not in choice({"partner": rival.pk})


def test_a_partner_page_lists_its_reps_without_the_partner_column(manager_client, tenant):
    world = verdict_world(tenant)
    html = manager_client.get(reverse("partner-detail", args=[world["star"].pk])).content.decode()
    row = _row(html, ">Acme s1<")
    assert reverse("partner-detail", args=[world["star"].pk]) not in row
    assert 'data-quadrant="performer"' in row and 'data-testid="assign"' in row
    assert ">Acme q1<" not in html  # another partner's rep


def test_each_page_of_the_partner_list_shows_the_shares_of_its_partners(
    manager_client, tenant, monkeypatch
):
    monkeypatch.setattr("web.views.partners.PER_PAGE", 1)
    gainer, *_others = share_world(tenant, prefix="Acme")  # gainer, inconsistent, silent
    pages = [
        manager_client.get(reverse("partner-list"), {"page": n}).content.decode() for n in (1, 2, 3)
    ]
    assert 'data-testid="share-cell"' in pages[0] and "40.0% ↗" in pages[0]
    assert "Acme Partner 0" in pages[0] and "Acme Partner 1" not in pages[0]
    assert "inconsistent" in _row(pages[1], "Acme Partner 1")
    assert "no total reported" in _row(pages[2], "Acme Partner 2")
    row = _row(pages[0], "Acme Partner 0")
    assert row.startswith('<tr class="even">')
    assert f'<td><a href="{reverse("partner-detail", args=[gainer.pk])}">Acme Partner 0</a>' in row
    assert '<td class="num">1</td>' in row  # one employed rep


def test_the_playbook_reads_the_current_run(manager_client, tenant):
    world = verdict_world(tenant)
    with tenant_scope(tenant):
        _views(world["reps"]["q6"], 40)  # one view in the first run: sixth, not shown
        _run(tenant)
    card = manager_client.get(reverse("dashboard")).content.decode()
    card = card[card.index('data-testid="first-performer"') :]
    card = card[: card.index("</section>")]
    first = card[card.index('data-testid="candidates"') :]
    assert first.index("Acme q6<") < first.index("Acme q3<")
    assert "41 views" in first


def _partners_world(tenant, *, prefix: str, partners: int) -> dict:
    """``partners`` partners without a keyman ① (two readers each) and one with a
    performer; a run."""
    with tenant_scope(tenant):
        star = PartnerFactory(tenant=tenant, name=f"{prefix} Star")
        performer = RepFactory(partner=star, name=f"{prefix} star rep")
        _views(performer, 20)
        _won(performer, 5_000_000)
        RepFactory(partner=star)
        flagged = []
        for p in range(partners):
            partner = PartnerFactory(tenant=tenant, name=f"{prefix} Quiet {p}")
            for i in range(2):
                _views(RepFactory(partner=partner, name=f"{prefix} q{p}-{i}"), 3 + i)
            flagged.append(partner)
        run = _run(tenant)
    return {"star": star, "flagged": flagged, "run": run}


def test_query_counts_do_not_grow_with_partners_or_flagged_partners(
    client, tenant, manager, other_tenant
):
    small = _partners_world(tenant, prefix="Small", partners=1)
    big_manager = MembershipFactory(tenant=other_tenant, role=Role.MANAGER).user
    big = _partners_world(other_tenant, prefix="Big", partners=6)
    assert small["run"].partners_without_performer == 1
    assert big["run"].partners_without_performer == 6
    counts = {}
    for name, world, user in (("small", small, manager), ("big", big, big_manager)):
        client.force_login(user)
        urls = [
            reverse("dashboard"),
            reverse("keymen"),
            reverse("keymen") + f"?partner={world['flagged'][0].pk}",
            reverse("partner-list"),
            reverse("partner-detail", args=[world["flagged"][0].pk]),
            reverse("partner-detail", args=[world["star"].pk]),
        ]
        for i, url in enumerate(urls):
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url)
            assert response.status_code == 200, url
            counts[(name, i)] = len(ctx.captured_queries)
        html = client.get(reverse("dashboard")).content.decode()
        # The playbook lists the flagged partners, five at most, with their candidates.
        assert html.count('class="playbook-row"') == min(5, len(world["flagged"]))
    for i in range(6):
        assert counts[("big", i)] <= counts[("small", i)], (i, counts)
