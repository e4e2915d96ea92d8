"""The demo smoke test: the `make demo` path on whatever database is configured.

`make test` runs it twice: on PostgreSQL with the suite, and alone on SQLite with
in-process tasks (the demo's embedded default).
"""

import datetime as dt

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = [pytest.mark.demo, pytest.mark.django_db(transaction=True)]


def test_demo_setup_then_log_in_and_see_the_dashboard():
    call_command("create_tenant", slug="demo", name="Demo Vendor KK")
    call_command(
        "create_user", tenant="demo", email="manager@demo.example", role="manager", password="pw"
    )
    client = Client()
    response = client.post(reverse("login"), {"username": "manager@demo.example", "password": "pw"})
    assert response.status_code == 302
    page = client.get(reverse("dashboard"))
    assert page.status_code == 200
    assert "Demo Vendor KK" in page.content.decode()


def test_demo_data_seeds_once_and_the_admin_shows_it(capsys):
    """`make demo-data` seeds the demo tenant; running it again changes nothing."""
    call_command("create_tenant", slug="demo", name="Demo Vendor KK")
    call_command(
        "create_user",
        tenant="demo",
        email="owner@demo.example",
        role="owner",
        password="pw",
        staff=True,
    )
    call_command("seed_demo", tenant="demo", partners=5, reps=200, views=5000, verbosity=0)
    call_command("seed_demo", tenant="demo", partners=5, reps=200, views=5000)
    assert "already has data (5 partners, 200 reps" in capsys.readouterr().out
    client = Client()
    client.post(reverse("login"), {"username": "owner@demo.example", "password": "pw"})
    for name in ("partners_partner", "reps_rep", "activities_materialview", "activities_deal"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200


def test_demo_steps_leave_signals_in_the_inbox_and_partners_without_a_performer():
    """The `make demo-data` steps after the users: seed_demo, recompute_segments,
    seed_enablement_demo. The bursts of the last hours are in the signals inbox (the views
    were written without the ingestion service; seed_enablement_demo has them evaluated,
    in-process here), and two or three partners still need a first performer."""
    from deal_signals.models import DealSignal, SignalKind
    from pse_crm.models import Tenant
    from pse_crm.tenancy import tenant_scope
    from segmentation.models import PartnerSegment

    call_command("create_tenant", slug="demo", name="Demo Vendor KK")
    for email, role in (("manager@demo.example", "manager"), ("staff@demo.example", "staff")):
        call_command("create_user", tenant="demo", email=email, role=role, password="pw")
    call_command("seed_demo", tenant="demo", partners=5, reps=200, views=5000, verbosity=0)
    call_command("recompute_segments", tenant="demo")
    call_command("seed_enablement_demo", tenant="demo")
    recent = timezone.now() - dt.timedelta(hours=31)
    with tenant_scope(Tenant.objects.get(slug="demo")):
        new = DealSignal.objects.filter(status=DealSignal.Status.NEW)
        bursts = new.filter(kind=SignalKind.BURST, view_count__gte=5, last_viewed_at__gte=recent)
        assert bursts.count() >= 3
        assert new.filter(kind=SignalKind.FIRST_VIEW).exists()
        partners = PartnerSegment.objects.filter(run__is_current=True)
        assert partners.count() == 5
        assert partners.filter(performers=0).count() == 2
        # The inbox lists newest first by when a signal was raised (deal_signal_list).
        newest = new.order_by("-created_at", "-pk").select_related("rep").first()
    client = Client()
    client.post(reverse("login"), {"username": "manager@demo.example", "password": "pw"})
    page = client.get(reverse("deal-signals"), {"status": "new"})
    assert page.status_code == 200
    assert newest.rep.name in page.content.decode()


def test_demo_steps_end_with_a_measured_know_how_effect(capsys):
    """The whole `make demo-data` chain ends with `measure_know_how_effect`: the seeded
    shares are old enough and leave partners unreached, so the effect is measured (here on
    all know-how together; the demo plants no effect, so no sign is asserted). The newest
    segmentation run stays current, and the know-how pages date the know-how before its
    shares."""
    from knowhow.effect import MIN_COMPARISON, MIN_MATCHED
    from knowhow.models import KnowHow, KnowHowEffect, KnowHowShare
    from partners.models import Partner
    from pse_crm.calendar import tenant_today
    from pse_crm.models import Tenant
    from pse_crm.tenancy import tenant_scope
    from segmentation.models import SegmentationRun

    call_command("create_tenant", slug="demo", name="Demo Vendor KK")
    call_command(
        "create_user", tenant="demo", email="manager@demo.example", role="manager", password="pw"
    )
    call_command("seed_demo", tenant="demo", partners=5, reps=200, views=5000, verbosity=0)
    call_command("recompute_segments", tenant="demo")
    call_command("seed_enablement_demo", tenant="demo")
    call_command("backfill_momentum", tenant="demo", weeks=12)
    capsys.readouterr()
    call_command("measure_know_how_effect", tenant="demo")
    out = capsys.readouterr().out
    demo = Tenant.objects.get(slug="demo")
    with tenant_scope(demo):
        today = tenant_today(demo)
        shared = set(KnowHowShare.objects.values_list("partner_id", flat=True))
        assert Partner.objects.exclude(pk__in=shared).exists()
        assert SegmentationRun.objects.get(is_current=True).as_of_date == today
        overall = KnowHowEffect.objects.get(know_how__isnull=True, days=30)
        assert overall.status == KnowHowEffect.Status.MEASURED
        assert overall.waiting == 0
        assert overall.matched >= MIN_MATCHED and overall.comparison_reps >= MIN_COMPARISON
        for name in ("activation", "win_rate"):
            figures = overall.metrics[name]
            assert figures["ci_low"] <= figures["did"] <= figures["ci_high"]
        know_how = KnowHow.objects.order_by("pk").first()
        first_share = know_how.shares.order_by("shared_on").first().shared_on
        assert know_how.created_at.date() < first_share <= today - dt.timedelta(days=30)
        # The know-how shared with the largest partner is measured on its own too.
        assert know_how.effects.get(days=30).status == KnowHowEffect.Status.MEASURED
    assert "All know-how: measured" in out, out
    client = Client()
    client.post(reverse("login"), {"username": "manager@demo.example", "password": "pw"})
    page = client.get(reverse("knowhow-detail", args=[know_how.pk])).content.decode()
    assert 'data-testid="know-how-effect"' in page
    assert 'data-testid="effect-message"' not in page  # the figures, not "waiting"
