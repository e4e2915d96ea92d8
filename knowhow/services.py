"""Hearings with keyman ① and the know-how drawn from them, and its spread (横展開).

Every function validates before it writes and raises ``django.core.exceptions.
ValidationError`` (field → messages) with nothing written when the input breaks a rule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from knowhow.effect import DEFAULT_EFFECT_DAYS, estimate
from knowhow.models import Hearing, KnowHow, KnowHowEffect, KnowHowShare, KnowHowSource
from knowhow.selectors import know_how_effect_inputs
from partners.models import Partner
from pse_crm.calendar import local_date, tenant_today
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope
from reps.models import Rep
from segmentation.models import Quadrant, RepSegment

HEARING_FIELDS = frozenset(
    {
        "rep",
        "held_on",
        "finding_customers",
        "sales_approach",
        "materials_used",
        "objections",
        "notes",
        "tags",
    }
)
KNOW_HOW_FIELDS = frozenset({"title", "body", "tags", "products", "source_quadrants"})


def clean_labels(values: Iterable[str] | None) -> list[str]:
    """Tags and products as stored: trimmed, empty ones dropped, duplicates removed, order
    kept."""
    out: dict[str, None] = {}
    for value in values or ():
        text = str(value).strip()
        if text:
            out.setdefault(text[:100], None)
    return list(out)


def _check_rep(rep: Rep | None, tenant: Tenant, errors: dict[str, list[str]]) -> None:
    if rep is None:
        errors.setdefault("rep", []).append(_("A hearing needs the rep who was interviewed."))
    elif rep.tenant_id != tenant.pk:
        errors.setdefault("rep", []).append(_("Choose a rep of this tenant."))


def _check_held_on(held_on: dt.date | None, tenant: Tenant, errors: dict[str, list[str]]) -> None:
    if held_on is None:
        errors.setdefault("held_on", []).append(_("A hearing needs its date."))
    elif held_on > tenant_today(tenant):
        errors.setdefault("held_on", []).append(_("A hearing cannot be in the future."))


def hearing_create(
    *,
    tenant: Tenant,
    rep: Rep | None,
    held_by: AbstractBaseUser | None,
    held_on: dt.date | None,
    finding_customers: str = "",
    sales_approach: str = "",
    materials_used: str = "",
    objections: str = "",
    notes: str = "",
    tags: Sequence[str] = (),
) -> Hearing:
    """Record a hearing with a rep.

    Guarantees: ``tenant`` is the tenant in scope; the rep is given and belongs to it; the
    date is given and not in the future (tenant time zone); tags are trimmed and
    de-duplicated.
    """
    require_scope(tenant)
    errors: dict[str, list[str]] = {}
    _check_rep(rep, tenant, errors)
    _check_held_on(held_on, tenant, errors)
    if errors:
        raise ValidationError(errors)
    return Hearing.objects.create(
        tenant=tenant,
        rep=rep,
        held_by=held_by,
        held_on=held_on,
        finding_customers=finding_customers,
        sales_approach=sales_approach,
        materials_used=materials_used,
        objections=objections,
        notes=notes,
        tags=clean_labels(tags),
    )


def hearing_update(*, tenant: Tenant, hearing: Hearing, **changes) -> Hearing:
    """Change a hearing's fields, under the same rules as ``hearing_create``."""
    require_scope(tenant)
    unknown = set(changes) - HEARING_FIELDS
    if unknown:
        raise ValidationError({f: [_("This field cannot be changed here.")] for f in unknown})
    errors: dict[str, list[str]] = {}
    if "rep" in changes:
        _check_rep(changes["rep"], tenant, errors)
    if "held_on" in changes:
        _check_held_on(changes["held_on"], tenant, errors)
    if errors:
        raise ValidationError(errors)
    if "tags" in changes:
        changes["tags"] = clean_labels(changes["tags"])
    for field, value in changes.items():
        setattr(hearing, field, value)
    hearing.save()
    return hearing


