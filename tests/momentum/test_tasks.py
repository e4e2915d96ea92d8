"""The nightly segmentation: the sweep's fan-out, the tenant task, a real worker, the command."""

from __future__ import annotations

import datetime as dt
import io
import time

import pytest
from django.core.management import CommandError, call_command

from momentum import tasks
from pse_crm.celery import Queues
from pse_crm.tenancy import tenant_scope
from segmentation import tasks as segmentation_tasks
from segmentation.models import RepSegment, SegmentationRun
from segmentation.services import runs as service
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.factories import TenantFactory
from tests.partners.factories import PartnerFactory
from tests.reps.factories import RepFactory

UTC = dt.UTC


def _reps(tenant, count=3):
    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant)
        reps = RepFactory.create_batch(count, tenant=tenant, partner=partner)
        MaterialViewFactory(tenant=tenant, rep=reps[0])
        DealFactory(tenant=tenant, rep=reps[0], partner=partner)
    return reps


@pytest.mark.django_db
def test_sweep_fans_out_one_task_per_tenant_whose_night_it_is(monkeypatch):
    # 17:00 UTC is 02:00 in Tokyo, 03:00 in Sydney (AEDT, +11), 18:00 in Berlin.
    tokyo = TenantFactory(slug="tokyo", timezone="Asia/Tokyo")
    osaka = TenantFactory(slug="osaka", timezone="Asia/Tokyo")
    sydney = TenantFactory(slug="sydney", timezone="Australia/Sydney")
    TenantFactory(slug="berlin", timezone="Europe/Berlin")
    TenantFactory(slug="closed", timezone="Asia/Tokyo", is_active=False)
    sent = []

    def record(args=None, kwargs=None, **options):
        sent.append((args, options))

    monkeypatch.setattr(tasks.tenant_nightly, "apply_async", record)
    now = dt.datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    assert tasks.nightly_sweep(now.isoformat()) == 3

    assert sorted(args[0] for args, _ in sent) == sorted([tokyo.pk, osaka.pk, sydney.pk])
    assert {args[1] for args, _ in sent} == {now.isoformat()}
    assert {options["queue"] for _, options in sent} == {Queues.SEGMENTATION}
    assert all(options["expires"] > 0 for _, options in sent)


@pytest.mark.django_db
def test_tenant_nightly_runs_once_per_local_day_and_prunes(tenant, other_tenant):
    _reps(tenant)
    _reps(other_tenant, count=5)
    night = dt.datetime(2026, 11, 26, 17, 5, tzinfo=UTC)  # 02:05 in Tokyo on the 27th

    first = tasks.tenant_nightly.apply(args=[tenant.pk, night.isoformat()]).get()
    again = tasks.tenant_nightly.apply(
        args=[tenant.pk, (night + dt.timedelta(hours=1)).isoformat()]
    ).get()

    assert first["segmentation_run"] is not None
    assert again["segmentation_run"] is None
    with tenant_scope(tenant):
        run = SegmentationRun.objects.get()
        assert run.trigger == "nightly" and run.status == "succeeded"
        assert run.as_of_date == dt.date(2026, 11, 27)
        assert run.rep_count == 3
        assert RepSegment.objects.count() == 3
    with tenant_scope(other_tenant):
        assert not SegmentationRun.objects.exists()


@pytest.mark.django_db
def test_tenant_nightly_retries_a_failed_run(tenant, monkeypatch):
    from celery.exceptions import Retry

    _reps(tenant)

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(service, "write_partner_segments", broken)
    retried = []
    monkeypatch.setattr(
        tasks.tenant_nightly, "retry", lambda exc=None, **kw: retried.append(exc) or Retry()
    )
    result = tasks.tenant_nightly.apply(
        args=[tenant.pk, dt.datetime(2026, 11, 26, 17, 5, tzinfo=UTC).isoformat()], throw=False
    )
    assert result.state == "RETRY"
    assert "database went away" in str(retried[0])
    with tenant_scope(tenant):
        assert SegmentationRun.objects.get().status == "failed"
    assert tasks.tenant_nightly.max_retries == 3
    assert tasks.tenant_nightly.time_limit and tasks.tenant_nightly.soft_time_limit


@pytest.mark.celery_worker
def test_real_worker_runs_the_nightly_segmentation(celery_worker):
    acme = TenantFactory(slug="acme")
    rival = TenantFactory(slug="rival")
    _reps(acme, count=4)
    _reps(rival, count=2)
    night = dt.datetime(2026, 11, 26, 17, 0, tzinfo=UTC)

    result = tasks.tenant_nightly.delay(acme.pk, night.isoformat()).get(timeout=60)

    assert result["segmentation_run"] is not None
    with tenant_scope(acme):
        run = SegmentationRun.objects.get(pk=result["segmentation_run"])
        assert run.status == "succeeded" and run.is_current
        assert run.rep_count == 4
        assert RepSegment.objects.filter(run=run).count() == 4
    with tenant_scope(rival):
        assert not SegmentationRun.objects.exists()


@pytest.mark.celery_worker
def test_real_worker_runs_a_requested_run(celery_worker):
    acme = TenantFactory(slug="acme")
    _reps(acme, count=2)
    with tenant_scope(acme):
        run = service.segmentation_run_request(tenant=acme)
    assert (
        segmentation_tasks.segmentation_execute.delay(acme.pk, run.pk).get(timeout=60)
        == "succeeded"
    )
    deadline = time.monotonic() + 10
    with tenant_scope(acme):
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status == "succeeded":
                break
        assert run.is_current


@pytest.mark.django_db
def test_recompute_segments_command(tenant):
    _reps(tenant, count=4)
    out = io.StringIO()
    call_command("recompute_segments", tenant="acme", stdout=out)
    assert "succeeded" in out.getvalue()
    assert "4 reps" in out.getvalue()
    with tenant_scope(tenant):
        run = SegmentationRun.objects.get()
        assert run.trigger == "command" and run.is_current


@pytest.mark.django_db
def test_recompute_segments_command_as_of_and_errors(tenant):
    _reps(tenant)
    call_command(
        "recompute_segments", tenant="acme", as_of="2026-01-15T09:00", stdout=io.StringIO()
    )
    with tenant_scope(tenant):
        run = SegmentationRun.objects.get()
        assert run.as_of == dt.datetime(2026, 1, 15, 0, 0, tzinfo=UTC)
    with pytest.raises(CommandError, match="Unknown"):
        call_command("recompute_segments", tenant="nope")
    with pytest.raises(CommandError, match="ISO"):
        call_command("recompute_segments", tenant="acme", as_of="yesterday")
