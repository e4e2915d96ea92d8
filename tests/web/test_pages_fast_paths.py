"""The pages' cheaper reads give what the plain reads gave: the share of wallet's period of
a close date (comparisons, not a time-zone cast), the dashboard's movers (only the shown
rows built), the momentum labels of the partners a page shows, the keymen partner filter
(rows, not partner instances), the table rows drawn with f-strings (escaped as
``format_html`` escapes) and the partner page's tier counts (the figures it read)."""

from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe

from momentum.models import MomentumSnapshot
from momentum.selectors import momentum_indicators
from partners.models import PartnerTotal
from partners.periods import MONTH, QUARTER, period_shift, periods_between
from pse_crm.calendar import tenant_today, week_start
from pse_crm.tenancy import tenant_scope
from segmentation.forms import KeymenFilterForm
from segmentation.views.keymen import _partner_select
from tests.activities.factories import DealFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory
from tests.web.test_page_rows import _row, _run
from tests.web.test_verdict_pages import _views, _won
from web.selectors import tier_counts_of
from web.share_of_wallet import (
    ShareTrend,
    last_complete_period,
    share_movers,
    share_of_wallet,
    share_trends,
)

pytestmark = pytest.mark.django_db

NASTY = "<b>&amp;</b> \"Co\" 'KK' & <script>"


def _random_deals(tenant, rng: random.Random, partners: list, first: dt.date, last: dt.date):
    """Won, lost, deleted and unconverted deals whose close dates fall on periods' first
    and last days, and just outside the span."""
    days = (last - first).days
    edges = []
    for start, end in periods_between(first, last, MONTH):
        edges += [start, end]
    for partner in partners:
        rep = RepFactory(partner=partner)
        for _ in range(rng.randint(0, 14)):
            close = (
                rng.choice(edges)
                if rng.random() < 0.6
                else first + dt.timedelta(days=rng.randint(-20, days + 20))
            )
            unconverted = rng.random() < 0.1
            DealFactory(
                rep=rep,
                amount=rng.randint(1, 90) * 100_000,
                currency="USD" if unconverted else "JPY",
                is_closed=True,
                is_won=rng.random() < 0.8,
                is_deleted=rng.random() < 0.1,
                close_date=close,
            )


def _expected_wins(tenant, first: dt.date, last: dt.date, granularity: str) -> dict:
    """(partner, period start) → (won amount, won deals, unconverted), deal by deal."""
    from activities.models import Deal

    periods = periods_between(first, last, granularity)
    out: dict = {}
    for deal in Deal.objects.filter(tenant=tenant, is_won=True, is_deleted=False):
        for start, end in periods:
            if start <= deal.close_date <= end:
                amount, n, unconverted = out.get((deal.partner_id, start), (Decimal(0), 0, 0))
                converted = deal.amount_corporate
                out[(deal.partner_id, start)] = (
                    amount + (converted or 0),
                    n + 1,
                    unconverted + (deal.amount is not None and converted is None),
                )
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("granularity", [QUARTER, MONTH])
def test_a_deal_counts_in_the_period_its_close_date_falls_in(
    tenant, other_tenant, seed, granularity
):
    rng = random.Random(seed)
    first, last = dt.date(2025, 1, 1), dt.date(2026, 6, 30)
    with tenant_scope(other_tenant):  # another tenant's deals on the same days: never read
        _random_deals(other_tenant, rng, [PartnerFactory(tenant=other_tenant)], first, last)
    with tenant_scope(tenant):
        partners = [PartnerFactory(tenant=tenant, name=f"P{i}") for i in range(4)]
        _random_deals(tenant, rng, partners, first, last)
        rows = share_of_wallet(
            tenant=tenant, period_after=first, period_before=last, granularity=granularity
        )
        expected = _expected_wins(tenant, first, last, granularity)
    assert len(rows) == 4 * len(periods_between(first, last, granularity))
    for row in rows:
        amount, n, unconverted = expected.get((row.partner_id, row.period_start), (0, 0, 0))
        assert (row.our_amount, row.our_deals, row.unconverted_deals) == (amount, n, unconverted)


