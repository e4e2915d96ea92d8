"""Reaching people about deal signals: in-app notifications, one email each, or a digest.

Who hears about a signal: the partner's vendor-side owner when they are an active member
of the tenant; otherwise every member who marked themselves *on duty*. Each member picks
one email per signal (the default), a daily digest, or none (in-app only).

Emails never fail the work that raised their signals: they are queued after the commit
(a failure to queue or, in eager mode, to send is logged) and sent by a task that retries
on mail-server errors. A subject is built from names put on one line
(``pse_crm.text.one_line``), so no name can inject a header.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from deal_signals.models import DealSignal, Notification, NotificationPreference
from deal_signals.services.rows import rows_insert
from partners.models import Partner
from pse_crm.models import Membership, Tenant
from pse_crm.text import one_line

log = logging.getLogger(__name__)

EMAILS_TASK = "deal_signals.tasks.deal_signal_emails_send"


def notification_preference_get(*, user) -> NotificationPreference:
    """The member's preference in the tenant in scope (an unsaved default if none)."""
    pref = NotificationPreference.objects.filter(user=user).first()
    return pref or NotificationPreference(user=user)


def notification_preference_set(
    *, tenant: Tenant, user, email: str, on_duty: bool
) -> NotificationPreference:
    """Store the member's choice: ``email`` is one of ``NotificationPreference.Email``."""
    if email not in NotificationPreference.Email.values:
        from django.core.exceptions import ValidationError

        raise ValidationError({"email": [_("Choose one of the offered email options.")]})
    pref, _created = NotificationPreference.objects.update_or_create(
        tenant=tenant, user=user, defaults={"email": email, "on_duty": on_duty}
    )
    return pref


