"""A tenant's data as a whole: export to a zip, import into an empty database, delete.

"A tenant's data" is every row of every model with a foreign key to ``Tenant`` (every
``TenantOwned`` model, and the API keys), the tenant itself, and the users who are its
members. Models added later are picked up from the app registry, so the commands need
no change when an app grows a model.

Used by ``manage.py export_tenant`` / ``import_tenant`` / ``delete_tenant``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from pse_crm.models import Membership, Tenant
from pse_crm.tenancy import tenant_scope

FORMAT = "pse-crm-tenant-export"
VERSION = 1
MANIFEST = "manifest.json"

# Exports made before the feature apps took over the enablement app's models (commit
# 4bdba48) name them ``enablement.<Model>``: the app each of those models lives in now.
_MOVED_FROM_ENABLEMENT = {
    "segmentation": ("SegmentationSettings", "SegmentationRun", "RepSegment", "PartnerSegment"),
    "knowhow": ("Hearing", "KnowHow", "KnowHowSource", "KnowHowShare"),
    "support": ("SupportTask", "SupportTaskTransition", "SupportTaskComment", "QuickWin"),
    "deal_signals": (
        "SignalRule",
        "DealSignal",
        "DealSignalView",
        "NotificationPreference",
        "Notification",
        "SignalEvaluationBacklog",
    ),
    "momentum": ("MomentumSnapshot",),
}
LEGACY_LABELS = {
    f"enablement.{name}": f"{app}.{name}"
    for app, names in _MOVED_FROM_ENABLEMENT.items()
    for name in names
}
_LEGACY_LABELS_LOWER = {old.lower(): new.lower() for old, new in LEGACY_LABELS.items()}


class TenantDataError(Exception):
    """The export file or the target database does not allow the operation."""


def tenant_linked_models() -> list[type[models.Model]]:
    """Every concrete model with a ``tenant`` foreign key to Tenant, in a stable order."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for f in model._meta.concrete_fields:
            if isinstance(f, models.ForeignKey) and f.related_model is Tenant:
                found.append(model)
                break
    return sorted(found, key=lambda m: m._meta.label)


def _tenant_field(model) -> str:
    for f in model._meta.concrete_fields:
        if isinstance(f, models.ForeignKey) and f.related_model is Tenant:
            return f.attname
    raise LookupError(model)


def _rows(model, tenant: Tenant) -> models.QuerySet:
    # The base manager: every row of the tenant, whatever the default manager hides.
    return model._base_manager.filter(**{_tenant_field(model): tenant.pk}).order_by("pk")


def _member_users(tenant: Tenant) -> models.QuerySet:
    ids = Membership._base_manager.filter(tenant_id=tenant.pk).values("user_id")
    return get_user_model()._base_manager.filter(pk__in=ids).order_by("pk")


def tenant_counts(tenant: Tenant) -> dict[str, int]:
    """Rows per model label for ``tenant`` (zero counts included)."""
    with tenant_scope(tenant):
        return {m._meta.label: _rows(m, tenant).count() for m in tenant_linked_models()}


# --- export ---------------------------------------------------------------------------


def _write(zf: zipfile.ZipFile, name: str, objects: Iterable[models.Model]) -> int:
    count = 0

    def counted():
        nonlocal count
        for obj in objects:
            count += 1
            yield obj

    with zf.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8") as stream:
        serializers.serialize("json", counted(), stream=stream)
    return count


def tenant_export(*, tenant: Tenant, out: Path) -> dict[str, int]:
    """Write all of ``tenant``'s data to the zip ``out``; returns the row counts written.

    One JSON file per model (Django's serialization format, primary keys kept) and a
    manifest with the counts. Read in one repeatable-read transaction, so the files agree
    with each other even while the tenant keeps working.
    """
    counts: dict[str, int] = {}
    tmp = out.with_name(out.name + ".partial")
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        with (
            tenant_scope(tenant),
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        ):
            counts[Tenant._meta.label] = _write(
                zf, "data/pse_crm.Tenant.json", Tenant.objects.filter(pk=tenant.pk)
            )
            user_label = get_user_model()._meta.label
            counts[user_label] = _write(
                zf, f"data/{user_label}.json", _member_users(tenant).iterator(chunk_size=2000)
            )
            for model in tenant_linked_models():
                if getattr(model, "is_derived", False):
                    continue  # rebuilt from the rows it derives from (triggers) on import
                label = model._meta.label
                counts[label] = _write(
                    zf, f"data/{label}.json", _rows(model, tenant).iterator(chunk_size=2000)
                )
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "tenant": tenant.slug,
                "exported_at": timezone.now().isoformat(),
                "counts": counts,
            }
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
    tmp.replace(out)
    return counts


# --- import ---------------------------------------------------------------------------


@dataclass
class ImportResult:
    tenant: Tenant
    counts: dict[str, int] = field(default_factory=dict)
    users_reused: int = 0


def _read_manifest(zf: zipfile.ZipFile) -> dict:
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except KeyError:
        raise TenantDataError("Not a tenant export: manifest.json is missing.") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise TenantDataError(
            f"Unsupported export format {manifest.get('format')!r} "
            f"version {manifest.get('version')!r}."
        )
    return manifest