def _movers_by_trends(tenant, limit: int = 5) -> dict:
    """The movers as ``share_trends`` over every partner gives them (the definition)."""
    trends = list(share_trends(tenant=tenant).values())
    moved = [t for t in trends if t.change is not None]
    return {
        "gainers": sorted((t for t in moved if t.change > 0), key=lambda t: -t.change)[:limit],
        "losers": sorted((t for t in moved if t.change < 0), key=lambda t: t.change)[:limit],
        "period": trends[0].last if trends else None,
        "without_share": sum(1 for t in trends if t.change is None),
    }


@pytest.mark.parametrize("seed", range(6))
def test_the_movers_are_those_of_the_trends_of_every_partner(tenant, other_tenant, seed):
    """Gainers and losers (ties among them, more than five of each), a partner whose share
    did not move, partners without a total, with a total below our wins (inconsistent),
    with a zero total; another tenant's partners gaining most."""
    rng = random.Random(seed)
    last = last_complete_period(tenant)
    previous = period_shift(last[0], QUARTER, -1)
    with tenant_scope(other_tenant):
        rival = PartnerFactory(tenant=other_tenant, name="A rival")
        DealFactory(rep=RepFactory(partner=rival), is_closed=True, is_won=True, close_date=last[1])
        for period in (previous, last):
            PartnerTotal.objects.create(
                tenant=other_tenant,
                partner=rival,
                granularity="quarter",
                period_start=period[0],
                period_end=period[1],
                total_amount=Decimal(1_000_000 if period == last else 100_000_000),
                currency="JPY",
            )
    with tenant_scope(tenant):
        steady = PartnerFactory(tenant=tenant, name="Steady")  # the same share: no move
        for period in (previous, last):
            DealFactory(
                rep=RepFactory(partner=steady), is_closed=True, is_won=True, close_date=period[1]
            )
            PartnerTotal.objects.create(
                tenant=tenant,
                partner=steady,
                granularity="quarter",
                period_start=period[0],
                period_end=period[1],
                total_amount=Decimal(10_000_000),
                currency="JPY",
            )
        for i in range(rng.randint(8, 16)):
            partner = PartnerFactory(tenant=tenant, name=f"Partner {rng.randint(0, 5)}")
            rep = RepFactory(partner=partner)
            for period in (previous, last):
                for _ in range(rng.randint(0, 2)):
                    DealFactory(
                        rep=rep,
                        amount=rng.choice([1, 2, 4]) * 1_000_000,
                        is_closed=True,
                        is_won=True,
                        close_date=rng.choice(period),
                    )
                if rng.random() < 0.8:
                    PartnerTotal.objects.create(
                        tenant=tenant,
                        partner=partner,
                        granularity="quarter",
                        period_start=period[0],
                        period_end=period[1],
                        total_amount=Decimal(rng.choice([0, 1, 10, 20]) * 1_000_000),
                        currency="JPY",
                        competing_product_names=[f"X{i}"],
                    )
        got, expected = share_movers(tenant=tenant), _movers_by_trends(tenant)
    assert got == expected
    assert all(isinstance(t, ShareTrend) for t in got["gainers"] + got["losers"])
    assert rival.pk not in {t.last.partner_id for t in got["gainers"] + got["losers"]}


def test_the_movers_of_a_tenant_without_partners(tenant):
    with tenant_scope(tenant):
        assert share_movers(tenant=tenant) == _movers_by_trends(tenant)


def _snapshots(tenant, partner, weeks: int, active: list[int]):
    monday = week_start(tenant_today(tenant)) - dt.timedelta(weeks=weeks)
    for i, n in enumerate(active):
        day = monday + dt.timedelta(weeks=i)
        MomentumSnapshot.objects.create(
            tenant=tenant,
            partner=partner,
            week_start=day,
            iso_year=day.isocalendar()[0],
            iso_week=day.isocalendar()[1],
            active_reps=n,
            won_deals=n // 2,
            computed_at=timezone.now(),
        )


def test_the_momentum_of_the_partners_asked_for_is_theirs_in_the_full_read(tenant, other_tenant):
    with tenant_scope(other_tenant):
        rival = PartnerFactory(tenant=other_tenant)
        _snapshots(other_tenant, rival, 8, [1, 1, 1, 1, 9, 9, 9, 9])
    with tenant_scope(tenant):
        rising, falling, silent = (PartnerFactory(tenant=tenant) for _ in range(3))
        _snapshots(tenant, rising, 8, [1, 1, 1, 1, 5, 6, 7, 8])
        _snapshots(tenant, falling, 8, [9, 9, 9, 9, 1, 1, 1, 1])
        _snapshots(tenant, None, 8, [4, 4, 4, 4, 4, 4, 4, 4])
        every = momentum_indicators(tenant=tenant)
        assert set(every) == {rising.pk, falling.pk, None}
        assert every[rising.pk].label == "accelerating" and every[falling.pk].label == "stalling"
        for asked in ([rising.pk], [falling.pk, None], [None], [silent.pk], [], [rival.pk]):
            got = momentum_indicators(tenant=tenant, partner_ids=asked)
            assert got == {pk: every[pk] for pk in asked if pk in every}, asked


