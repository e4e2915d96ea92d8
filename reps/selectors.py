"""Reads of the reps app."""

from __future__ import annotations

from collections.abc import Iterable

from pse_crm.models import Tenant
from reps.models import Rep


def reps_by_keys(
    *, tenant: Tenant, external_ids: Iterable[str], emails: Iterable[str]
) -> tuple[dict[str, Rep], dict[str, Rep]]:
    """The tenant's reps among ``external_ids`` and ``emails`` (lower-cased): two dicts by key.

    Two queries at most, whatever the number of keys.
    """
    ext = sorted({k for k in external_ids if k})
    mails = sorted({k.lower() for k in emails if k})
    by_ext = {r.external_id: r for r in Rep.objects.filter(tenant=tenant, external_id__in=ext)}
    by_email = {r.email: r for r in Rep.objects.filter(tenant=tenant, email__in=mails)}
    return by_ext, by_email