def _source_quadrants(hearings: Sequence[Hearing]) -> list[str]:
    """The current-run quadrants of the hearings' reps, in the quadrant order."""
    found = set(
        RepSegment.objects.filter(
            run__is_current=True, rep_id__in=[h.rep_id for h in hearings]
        ).values_list("quadrant", flat=True)
    )
    return [q for q in Quadrant.values if q in found]


def _check_quadrants(values: Iterable[str], errors: dict[str, list[str]]) -> list[str]:
    values = list(dict.fromkeys(values))
    bad = [v for v in values if v not in Quadrant.values]
    if bad:
        errors.setdefault("source_quadrants", []).append(
            _("Unknown quadrant: %(values)s.") % {"values": ", ".join(map(str, bad))}
        )
    return values


def know_how_create(
    *,
    tenant: Tenant,
    title: str,
    body: str,
    hearings: Sequence[Hearing] = (),
    created_by: AbstractBaseUser | None,
    tags: Sequence[str] = (),
    products: Sequence[str] = (),
    source_quadrants: Sequence[str] | None = None,
) -> KnowHow:
    """Write a piece of know-how drawn from ``hearings``.

    Guarantees: ``tenant`` is the tenant in scope; a title and a body; every hearing
    belongs to ``tenant``. When ``source_quadrants`` is not given it is taken from the
    current segmentation run: the quadrants of the hearings' reps.
    """
    require_scope(tenant)
    errors: dict[str, list[str]] = {}
    if not (title or "").strip():
        errors["title"] = [_("A title is required.")]
    if not (body or "").strip():
        errors["body"] = [_("The know-how itself is required.")]
    if any(h.tenant_id != tenant.pk for h in hearings):
        errors["hearings"] = [_("Choose hearings of this tenant.")]
    quadrants = (
        _check_quadrants(source_quadrants, errors)
        if source_quadrants is not None
        else _source_quadrants(hearings)
    )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        know_how = KnowHow.objects.create(
            tenant=tenant,
            title=title.strip(),
            body=body,
            tags=clean_labels(tags),
            products=clean_labels(products),
            source_quadrants=quadrants,
            created_by=created_by,
        )
        _add_sources(tenant, know_how, hearings)
    return know_how


def _add_sources(tenant: Tenant, know_how: KnowHow, hearings: Sequence[Hearing]) -> None:
    """Record each of ``hearings`` (once) as a source of ``know_how``."""
    KnowHowSource.objects.bulk_create(
        [
            KnowHowSource(tenant_id=tenant.pk, know_how=know_how, hearing=h)
            for h in dict.fromkeys(hearings)
        ]
    )


def know_how_update(
    *,
    tenant: Tenant,
    know_how: KnowHow,
    hearings: Sequence[Hearing] | None = None,
    **changes,
) -> KnowHow:
    """Change know-how fields and, when ``hearings`` is given, its source hearings."""
    require_scope(tenant)
    unknown = set(changes) - KNOW_HOW_FIELDS
    errors: dict[str, list[str]] = {f: [_("This field cannot be changed here.")] for f in unknown}
    if "title" in changes and not (changes["title"] or "").strip():
        errors["title"] = [_("A title is required.")]
    if "body" in changes and not (changes["body"] or "").strip():
        errors["body"] = [_("The know-how itself is required.")]
    if "source_quadrants" in changes:
        changes["source_quadrants"] = _check_quadrants(changes["source_quadrants"], errors)
    if hearings is not None and any(h.tenant_id != tenant.pk for h in hearings):
        errors["hearings"] = [_("Choose hearings of this tenant.")]
    if errors:
        raise ValidationError(errors)
    for key in ("tags", "products"):
        if key in changes:
            changes[key] = clean_labels(changes[key])
    with transaction.atomic():
        for field, value in changes.items():
            setattr(know_how, field, value)
        know_how.save()
        if hearings is not None:
            KnowHowSource.objects.filter(know_how=know_how).delete()
            _add_sources(tenant, know_how, hearings)
    return know_how