def _select_by_format_html(form) -> str:
    """The partner filter as the field's ``ModelChoiceIterator`` and ``format_html`` drew
    it before (the reference)."""
    bound = form["partner"]
    chosen = "" if bound.value() is None else str(bound.value())
    options = format_html_join(
        "\n",
        '<option value="{}"{}>{}</option>',
        (
            (value, mark_safe(" selected") if str(value) == chosen else "", label)
            for value, label in bound.field.choices
        ),
    )
    return format_html(
        '<select name="{}" id="{}">\n{}\n</select>', bound.html_name, bound.auto_id, options
    )


def test_the_partner_filter_is_drawn_as_from_the_fields_choices(tenant, other_tenant):
    with tenant_scope(other_tenant):
        PartnerFactory(tenant=other_tenant, name="Rival")
    with tenant_scope(tenant):
        chosen = PartnerFactory(tenant=tenant, name=NASTY)
        for name in ("Beta", "alpha", "Ærø", "Beta"):
            PartnerFactory(tenant=tenant, name=name)
        for data in (None, {"partner": str(chosen.pk)}, {"partner": "nope"}):
            form = KeymenFilterForm(data)
            form.is_valid()
            html = _partner_select(form)
            assert html == _select_by_format_html(form)
    assert "Rival" not in html
    assert escape(NASTY) in html and "<script>" not in html


def test_rows_escape_every_name_as_format_html_does(manager_client, tenant):
    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant, name=NASTY)
        rep = RepFactory(partner=partner, name=NASTY + " rep")
        _views(rep, 5)
        _run(tenant)
    keymen = manager_client.get(reverse("keymen")).content.decode()
    row = _row(keymen, 'data-quadrant="')
    url = reverse("partner-detail", args=[partner.pk])
    assert f'<td><a href="{url}">{escape(NASTY)}</a></td>' in row
    assert f">{escape(NASTY + ' rep')}</a></td>" in row
    partners = manager_client.get(reverse("partner-list")).content.decode()
    assert f'<td><a href="{url}">{escape(NASTY)}</a>' in _row(partners, escape(NASTY))
    page = manager_client.get(url).content.decode()
    assert f">{escape(NASTY + ' rep')}</a></td>" in page
    for html in (keymen, partners, page):
        assert "<script>" not in html.split("<body", 1)[1].split("</main>")[0]


def test_the_partner_page_counts_tiers_from_the_figures_it_read(manager_client, tenant):
    from segmentation.models import PartnerSegment

    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant)
        reps = [RepFactory(partner=partner) for _ in range(12)]
        for i, rep in enumerate(reps):
            _views(rep, 1 + i)
        _won(reps[-1], 5_000_000)  # a performer: no playbook, which reads the figures too
        small = PartnerFactory(tenant=tenant)
        _views(RepFactory(partner=small), 3)
        _run(tenant)
        figures = PartnerSegment.objects.get(run__is_current=True, partner=partner)
        assert tier_counts_of(figures) == {
            "top": figures.top_reps,
            "middle": figures.middle_reps,
            "bottom": figures.bottom_reps,
        }
        assert sum(tier_counts_of(figures).values()) == 12
        assert tier_counts_of(None) == {}
        figures = PartnerSegment.objects.get(run__is_current=True, partner=small)
        assert tier_counts_of(figures) == {"none": 1}
        assert not PartnerSegment.objects.get(
            run__is_current=True, partner=partner
        ).needs_first_performer
    with CaptureQueriesContext(connection) as ctx:
        html = manager_client.get(reverse("partner-detail", args=[partner.pk])).content.decode()
    assert 'data-testid="tier-top"' in html
    reads = [
        q
        for q in ctx.captured_queries
        if q["sql"].startswith('SELECT "enablement_partnersegment"."id"')
    ]
    assert len(reads) == 1  # the partner's figures, read once


