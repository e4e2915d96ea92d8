"""Reads of the partners app."""

from __future__ import annotations

from collections.abc import Iterable

from partners.models import Partner
from pse_crm.models import Tenant


def partners_by_external_id(*, tenant: Tenant, external_ids: Iterable[str]) -> dict[str, Partner]:
    """The tenant's partners among ``external_ids``, by external id (one query)."""
    keys = sorted({k for k in external_ids if k})
    if not keys:
        return {}
    return {p.external_id: p for p in Partner.objects.filter(tenant=tenant, external_id__in=keys)}
