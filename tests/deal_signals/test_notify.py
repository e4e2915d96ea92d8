"""Reaching people: in-app notifications, one email per signal (sent once), daily digests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from deal_signals.models import DealSignal, Notification, NotificationPreference, SignalKind
from deal_signals.services.notifications import (
    deal_signal_digest_send,
    deal_signal_emails_send,
    notification_preference_set,
)
from deal_signals.services.signals import deal_signals_evaluate, signal_rules_ensure
from deal_signals.tasks import deal_signals_hourly
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import MaterialFactory, MaterialViewFactory
from tests.factories import MembershipFactory
from tests.reps.factories import RepFactory

pytestmark = pytest.mark.django_db


def _burst_only(tenant):
    with tenant_scope(tenant):
        for rule in signal_rules_ensure(tenant=tenant).values():
            rule.is_enabled = rule.kind == SignalKind.BURST
            rule.save()


def _bursting_rep(tenant, **partner):
    rep = RepFactory(partner__tenant=tenant, **{f"partner__{k}": v for k, v in partner.items()})
    material = MaterialFactory(tenant=tenant, title="Pricing deck")
    now = timezone.now()
    for hours in (3, 2, 1):
        MaterialViewFactory(rep=rep, material=material, viewed_at=now - dt.timedelta(hours=hours))
    return rep


def _evaluate(tenant, reps):
    with tenant_scope(tenant):
        return deal_signals_evaluate(tenant=tenant, rep_ids=[r.pk for r in reps])


def _member(tenant, role=Role.STAFF):
    return MembershipFactory(tenant=tenant, role=role).user


def test_the_partner_owner_gets_a_notification_and_one_email(
    tenant, django_capture_on_commit_callbacks
):
    _burst_only(tenant)
    owner = _member(tenant)
    rep = _bursting_rep(tenant, owner=owner)
    with django_capture_on_commit_callbacks(execute=True):
        [signal] = _evaluate(tenant, [rep])
    with tenant_scope(tenant):
        [note] = Notification.objects.all()
    assert note.user == owner and note.signal == signal and note.emailed_at is not None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [owner.email]
    assert rep.name in mail.outbox[0].subject
    assert f"/signals/{signal.pk}/" in mail.outbox[0].body
    # Sending again (a retried task) sends nothing more.
    with tenant_scope(tenant):
        assert deal_signal_emails_send(notification_ids=[note.pk]) == 0
    assert len(mail.outbox) == 1


def test_without_an_owner_the_members_on_duty_are_told(tenant, django_capture_on_commit_callbacks):
    _burst_only(tenant)
    on_duty, off_duty = _member(tenant), _member(tenant)
    with tenant_scope(tenant):
        notification_preference_set(tenant=tenant, user=on_duty, email="immediate", on_duty=True)
    rep = _bursting_rep(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        _evaluate(tenant, [rep])
    with tenant_scope(tenant):
        assert list(Notification.objects.values_list("user_id", flat=True)) == [on_duty.pk]
    assert [m.to for m in mail.outbox] == [[on_duty.email]]
    assert off_duty.email not in {a for m in mail.outbox for a in m.to}


def test_an_owner_who_left_the_tenant_is_replaced_by_the_members_on_duty(
    tenant, other_tenant, django_capture_on_commit_callbacks
):
    _burst_only(tenant)
    gone = _member(other_tenant)  # not a member here
    duty = _member(tenant)
    with tenant_scope(tenant):
        notification_preference_set(tenant=tenant, user=duty, email="none", on_duty=True)
    rep = _bursting_rep(tenant, owner=gone)
    with django_capture_on_commit_callbacks(execute=True):
        _evaluate(tenant, [rep])
    with tenant_scope(tenant):
        assert list(Notification.objects.values_list("user_id", flat=True)) == [duty.pk]
    assert mail.outbox == []  # "none": in-app only


def _digest_reader(tenant):
    """A member of ``tenant`` (burst rule only) who reads signals in a daily digest."""
    _burst_only(tenant)
    reader = _member(tenant)
    with tenant_scope(tenant):
        notification_preference_set(tenant=tenant, user=reader, email="digest", on_duty=False)
    return reader


def test_a_digest_reader_gets_no_immediate_email_and_one_digest_of_the_days_signals(
    tenant, django_capture_on_commit_callbacks
):
    owner = _digest_reader(tenant)
    reps = [_bursting_rep(tenant, owner=owner) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        signals = _evaluate(tenant, reps)
    assert len(signals) == 3
    assert mail.outbox == []
    with tenant_scope(tenant):
        assert deal_signal_digest_send(tenant=tenant) == 1
    [digest] = mail.outbox
    assert digest.to == [owner.email]
    assert "3 new signals" in digest.subject
    for rep in reps:
        assert rep.name in digest.body
    # The next digest does not repeat them.
    with tenant_scope(tenant):
        assert deal_signal_digest_send(tenant=tenant) == 0
        assert not Notification.objects.filter(digested_at__isnull=True).exists()
    assert len(mail.outbox) == 1


def test_the_digest_leaves_another_tenants_readers_alone(tenant, other_tenant):
    theirs = _digest_reader(other_tenant)
    _evaluate(other_tenant, [_bursting_rep(other_tenant, owner=theirs)])
    with tenant_scope(tenant):
        assert deal_signal_digest_send(tenant=tenant) == 0
    assert mail.outbox == []


def test_the_hourly_fan_out_sends_digests_at_eight_local_time(tenant, monkeypatch):
    from deal_signals import tasks

    owner = _digest_reader(tenant)
    _evaluate(tenant, [_bursting_rep(tenant, owner=owner)])
    # The next 08:30 in the tenant's time zone, after the signal was raised.
    local = timezone.now().astimezone(tenant.tzinfo)
    tokyo_eight = local.replace(hour=8, minute=30, second=0, microsecond=0)
    if tokyo_eight <= local:
        tokyo_eight += dt.timedelta(days=1)
    monkeypatch.setattr(tasks.timezone, "now", lambda: tokyo_eight + dt.timedelta(hours=1))
    assert deal_signals_hourly.apply().get() == 0
    assert mail.outbox == []
    monkeypatch.setattr(tasks.timezone, "now", lambda: tokyo_eight)
    assert deal_signals_hourly.apply().get() == 1
    assert len(mail.outbox) == 1


def test_the_digest_task_expires_stale_signals(tenant):
    from deal_signals.tasks import deal_signal_digest
    from tests.deal_signals.factories import DealSignalFactory

    stale = DealSignalFactory(
        rep=RepFactory(partner__tenant=tenant),
        expires_at=timezone.now() - dt.timedelta(minutes=1),
    )
    deal_signal_digest.apply(args=[tenant.pk]).get()
    stale.refresh_from_db()
    assert stale.status == DealSignal.Status.EXPIRED


def test_preference_rejects_an_unknown_email_option(tenant, staff):
    from django.core.exceptions import ValidationError

    with tenant_scope(tenant), pytest.raises(ValidationError):
        notification_preference_set(tenant=tenant, user=staff, email="pigeon", on_duty=False)
    with tenant_scope(tenant):
        assert not NotificationPreference.objects.exists()


def test_a_failed_send_is_released_and_the_retry_sends_it_once(tenant, monkeypatch):
    import smtplib

    from deal_signals.services import notifications

    _burst_only(tenant)
    owner = _member(tenant)
    _evaluate(tenant, [_bursting_rep(tenant, owner=owner)])  # no commit hook: nothing sent
    with tenant_scope(tenant):
        [note] = Notification.objects.all()

    def down(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("mail server down")

    monkeypatch.setattr(notifications, "send_mail", down)
    with tenant_scope(tenant), pytest.raises(smtplib.SMTPException):
        deal_signal_emails_send(notification_ids=[note.pk])
    note.refresh_from_db()
    assert note.emailed_at is None
    monkeypatch.undo()
    with tenant_scope(tenant):
        assert deal_signal_emails_send(notification_ids=[note.pk]) == 1
        assert deal_signal_emails_send(notification_ids=[note.pk]) == 0
    assert len(mail.outbox) == 1


def test_the_hourly_fan_out_expires_stale_signals_outside_the_digest_hour(
    tenant, other_tenant, monkeypatch
):
    from deal_signals import tasks
    from tests.deal_signals.factories import DealSignalFactory

    past = timezone.now() - dt.timedelta(minutes=1)
    ours = DealSignalFactory(rep=RepFactory(partner__tenant=tenant), expires_at=past)
    theirs = DealSignalFactory(rep=RepFactory(partner__tenant=other_tenant), expires_at=past)
    off_hour = timezone.now() + dt.timedelta(hours=1)
    if off_hour.astimezone(tenant.tzinfo).hour == tasks.DEAL_SIGNAL_DIGEST_HOUR:
        off_hour += dt.timedelta(hours=1)
    monkeypatch.setattr(tasks.timezone, "now", lambda: off_hour)
    assert deal_signals_hourly.apply().get() == 0
    for signal in (ours, theirs):
        signal.refresh_from_db()
        assert signal.status == DealSignal.Status.EXPIRED