def know_how_share(
    *,
    tenant: Tenant,
    know_how: KnowHow,
    shared_by: AbstractBaseUser | None,
    partner: Partner | None = None,
    rep: Rep | None = None,
    shared_on: dt.date | None = None,
    notes: str = "",
) -> KnowHowShare:
    """Record that ``know_how`` was shared with a partner (all its reps) or with one rep.

    Guarantees: ``tenant`` is the tenant in scope; a partner or a rep is named, both of
    ``tenant``; a rep share records the rep's partner, and naming another partner than the
    rep's is refused; the date defaults to today and cannot be in the future (tenant time
    zone).
    """
    require_scope(tenant)
    today = tenant_today(tenant)
    shared_on = shared_on or today
    errors: dict[str, list[str]] = {}
    if know_how.tenant_id != tenant.pk:
        errors["know_how"] = [_("Choose know-how of this tenant.")]
    if partner is None and rep is None:
        errors["partner"] = [_("Share with a partner or a rep.")]
    if partner is not None and partner.tenant_id != tenant.pk:
        errors["partner"] = [_("Choose a partner of this tenant.")]
    if rep is not None:
        if rep.tenant_id != tenant.pk:
            errors["rep"] = [_("Choose a rep of this tenant.")]
        elif partner is not None and rep.partner_id != partner.pk:
            errors["rep"] = [_("The rep does not belong to this partner.")]
    if shared_on > today:
        errors["shared_on"] = [_("A share cannot be in the future.")]
    if errors:
        raise ValidationError(errors)
    return KnowHowShare.objects.create(
        tenant=tenant,
        know_how=know_how,
        partner=partner if partner is not None else rep.partner,
        rep=rep,
        shared_on=shared_on,
        shared_by=shared_by,
        notes=notes,
    )


def know_how_effects_compute(
    *, tenant: Tenant, now: dt.datetime | None = None, days: int = DEFAULT_EFFECT_DAYS
) -> int:
    """Measure the effect of every piece of know-how of ``tenant``, and of all of it
    together, over ``days`` days before and after each share (knowhow/effect.py); returns
    how many rows were written (one per know-how, plus the overall one).

    Guarantees: ``tenant`` is the tenant in scope; idempotent: the tenant's rows for
    ``days`` are replaced in one transaction, and the same data as of the same day gives
    the same figures (the bootstrap is seeded), so a reader sees the previous night's rows
    or the new ones, never a mix; only ``tenant``'s rows are read or written; a fixed
    number of queries, however many know-how and shares.
    """
    require_scope(tenant)
    if not 1 <= days <= 365:
        raise ValidationError({"days": [_("Between 1 and 365 days.")]})
    now = now or timezone.now()
    today = local_date(tenant, now)
    inputs = know_how_effect_inputs(tenant=tenant, days=days, today=today)
    know_how_ids = list(KnowHow.objects.order_by("pk").values_list("pk", flat=True))
    scopes: list[tuple[int | None, dict]] = [
        (pk, inputs.first_reach.get(pk, {})) for pk in know_how_ids
    ]
    scopes.append((None, inputs.first_any))
    rows = []
    for know_how_id, units in scopes:
        result = estimate(units=units, inputs=inputs, seed=[tenant.pk, know_how_id or 0, days])
        rows.append(
            KnowHowEffect(
                tenant=tenant,
                know_how_id=know_how_id,
                days=days,
                as_of_date=today,
                computed_at=now,
                # status, the counts and metrics: the Estimate's fields are the row's.
                **dataclasses.asdict(result),
            )
        )
    with transaction.atomic():
        KnowHowEffect.objects.filter(days=days).delete()
        KnowHowEffect.objects.bulk_create(rows)
    return len(rows)