# The candidates' list as the playbook's template drew it (the reference).
_CANDIDATES_TEMPLATE = (
    '{% load i18n %}{% for c in candidates %}<li data-rep="{{ c.rep.pk }}"><a href="{% url'
    ' \'rep-detail\' c.rep.pk %}">{{ c.rep.name }}</a> <span class="small muted">'
    "{% blocktranslate trimmed count n=c.views with"
    ' last=c.last_viewed_at|date:"SHORT_DATE_FORMAT" %}{{ n }} view, last {{ last }}'
    "{% plural %}{{ n }} views, last {{ last }}{% endblocktranslate %}</span>"
    '{% if c.has_open_task %} <span class="badge s-open">{% translate "open task" %}</span>'
    "{% endif %}</li>{% endfor %}"
)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_playbook_candidates_are_drawn_as_the_template_drew_them(tenant, language):
    from django.template import Context, Template
    from django.utils import translation

    from web.templatetags.web_ui import playbook_candidates

    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant)
        reps = [RepFactory(partner=partner, name=name) for name in (NASTY, "Ærø", "plain")]
    late = dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)  # another day in Tokyo
    candidates = [
        {"rep": reps[0], "views": 1, "last_viewed_at": late, "has_open_task": True},
        {"rep": reps[1], "views": 12_345, "last_viewed_at": None, "has_open_task": False},
        {"rep": reps[2], "views": 0, "last_viewed_at": late, "has_open_task": False},
    ]
    with translation.override(language), timezone.override("Asia/Tokyo"):
        expected = Template(_CANDIDATES_TEMPLATE).render(Context({"candidates": candidates}))
        got = playbook_candidates(candidates)
    assert got == expected
    assert ("閲覧 1 回" if language == "ja" else "1 view, last") in got
    assert escape(NASTY) in got and "<script>" not in got
    assert playbook_candidates([]) == ""


def _rep_columns_read(query: str) -> set[str]:
    """The columns of ``reps_rep`` that ``query`` names: as ``"reps_rep"."col"``, or
    through the alias of a subquery on the table (the whole parenthesised subquery, its
    select list included)."""
    columns = set(re.findall(r'"reps_rep"\."(\w+)"', query))
    for found in re.finditer(r'FROM "reps_rep" (\w+)', query):
        depth, begin = 0, found.start()
        while begin > 0 and depth >= 0:  # back to the subquery's opening parenthesis
            begin -= 1
            depth += {")": 1, "(": -1}.get(query[begin], 0)
        depth, stop = 0, found.end()
        while stop < len(query) and depth >= 0:  # on to its closing one
            depth += {"(": 1, ")": -1}.get(query[stop], 0)
            stop += 1
        columns |= set(re.findall(rf'\b{found.group(1)}\."(\w+)"', query[begin:stop]))
    assert columns, query
    return columns


def test_a_partners_live_rep_counts_read_only_the_rep_index_columns(tenant):
    """The partner page's counts of a partner's reps and employed reps, and the partner
    list's employed count, read no column outside (tenant, partner, is_employed), so that
    index answers them alone (an index-only scan once the table is vacuumed). Counted
    right: leavers and other partners' reps apart."""
    from reps.models import Rep
    from web.selectors import partner_rep_counts, partners_with_current_segments

    (index,) = [i for i in Rep._meta.indexes if i.name == "rep_tenant_partner_employed"]
    assert index.fields == ["tenant", "partner", "is_employed"]
    with tenant_scope(tenant):
        partner, other = PartnerFactory(tenant=tenant), PartnerFactory(tenant=tenant)
        for i in range(7):
            RepFactory(partner=partner, is_employed=i % 3 != 0)
        RepFactory(partner=other)
        assert partner_rep_counts(partner=partner) == {"total": 7, "employed": 4}
        listed = {p.pk: p.rep_count for p in partners_with_current_segments()}
        assert (listed[partner.pk], listed[other.pk]) == (4, 1)
        for read in (
            lambda: partner_rep_counts(partner=partner),
            lambda: list(partners_with_current_segments().filter(pk=partner.pk)),
        ):
            with CaptureQueriesContext(connection) as ctx:
                read()
            (query,) = [q["sql"] for q in ctx.captured_queries if "reps_rep" in q["sql"]]
            assert _rep_columns_read(query) <= {"tenant_id", "partner_id", "is_employed"}
