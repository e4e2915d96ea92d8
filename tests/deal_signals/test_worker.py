"""End to end with a real Celery worker: views posted to the API raise a signal there."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from activities.models import Material
from deal_signals.models import DealSignal, SignalKind
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import MaterialFactory
from tests.reps.factories import RepFactory

pytestmark = [pytest.mark.celery_worker]


def _wait_for_signals(tenant, *, count: int, timeout: float = 30) -> list[DealSignal]:
    deadline = time.monotonic() + timeout
    while True:
        with tenant_scope(tenant):
            signals = list(DealSignal.objects.order_by("kind"))
        if len(signals) >= count or time.monotonic() > deadline:
            return signals
        time.sleep(0.2)


def test_api_ingestion_raises_signals_in_the_worker_once(
    celery_worker, tenant, other_tenant, api_client
):
    rep = RepFactory(partner__tenant=tenant, email="aoki@partner.example.jp")
    quiet = RepFactory(partner__tenant=tenant, email="quiet@partner.example.jp")
    MaterialFactory(tenant=tenant, external_id="deck-1", kind=Material.Kind.DECK)
    MaterialFactory(tenant=tenant, external_id="price-1", kind=Material.Kind.PRICE_SHEET)
    now = timezone.now()
    events = [
        {
            "event_id": f"e-{i}",
            "rep_email": rep.email,
            "material_external_id": "deck-1" if i < 2 else "price-1",
            "viewed_at": (now - dt.timedelta(hours=3 - i)).isoformat(),
            "duration_seconds": 30,
        }
        for i in range(3)
    ]
    response = api_client.post("/api/v1/material-views/", events, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 3

    signals = _wait_for_signals(tenant, count=3)
    assert {(s.rep_id, s.kind) for s in signals} == {
        (rep.pk, SignalKind.BURST),
        (rep.pk, SignalKind.FIRST_VIEW),
        (rep.pk, SignalKind.LATE_STAGE),
    }
    assert quiet.pk not in {s.rep_id for s in signals}

    # The same batch again: all duplicates, and no second signal.
    replay = api_client.post("/api/v1/material-views/", events, format="json")
    assert replay.json()["duplicates"] == 3
    time.sleep(2)
    assert len(_wait_for_signals(tenant, count=4, timeout=2)) == 3
    with tenant_scope(other_tenant):
        assert DealSignal.objects.count() == 0
