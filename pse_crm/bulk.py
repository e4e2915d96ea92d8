"""Set-based create-or-update of tenant-owned rows, shared by the bulk API services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.db import models
from django.utils import timezone

from pse_crm.models import Tenant

__all__ = ["BulkUpsertResult", "bulk_upsert_rows"]


@dataclass(frozen=True)
class BulkUpsertResult:
    """Counts of one bulk upsert, and the stored ids in the order of the records."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ids: list[int] = field(default_factory=list)


def bulk_upsert_rows(
    *,
    model: type[models.Model],
    tenant: Tenant,
    records: Sequence[Mapping[str, object]],
    matches: Sequence[models.Model | None],
) -> BulkUpsertResult:
    """Create the records whose match is ``None`` and update the others, in bulk.

    ``records`` hold validated values by attribute name (``partner_id``, not ``partner``);
    ``matches`` the stored row each record updates, or ``None``. Only fields whose value
    differs are written; a record equal to its row counts as unchanged and is not written.
    New rows get ``tenant`` explicitly (bulk writes bypass ``save()``). A fixed number of
    statements per 1,000 records; call inside a transaction.
    """
    now = timezone.now()
    creates: list[models.Model] = []
    updates: list[models.Model] = []
    changed_fields: set[str] = set()
    rows: list[models.Model] = []
    unchanged = 0
    has_updated_at = any(f.name == "updated_at" for f in model._meta.concrete_fields)
    for record, row in zip(records, matches, strict=True):
        if row is None:
            row = model(tenant=tenant, **record)
            creates.append(row)
        else:
            changed = [name for name, value in record.items() if getattr(row, name) != value]
            if changed:
                for name in changed:
                    setattr(row, name, record[name])
                changed_fields.update(changed)
                updates.append(row)
            else:
                unchanged += 1
        rows.append(row)
    if creates:
        model.objects.bulk_create(creates, batch_size=1000)
    if updates:
        if has_updated_at:
            for row in updates:
                row.updated_at = now
            changed_fields.add("updated_at")
        model.objects.bulk_update(updates, sorted(changed_fields), batch_size=500)
    return BulkUpsertResult(
        created=len(creates),
        updated=len(updates),
        unchanged=unchanged,
        ids=[row.pk for row in rows],
    )
