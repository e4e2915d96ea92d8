"""A recompute asked for while the task queue is down leaves no pending run behind."""

import pytest
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from pse_crm.tenancy import tenant_scope
from segmentation.models import SegmentationRun
from segmentation.tasks import segmentation_execute


@pytest.fixture
def queue_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr(segmentation_execute, "apply_async", refuse)


def _runs(tenant):
    with tenant_scope(tenant):
        return list(SegmentationRun.objects.values_list("status", flat=True))


@pytest.mark.django_db
def test_api_recompute_with_queue_down_fails_the_run_then_a_retry_works(
    session_api_client, tenant, queue_down, monkeypatch
):
    csrf = "k8Z2wQ9rT4yU6iO1pA3sD5fG7hJ0lXcV"  # a well-formed CSRF secret
    session_api_client.cookies["csrftoken"] = csrf
    url = "/api/v1/segmentation/runs/"
    response = session_api_client.post(url, {}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 503
    assert _runs(tenant) == [SegmentationRun.Status.FAILED]

    monkeypatch.undo()  # the queue is back
    response = session_api_client.post(url, {}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 202
    assert sorted(_runs(tenant)) == sorted(
        [SegmentationRun.Status.FAILED, SegmentationRun.Status.SUCCEEDED]
    )


@pytest.mark.django_db
def test_page_recompute_with_queue_down_is_not_blocked_afterwards(
    manager_client, tenant, queue_down, monkeypatch
):
    response = manager_client.post(reverse("run-recompute"), follow=True)
    # A page goes back with a message; only the API answers 503.
    assert response.status_code == 200
    with tenant_scope(tenant):
        run = SegmentationRun.objects.get()
    assert run.status == SegmentationRun.Status.FAILED
    assert "Try again" in run.error

    monkeypatch.undo()
    response = manager_client.post(reverse("run-recompute"), follow=True)
    assert response.status_code == 200
    assert "already in progress" not in response.content.decode()
    assert SegmentationRun.Status.SUCCEEDED in _runs(tenant)


@pytest.fixture
def run_in_progress(tenant):
    with tenant_scope(tenant):
        return SegmentationRun.objects.create(
            tenant=tenant,
            as_of=timezone.now(),
            as_of_date=timezone.localdate(),
            status=SegmentationRun.Status.RUNNING,
            trigger=SegmentationRun.Trigger.MANUAL,
        )


@pytest.mark.django_db
def test_page_and_api_refuse_a_recompute_while_a_run_is_in_progress(
    tenant, manager_client, run_in_progress
):
    # The recompute service decides it, so both answer the same and record nothing.
    page = manager_client.post(reverse("run-recompute"), follow=True)
    assert "A run is already in progress." in page.content.decode()
    api = manager_client.post("/api/v1/segmentation/runs/", {}, content_type="application/json")
    assert api.status_code == 409
    assert api.json()["run"]["id"] == run_in_progress.pk
    assert _runs(tenant) == [SegmentationRun.Status.RUNNING]