def _notifications_insert(*, tenant: Tenant, pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Insert one notification per (signal id, user id) pair; their ids, in pair order.

    PostgreSQL: one ``INSERT … SELECT FROM unnest`` of two id arrays (no model instance
    per row). Elsewhere: ``rows_insert``. Raw SQL is not scoped: the tenant is set here.
    """
    if not pairs:
        return []
    if connection.vendor != "postgresql":
        notes = [Notification(tenant=tenant, user_id=u, signal_id=s) for s, u in pairs]
        rows_insert(model=Notification, objs=notes)
        return [n.pk for n in notes]
    signal_ids, user_ids = (list(c) for c in zip(*pairs, strict=True))
    with connection.cursor() as cursor:
        # unnest() yields in order and INSERT … SELECT returns in insertion order.
        cursor.execute(
            f"INSERT INTO {Notification._meta.db_table} (tenant_id, user_id, signal_id, created_at)"
            " SELECT %s, u, s, %s FROM unnest(%s::bigint[], %s::bigint[]) AS t(s, u)"
            " RETURNING id",
            [tenant.pk, timezone.now(), signal_ids, user_ids],
        )
        return [row[0] for row in cursor.fetchall()]


def notifications_for_signals(*, tenant: Tenant, signals: Sequence[DealSignal]) -> list[int]:
    """Create each signal's in-app notifications and queue the immediate emails; returns
    the new notifications' ids.

    Guarantees: at most one notification per user and signal; set-based (three reads and
    one insert for any number of signals); emails are sent after the commit, by the
    ``notify`` queue, each at most once; a failure to queue or send them is logged and
    never raised into the caller (the signals and notifications are committed).
    """
    from pse_crm.tasks import send_task

    if not signals:
        return []
    owners = dict(
        Partner.objects.filter(pk__in={s.partner_id for s in signals}).values_list("pk", "owner_id")
    )
    members = set(
        Membership.objects.filter(is_active=True, user__is_active=True).values_list(
            "user_id", flat=True
        )
    )
    prefs = {
        user_id: (email, on_duty)
        for user_id, email, on_duty in NotificationPreference.objects.filter(
            user_id__in=members
        ).values_list("user_id", "email", "on_duty")
    }
    on_duty = sorted(u for u, (_email, duty) in prefs.items() if duty)
    pairs: list[tuple[int, int]] = []
    for signal in signals:
        owner = owners.get(signal.partner_id)
        recipients = [owner] if owner in members else on_duty
        pairs.extend((signal.pk, u) for u in recipients)
    ids = _notifications_insert(tenant=tenant, pairs=pairs)  # one statement for any number
    immediate = [
        pk
        for pk, (_signal, user_id) in zip(ids, pairs, strict=True)
        if prefs.get(user_id, (NotificationPreference.Email.IMMEDIATE, False))[0]
        == NotificationPreference.Email.IMMEDIATE
    ]
    if immediate:
        tenant_id = tenant.pk
        # robust: Django logs the callback's exception instead of raising it.
        transaction.on_commit(lambda: send_task(EMAILS_TASK, tenant_id, immediate), robust=True)
    return ids


def _signal_lines(signals: Sequence[DealSignal]) -> list[dict]:
    base = settings.SITE_URL.rstrip("/") if getattr(settings, "SITE_URL", "") else ""
    from django.urls import reverse

    return [
        {
            "signal": s,
            "url": f"{base}{reverse('deal-signal', args=[s.pk])}",
        }
        for s in signals
    ]


def signal_email_subject(signal: DealSignal) -> str:
    """The subject of a signal's email: one line, whatever the rep's and partner's names
    hold (a line break in a header is an injection, and Django refuses to send it)."""
    return one_line(
        _("Deal signal: %(rep)s (%(partner)s), %(kind)s")
        % {
            "rep": one_line(signal.rep.name),
            "partner": one_line(signal.partner.name),
            "kind": signal.get_kind_display(),
        }
    )


def deal_signal_emails_send(*, notification_ids: Sequence[int]) -> int:
    """Email each notification's user about its signal, once. Returns emails sent.

    A notification already emailed or digested, or whose user chose a digest or no email,
    is skipped. Notifications, users, signals and preferences are read in two queries;
    each email is then claimed with one conditional UPDATE before it is sent, so two
    workers never both send it, and a failed send releases the claim for the retry.
    """
    notes = list(
        Notification.objects.filter(
            pk__in=notification_ids, emailed_at__isnull=True, digested_at__isnull=True
        )
        .select_related("user", "signal__rep", "signal__partner")
        .order_by("pk")
    )
    modes = dict(
        NotificationPreference.objects.filter(user_id__in={n.user_id for n in notes}).values_list(
            "user_id", "email"
        )
    )
    sent = 0
    for note in notes:
        mode = modes.get(note.user_id, NotificationPreference.Email.IMMEDIATE)
        if mode != NotificationPreference.Email.IMMEDIATE or not note.user.email:
            continue
        claimed = Notification.objects.filter(
            pk=note.pk, emailed_at__isnull=True, digested_at__isnull=True
        ).update(emailed_at=timezone.now())
        if not claimed:
            continue
        signal = note.signal
        with translation.override(settings.LANGUAGE_CODE):
            subject = signal_email_subject(signal)
            body = render_to_string(
                "deal_signals/email_signal.txt",
                {"lines": _signal_lines([signal]), "user": note.user},
            )
        try:
            send_mail(subject, body, None, [note.user.email])
        except Exception:
            Notification.objects.filter(pk=note.pk).update(emailed_at=None)
            raise
        sent += 1
    return sent


def deal_signal_digest_send(*, tenant: Tenant, until: dt.datetime | None = None) -> int:
    """Send each digest reader one email with their notifications not yet emailed.

    Covers notifications created before ``until`` (default: now) that were neither emailed
    nor put in an earlier digest; marks them, so a digest never repeats a signal. Returns
    the number of digest emails sent.
    """
    until = until or timezone.now()
    members = Membership.objects.filter(is_active=True, user__is_active=True).values("user_id")
    readers = list(
        NotificationPreference.objects.filter(
            email=NotificationPreference.Email.DIGEST, user_id__in=members
        ).values_list("user_id", flat=True)
    )
    pending = (
        Notification.objects.filter(
            user_id__in=readers,
            created_at__lt=until,
            emailed_at__isnull=True,
            digested_at__isnull=True,
        )
        .select_related("user", "signal__rep", "signal__partner")
        .order_by("user_id", "-created_at")
    )
    by_user: dict[int, list[Notification]] = defaultdict(list)
    for note in pending:
        by_user[note.user_id].append(note)
    sent = 0
    for user_notes in by_user.values():
        with transaction.atomic():
            ids = [n.pk for n in user_notes]
            locked = set(
                Notification.objects.select_for_update()
                .filter(pk__in=ids, digested_at__isnull=True, emailed_at__isnull=True)
                .values_list("pk", flat=True)
            )
            notes = [n for n in user_notes if n.pk in locked]
            if not notes or not notes[0].user.email:
                continue
            signals = [n.signal for n in notes]
            with translation.override(settings.LANGUAGE_CODE):
                subject = ngettext(
                    "Deal signals digest: %(count)d new signal",
                    "Deal signals digest: %(count)d new signals",
                    len(signals),
                ) % {"count": len(signals)}
                body = render_to_string(
                    "deal_signals/email_digest.txt",
                    {"lines": _signal_lines(signals), "user": notes[0].user, "tenant": tenant},
                )
            send_mail(subject, body, None, [notes[0].user.email])
            Notification.objects.filter(pk__in=locked).update(digested_at=timezone.now())
            sent += 1
    return sent


def notifications_mark_read(*, user, notification_ids: Sequence[int] | None = None) -> int:
    """Mark the user's notifications read (all unread ones when no ids are given)."""
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_ids is not None:
        qs = qs.filter(pk__in=notification_ids)
    return qs.update(read_at=timezone.now())
