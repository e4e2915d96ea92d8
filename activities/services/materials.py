"""Writes of materials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import transaction

from activities.models import Material
from pse_crm.bulk import BulkUpsertResult, bulk_upsert_rows
from pse_crm.models import Tenant


def material_bulk_upsert(
    *, tenant: Tenant, records: Sequence[Mapping[str, object]]
) -> BulkUpsertResult:
    """Create or update materials by ``external_id``, in bulk.

    ``records`` are validated, each with an ``external_id`` unique within the batch.
    Guarantees: all or nothing in one transaction; a record equal to the stored material
    writes nothing; omitted fields keep their stored value; a fixed number of statements
    per 1,000 records.
    """
    keys = [str(r["external_id"]) for r in records]
    if len(set(keys)) != len(keys):
        raise ValueError("external_id must be unique within one batch")
    with transaction.atomic():
        existing = {
            m.external_id: m
            for m in Material.objects.filter(tenant=tenant, external_id__in=sorted(set(keys)))
        }
        return bulk_upsert_rows(
            model=Material, tenant=tenant, records=records, matches=[existing.get(k) for k in keys]
        )
