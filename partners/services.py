"""Writes of the partners app."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import transaction

from partners.models import Partner
from partners.selectors import partners_by_external_id
from partners.signals import partners_upserted
from pse_crm.bulk import BulkUpsertResult, bulk_upsert_rows
from pse_crm.models import Tenant


def partner_bulk_upsert(
    *, tenant: Tenant, records: Sequence[Mapping[str, object]]
) -> BulkUpsertResult:
    """Create or update partners by ``external_id`` (the Salesforce Account Id), in bulk.

    ``records`` are validated (18-character ``external_id``, unique within the batch).
    Guarantees: all or nothing in one transaction; a record equal to the stored partner
    writes nothing (``unchanged``); fields a record omits keep their stored value; a fixed
    number of statements per 1,000 records. Sends ``partners_upserted`` for the created and
    updated partners, so deals waiting for them get linked in the same transaction.
    """
    keys = [str(r["external_id"]) for r in records]
    if len(set(keys)) != len(keys):
        raise ValueError("external_id must be unique within one batch")
    with transaction.atomic():
        existing = partners_by_external_id(tenant=tenant, external_ids=keys)
        result = bulk_upsert_rows(
            model=Partner,
            tenant=tenant,
            records=records,
            matches=[existing.get(k) for k in keys],
        )
        partners_upserted.send(sender=Partner, tenant_id=tenant.pk, ids=result.ids)
    return result
