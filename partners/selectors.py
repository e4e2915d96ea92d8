"""Reads of the partners app."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from partners.models import Partner
from pse_crm.models import Tenant
from pse_crm.sfid import InvalidSalesforceId, to_18


def partners_by_external_id(*, tenant: Tenant, external_ids: Iterable[str]) -> dict[str, Partner]:
    """The tenant's partners among ``external_ids``, by external id (one query)."""
    keys = sorted({k for k in external_ids if k})
    if not keys:
        return {}
    return {p.external_id: p for p in Partner.objects.filter(tenant=tenant, external_id__in=keys)}


def partners_by_keys(*, tenant: Tenant, keys: Iterable[str]) -> dict[str, Partner | str]:
    """The tenant's partners named by ``keys``: an id (digits), a Salesforce Account Id (15
    or 18 characters) or an exact name. A name two partners share maps to ``"ambiguous"``.
    Three queries at most, whatever the number of keys."""
    keys = {k.strip() for k in keys if k and k.strip()}
    ids = {k for k in keys if k.isdigit() and len(k) < 15}  # 15 digits: a Salesforce id
    sf_ids = {}
    for key in keys - ids:
        with contextlib.suppress(InvalidSalesforceId):
            sf_ids[to_18(key)] = key
    names = keys - ids  # a 15-character name is tried as a name too
    partners = Partner.objects.filter(tenant=tenant)
    out: dict[str, Partner | str] = {}
    if ids:
        out.update({str(p.pk): p for p in partners.filter(pk__in=[int(k) for k in ids])})
    if sf_ids:
        for p in partners.filter(external_id__in=list(sf_ids)):
            out[sf_ids[p.external_id]] = p
    if names:
        by_id = set(out)
        seen: set[str] = set()
        for p in partners.filter(name__in=names).order_by("pk"):
            if p.name in by_id:
                continue  # the Salesforce Account Id matched first
            out[p.name] = "ambiguous" if p.name in seen else p
            seen.add(p.name)
    return out