def tenant_import(*, source: Path) -> ImportResult:
    """Restore an export. All or nothing; the tenant must not exist yet.

    Primary keys are kept, so the target must not hold rows with those ids (an empty
    database does not). A member whose email already exists as a user is linked to that
    user instead of being created again. Derived rows, which the export leaves out (models
    with ``is_derived``), are rebuilt on PostgreSQL: the won deals' by triggers as the deals
    are restored, the views' by the next fold (the restored views are all above the new
    tenant's mark until then, and the segmentation run reads them there).
    """
    User = get_user_model()
    with zipfile.ZipFile(source) as zf:
        manifest = _read_manifest(zf)
        if Tenant.objects.filter(slug=manifest["tenant"]).exists():
            raise TenantDataError(f"Tenant '{manifest['tenant']}' already exists here.")
        labels = [lbl for lbl in manifest["counts"] if lbl not in {Tenant._meta.label}]
        unknown = [lbl for lbl in labels if _model(_current_label(lbl)) is None]
        if unknown:
            raise TenantDataError(f"This database has no model for: {', '.join(unknown)}.")
        result = None
        with transaction.atomic(), connection.constraint_checks_disabled():
            (tenant_obj,) = list(
                serializers.deserialize("json", zf.read("data/pse_crm.Tenant.json"))
            )
            tenant_obj.save()
            tenant = tenant_obj.object
            result = ImportResult(tenant=tenant, counts={Tenant._meta.label: 1})
            user_ids: dict[int, int] = {}
            with tenant_scope(tenant):
                for file_label in labels:
                    label = _current_label(file_label)
                    model = _model(label)
                    saved = 0
                    for item in _deserialize(zf.read(f"data/{file_label}.json")):
                        obj = item.object
                        if model is User:
                            existing = User._base_manager.filter(email__iexact=obj.email).first()
                            if existing is not None:
                                user_ids[obj.pk] = existing.pk
                                result.users_reused += 1
                                saved += 1
                                continue
                        for f in obj._meta.concrete_fields:
                            if (
                                isinstance(f, models.ForeignKey)
                                and f.related_model is User
                                and getattr(obj, f.attname) in user_ids
                            ):
                                setattr(obj, f.attname, user_ids[getattr(obj, f.attname)])
                        item.save()
                        saved += 1
                    result.counts[label] = saved
            touched = [_model(_current_label(lbl)) for lbl in labels] + [Tenant]
            connection.check_constraints(table_names=[m._meta.db_table for m in touched])
            _reset_sequences(touched)
        return result


def _current_label(label: str) -> str:
    return LEGACY_LABELS.get(label, label)


def _deserialize(stream: bytes):
    """The objects of one data file, with legacy model labels read as the current ones."""
    objects = json.loads(stream)
    for obj in objects:
        obj["model"] = _LEGACY_LABELS_LOWER.get(obj["model"].lower(), obj["model"])
    return serializers.deserialize("python", objects)


def _model(label: str):
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _reset_sequences(model_list) -> None:
    statements = connection.ops.sequence_reset_sql(no_style(), model_list)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


# --- delete ---------------------------------------------------------------------------


def tenant_delete(*, tenant: Tenant) -> tuple[dict[str, int], list[int]]:
    """Delete every row of ``tenant`` and the tenant itself; nothing of another tenant.

    Rows are deleted table by table with the tenant's id as the only condition (the
    database's deferred foreign keys let the order be free within the transaction).
    Returns the rows deleted per model label and the ids of the tenant's former members
    (for ``delete_orphan_users``).
    """
    qn = connection.ops.quote_name
    deleted: dict[str, int] = {}
    with transaction.atomic(), tenant_scope(tenant):
        member_ids = list(
            Membership._base_manager.filter(tenant_id=tenant.pk).values_list("user_id", flat=True)
        )
        with connection.cursor() as cursor:
            for model in tenant_linked_models():
                column = _tenant_field(model)
                for m2m in model._meta.local_many_to_many:
                    through = m2m.remote_field.through
                    if through._meta.auto_created:
                        cursor.execute(
                            f"DELETE FROM {qn(through._meta.db_table)}"
                            f" WHERE {qn(m2m.m2m_column_name())} IN"
                            f" (SELECT {qn(model._meta.pk.column)} FROM {qn(model._meta.db_table)}"
                            f" WHERE {qn(column)} = %s)",
                            [tenant.pk],
                        )
                cursor.execute(
                    f"DELETE FROM {qn(model._meta.db_table)} WHERE {qn(column)} = %s",
                    [tenant.pk],
                )
                deleted[model._meta.label] = cursor.rowcount
            cursor.execute(f"DELETE FROM {qn(Tenant._meta.db_table)} WHERE id = %s", [tenant.pk])
        deleted[Tenant._meta.label] = 1
    return deleted, member_ids


def delete_orphan_users(user_ids: list[int]) -> int:
    """Delete those of ``user_ids`` who are members of no tenant any more (never a
    superuser). Reads every tenant's memberships: call it with the tenant wall lifted."""
    User = get_user_model()
    orphans = User._base_manager.filter(pk__in=user_ids, is_superuser=False).exclude(
        pk__in=Membership._base_manager.values("user_id")
    )
    count = orphans.count()
    orphans.delete()
    return count
