"""``seed_demo``: deterministic demo data that shows the method's patterns."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Q
from django.utils import timezone

from activities.models import Deal, MaterialView
from partners.models import Partner, PartnerDomain
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from reps.models import Rep
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

SMALL = {"partners": 6, "reps": 400, "views": 12_000}


def _seed(slug: str, **kwargs):
    call_command("seed_demo", tenant=slug, verbosity=0, **{**SMALL, **kwargs})


def _fingerprint(tenant):
    with tenant_scope(tenant):
        return (
            list(Partner.objects.order_by("name").values_list("name", "external_id")),
            list(Rep.objects.order_by("email").values_list("email", "name", "partner__name")),
            sorted(Counter(MaterialView.objects.values_list("rep__email", flat=True)).items()),
            sorted(Deal.objects.values_list("sf_id", "stage", "amount", "rep__email")),
        )


def test_same_seed_same_data_other_seed_other_data(tenant, other_tenant):
    _seed("acme", seed=7)
    _seed("rival", seed=7)
    assert _fingerprint(tenant) == _fingerprint(other_tenant)
    third = TenantFactory(slug="third")
    _seed("third", seed=8)
    assert _fingerprint(third)[1] != _fingerprint(tenant)[1]


def test_counts_ids_and_a_second_run_changes_nothing(tenant, other_tenant, capsys):
    _seed("acme")
    call_command("seed_demo", tenant="acme", **SMALL)
    assert "already has data" in capsys.readouterr().out
    with tenant_scope(tenant):
        assert Partner.objects.count() == 6
        assert PartnerDomain.objects.count() == 6
        assert Rep.objects.count() == 400
        assert MaterialView.objects.count() == 12_000
        assert Deal.objects.count() == 1_600
        for sf_id, account in Deal.objects.values_list("sf_id", "partner__external_id")[:200]:
            assert len(sf_id) == 18 and to_18(sf_id) == sf_id
            assert len(account) == 18 and to_18(account) == account
        # Rep emails are on their partner's domain.
        for email, domain in Rep.objects.values_list("email", "partner__domains__domain")[:200]:
            assert email.endswith("@" + domain)
    with tenant_scope(other_tenant):
        assert not Rep.objects.exists()


def test_the_data_tells_the_methods_story(tenant):
    _seed("acme")
    since = timezone.now() - dt.timedelta(days=90)
    with tenant_scope(tenant):
        sizes = sorted(Partner.objects.annotate(n=Count("reps")).values_list("n", flat=True))
        assert sizes[-1] >= 8 * sizes[0]  # partners of very different sizes
        reps = Rep.objects.annotate(
            recent=Count("views", filter=Q(views__viewed_at__gte=since), distinct=True),
            won=Count("deals", filter=Q(deals__is_won=True), distinct=True),
        ).values_list("recent", "won")
        reps = list(reps)
    active = [r for r in reps if r[0] > 0]
    assert len(active) < 0.3 * len(reps)  # most reps are idle
    heavy = sorted(r[0] for r in reps)[-len(reps) // 20]
    motivated = [r for r in reps if r[0] >= heavy and r[1] == 0]
    performers = [r for r in reps if r[0] >= heavy and r[1] >= 3]
    independents = [r for r in reps if r[0] == 0 and r[1] >= 3]
    assert len(motivated) >= 5
    assert len(performers) >= 3
    assert len(independents) >= 1
    # Views correlate with wins.
    assert statistics.correlation([r[0] for r in reps], [r[1] for r in reps]) > 0.3
    with tenant_scope(tenant):
        stages = set(Deal.objects.values_list("stage", flat=True))
        assert stages == {"Prospecting", "Qualification", "Proposal", "Negotiation",
                          "Closed Won", "Closed Lost"}  # fmt: skip
        assert not Deal.objects.filter(is_won=True).exclude(stage="Closed Won").exists()
        assert not Deal.objects.filter(is_closed=False, stage__startswith="Closed").exists()
        recent = MaterialView.objects.filter(viewed_at__gte=since).count()
        assert recent > MaterialView.objects.count() / 2  # views concentrate in the last 90 days


def test_unknown_tenant_and_bad_sizes():
    with pytest.raises(CommandError, match="Unknown tenant"):
        call_command("seed_demo", tenant="nope")
    TenantFactory(slug="tiny")
    with pytest.raises(CommandError):
        call_command("seed_demo", tenant="tiny", partners=10, reps=5)
