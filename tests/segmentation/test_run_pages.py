"""The runs page and its status endpoint say what is known about an unfinished run (how
long it has waited or run, by the server's clock), never a made-up percentage."""

from __future__ import annotations

import datetime as dt
import re

from django.urls import reverse
from django.utils import timezone

from pse_crm.tenancy import tenant_scope
from segmentation.models import SegmentationRun


def _run(tenant, *, status, started_ago=None, created_ago=0):
    now = timezone.now()
    with tenant_scope(tenant):
        run = SegmentationRun.objects.create(
            tenant=tenant,
            as_of=now,
            as_of_date=timezone.localdate(now),
            status=status,
            started_at=None if started_ago is None else now - dt.timedelta(seconds=started_ago),
        )
        # ``created_at`` is set on insert: move it back afterwards.
        SegmentationRun.objects.filter(pk=run.pk).update(
            created_at=now - dt.timedelta(seconds=created_ago)
        )
        run.refresh_from_db()
    return run


def test_a_running_run_says_how_long_it_has_been_running(manager_client, tenant):
    # Queued a minute ago, picked up by a worker 42 s ago: it has run for 42 s.
    run = _run(tenant, status=SegmentationRun.Status.RUNNING, started_ago=42, created_ago=60)

    status = manager_client.get(reverse("run-status", args=[run.pk])).json()

    assert "percent" not in status
    assert status["status"] == "running" and not status["finished"]
    assert status["started_at"] == run.started_at.isoformat()
    assert 42 <= status["elapsed_seconds"] <= 45  # the request itself takes a moment
    assert status["text"] == f"Running for {status['elapsed_seconds']} s"

    html = manager_client.get(reverse("run-list")).content.decode()
    assert 'class="spinner"' in html and "<progress" not in html
    assert re.search(r'data-elapsed="4[2-5]"', html)
    assert re.search(r"<span data-progress-label>Running for 4[2-5] s</span>", html)


def test_a_pending_run_says_it_waits_for_a_worker(manager_client, tenant):
    run = _run(tenant, status=SegmentationRun.Status.PENDING, created_ago=7)

    status = manager_client.get(reverse("run-status", args=[run.pk])).json()

    assert status["started_at"] is None and not status["finished"]
    assert 7 <= status["elapsed_seconds"] <= 10
    assert status["text"] == f"Queued {status['elapsed_seconds']} s ago, waiting for a worker"


def test_a_finished_run_reports_its_status_and_the_page_stops_following(manager_client, tenant):
    run = _run(tenant, status=SegmentationRun.Status.RUNNING, started_ago=5, created_ago=5)
    with tenant_scope(tenant):
        SegmentationRun.objects.filter(pk=run.pk).update(
            status=SegmentationRun.Status.FAILED, finished_at=timezone.now(), error="test"
        )

    status = manager_client.get(reverse("run-status", args=[run.pk])).json()

    assert status["finished"] and status["status"] == "failed"
    assert status["elapsed_seconds"] is None
    assert status["text"] == status["label"] == "Failed"
    html = manager_client.get(reverse("run-list")).content.decode()
    assert 'data-testid="run-progress"' not in html and 'class="spinner"' not in html
