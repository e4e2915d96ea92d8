"""Views that arrive while the task queue is down: their deal-signal check waits in the
backlog and the hourly sweep queues it once the queue is back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from deal_signals import tasks
from deal_signals.models import DealSignal, SignalEvaluationBacklog, SignalKind
from deal_signals.services.signals import deal_signals_backlog_replay
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import MaterialFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db


def _queue_down(*args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def _post_views(api_client, rep, *, prefix: str, count: int = 3):
    now = timezone.now()
    events = [
        {
            "event_id": f"{prefix}-{i}",
            "rep_email": rep.email,
            "material_external_id": "deck-1",
            "viewed_at": (now - dt.timedelta(hours=count - i)).isoformat(),
            "duration_seconds": 30,
        }
        for i in range(count)
    ]
    response = api_client.post("/api/v1/material-views/", events, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == count


def _signals(tenant) -> set[tuple[int, str]]:
    with tenant_scope(tenant):
        return set(DealSignal.objects.values_list("rep_id", "kind"))


def _backlog(tenant) -> list[list[int]]:
    with tenant_scope(tenant):
        return list(SignalEvaluationBacklog.objects.values_list("rep_ids", flat=True))


def test_a_queue_outage_delays_signals_and_never_loses_them(
    tenant, other_tenant, api_client, monkeypatch, django_capture_on_commit_callbacks
):
    first = RepFactory(partner__tenant=tenant)
    second = RepFactory(partner__tenant=tenant)
    MaterialFactory(tenant=tenant, external_id="deck-1")

    monkeypatch.setattr(tasks.deal_signals_evaluate, "apply_async", _queue_down)
    with django_capture_on_commit_callbacks(execute=True):
        _post_views(api_client, first, prefix="a")
    with django_capture_on_commit_callbacks(execute=True):
        _post_views(api_client, second, prefix="b", count=1)
    # The views are stored; their check waits, one backlog row per batch.
    assert _backlog(tenant) == [[first.pk], [second.pk]]
    assert _signals(tenant) == set()
    assert _backlog(other_tenant) == []

    # The sweep while the queue is still down changes nothing.
    with tenant_scope(tenant):
        assert deal_signals_backlog_replay(tenant=tenant) == 0
    assert len(_backlog(tenant)) == 2

    # The queue is back: the hourly sweep queues one check for both reps (in-process
    # here), which raises their signals, and empties the backlog.
    monkeypatch.undo()
    tasks.deal_signals_hourly.apply().get()
    assert _backlog(tenant) == []
    assert _signals(tenant) == {
        (first.pk, SignalKind.BURST),
        (first.pk, SignalKind.FIRST_VIEW),
        (second.pk, SignalKind.FIRST_VIEW),
    }
    # A second sweep finds nothing to do and raises nothing twice.
    tasks.deal_signals_hourly.apply().get()
    assert len(_signals(tenant)) == 3


def test_with_the_queue_up_nothing_waits(tenant, api_client, django_capture_on_commit_callbacks):
    rep = RepFactory(partner__tenant=tenant)
    MaterialFactory(tenant=tenant, external_id="deck-1")
    with django_capture_on_commit_callbacks(execute=True):
        _post_views(api_client, rep, prefix="c", count=1)
    assert _backlog(tenant) == []
    assert _signals(tenant) == {(rep.pk, SignalKind.FIRST_VIEW)}


def test_a_backlog_that_cannot_be_written_does_not_fail_the_ingestion(tenant, monkeypatch, caplog):
    from django.db import DatabaseError

    from deal_signals.services import signals as service

    rep = RepFactory(partner__tenant=tenant)

    def broken(**kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(tasks.deal_signals_evaluate, "apply_async", _queue_down)
    monkeypatch.setattr(SignalEvaluationBacklog.objects, "create", broken)
    assert service.deal_signals_queue(tenant_id=tenant.pk, rep_ids=[rep.pk]) is False
    assert "deal-signal check of 1 reps" in caplog.text
