"""The audit trail: who changed what on deals, tasks, hearings, settings and memberships.

The audited models are named in ``settings.AUDITED_MODELS`` ("app_label.Model"), so the
core imports no app. Every normal save or delete of one of them writes an ``AuditEvent``
in the same transaction: the actor (the logged-in user, the API key, or "system" for
tasks and commands), the action and, for a change, each field's old and new value.
Bulk writes (``bulk_create``, ``update()``, raw SQL: the sync and ingestion fast paths)
send no signals and are not itemised here. Owners read the trail at /settings/audit/.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import uuid
from contextvars import ContextVar

from django.apps import apps
from django.conf import settings
from django.core.paginator import Paginator
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from pse_crm import roles
from pse_crm.models import AuditEvent, Tenant
from pse_crm.permissions import capability_required

log = logging.getLogger(__name__)

_request: ContextVar[HttpRequest | None] = ContextVar("pse_crm_audit_request", default=None)

SYSTEM = "system"


class AuditMiddleware:
    """Remembers the request, so that a save deep in a service knows who made it (an API
    key is only known once DRF has authenticated, hence the request, not the user)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def _actor():
    from pse_crm.api.auth import APIKeyPrincipal

    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    if isinstance(user, APIKeyPrincipal):
        return None, f"API key: {user.key.name}"
    if user is not None and user.is_authenticated:
        return user, user.get_username()
    return None, SYSTEM


def _audited_fields(model) -> list[models.Field]:
    skip = {"tenant", model._meta.pk.name}
    return [
        f
        for f in model._meta.concrete_fields
        if f.name not in skip and not getattr(f, "auto_now", False)
        # (A generated column follows the fields it is computed from.)
        if not getattr(f, "auto_now_add", False) and not f.generated
    ]


def _plain(value):
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def _values(instance) -> dict:
    return {f.attname: f.value_from_object(instance) for f in _audited_fields(type(instance))}


def _label(instance, field: models.Field, value):
    """A foreign key is shown by its row's name, a choice by its label, not their codes."""
    if value is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if value is None or not field.is_relation:
        return _plain(value)
    related = field.related_model._base_manager.filter(pk=value).first()
    return str(related) if related is not None else _plain(value)


def _record(instance, action: str, changes: dict) -> None:
    tenant_id = instance.pk if isinstance(instance, Tenant) else instance.tenant_id
    if tenant_id is None:
        return
    actor, actor_label = _actor()
    AuditEvent(
        tenant_id=tenant_id,
        actor=actor,
        actor_label=actor_label[:254],
        action=action,
        model_label=instance._meta.label,
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        changes=changes,
    ).save()


def _pre_save(sender, instance, raw=False, **kwargs):
    instance._audit_before = None
    if raw or instance._state.adding or instance.pk is None:
        return
    instance._audit_before = (
        sender._base_manager.filter(pk=instance.pk)
        .values(*[f.attname for f in _audited_fields(sender)])
        .first()
    )


def _post_save(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    before = getattr(instance, "_audit_before", None)
    after = _values(instance)
    fields = {f.attname: f for f in _audited_fields(sender)}
    if created or before is None:
        changes = {
            fields[k].name: [None, _label(instance, fields[k], v)]
            for k, v in after.items()
            if v not in (None, "", [], {})
        }
        _record(instance, AuditEvent.Action.CREATE, changes)
        return
    changes = {
        fields[k].name: [_label(instance, fields[k], before.get(k)), _label(instance, fields[k], v)]
        for k, v in after.items()
        if before.get(k) != v
    }
    if changes:
        _record(instance, AuditEvent.Action.UPDATE, changes)


def _post_delete(sender, instance, **kwargs):
    _record(instance, AuditEvent.Action.DELETE, {})


def connect() -> None:
    """Connect the audit receivers to every model of ``settings.AUDITED_MODELS``."""
    for label in getattr(settings, "AUDITED_MODELS", ()):
        try:
            model = apps.get_model(label)
        except LookupError:
            log.warning("AUDITED_MODELS names %s, which is not installed", label)
            continue
        uid = f"pse_crm.audit.{label}"
        pre_save.connect(_pre_save, sender=model, dispatch_uid=uid, weak=False)
        post_save.connect(_post_save, sender=model, dispatch_uid=uid, weak=False)
        post_delete.connect(_post_delete, sender=model, dispatch_uid=uid, weak=False)


# --- the owners' page -----------------------------------------------------------------


def _field_name(model, name: str) -> str:
    try:
        return str(model._meta.get_field(name).verbose_name)
    except Exception:  # a field removed since the event was written
        return name


@capability_required(roles.OWN)
def audit_log(request: HttpRequest) -> HttpResponse:
    """The tenant's audit trail, newest first; owners only."""
    kinds = {}
    for label in getattr(settings, "AUDITED_MODELS", ()):
        try:
            kinds[label] = apps.get_model(label)
        except LookupError:
            continue
    events = AuditEvent.objects.all()
    chosen = request.GET.get("type", "")
    if chosen in kinds:
        events = events.filter(model_label=chosen)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    rows = []
    for event in page.object_list:
        model = kinds.get(event.model_label)
        rows.append(
            {
                "event": event,
                "kind": str(model._meta.verbose_name) if model else event.model_label,
                "changes": [
                    (_field_name(model, name) if model else name, old, new)
                    for name, (old, new) in sorted(event.changes.items())
                ],
            }
        )
    return render(
        request,
        "pse_crm/audit.html",
        {
            "page": page,
            "rows": rows,
            "kinds": sorted(
                ((label, str(m._meta.verbose_name_plural)) for label, m in kinds.items()),
                key=lambda kv: kv[1],
            ),
            "chosen": chosen,
            "title": _("Audit trail"),
        },
    )
