"""Writes of the reps app."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import transaction
from django.utils.translation import gettext as _

from pse_crm.bulk import BulkUpsertResult, bulk_upsert_rows
from pse_crm.models import Tenant
from reps.models import Rep
from reps.selectors import reps_by_keys
from reps.signals import reps_upserted


class RepBulkError(ValueError):
    """Records that cannot be written: ``errors`` holds (index, field, message)."""

    def __init__(self, errors: list[tuple[int, str, str]]):
        self.errors = errors
        super().__init__(f"{len(errors)} rep record(s) cannot be written")


def rep_bulk_upsert(*, tenant: Tenant, records: Sequence[Mapping[str, object]]) -> BulkUpsertResult:
    """Create or update reps in bulk, matched by ``external_id``, else by ``email``.

    ``records`` are validated values by attribute name (``partner_id``; ``email`` lower-case;
    ``salesforce_user_id`` in 18-character form), each with an ``external_id`` or an
    ``email``, no key twice in the batch. A new rep needs ``partner_id`` and ``name``;
    omitted fields of an existing rep keep their stored value.

    Guarantees: all or nothing in one transaction (``RepBulkError`` lists every record that
    cannot be written, before anything is); a record equal to the stored rep writes nothing;
    a fixed number of statements per 1,000 records. Sends ``reps_upserted`` so deals
    waiting for these reps get linked in the same transaction.
    """
    with transaction.atomic():
        by_ext, by_email = reps_by_keys(
            tenant=tenant,
            external_ids=[str(r.get("external_id") or "") for r in records],
            emails=[str(r.get("email") or "") for r in records],
        )
        matches: list[Rep | None] = []
        errors: list[tuple[int, str, str]] = []
        for index, record in enumerate(records):
            rep = by_ext.get(str(record.get("external_id") or "")) or by_email.get(
                str(record.get("email") or "")
            )
            if rep is None:
                for required in ("partner_id", "name"):
                    if not record.get(required):
                        field = "partner" if required == "partner_id" else required
                        errors.append((index, field, _("This field is required for a new rep.")))
            matches.append(rep)
        if errors:
            raise RepBulkError(errors)
        result = bulk_upsert_rows(model=Rep, tenant=tenant, records=records, matches=matches)
        reps_upserted.send(sender=Rep, tenant_id=tenant.pk, ids=result.ids)
    return result
