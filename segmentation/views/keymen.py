"""Keymen: the current run's segments, filtered, sorted, paged without COUNT(*), exported."""

from __future__ import annotations

import csv
import io
from html import escape

from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django_tables2 import RequestConfig
from django_tables2.paginators import LazyPaginator

from pse_crm import roles
from pse_crm.permissions import capability_required, request_role
from pse_crm.tables import DeferredJoinQuerySet
from pse_crm.tenancy import tenant_scope
from segmentation.cutoffs import cutoff_lines
from segmentation.forms import KeymenFilterForm
from segmentation.models import Quadrant, RepSegment, Tier
from segmentation.selectors import (
    keymen_default_order,
    rep_segments_current,
    rep_segments_of_partner,
    rep_segments_placed_at,
    segmentation_current_run,
)
from segmentation.tables import KeymenTable

PER_PAGE = 50
EXPORT_CHUNK = 2000


def _filtered(
    request: HttpRequest,
) -> tuple[KeymenFilterForm, QuerySet[RepSegment], QuerySet[RepSegment] | None]:
    """The current run's segments as filtered, in the list-to-act-on order
    (``keymen_default_order``); the run is on ``form.run``. Filtered by a partner, also a
    superset of them: the same filters with the partner the run placed each rep at alone
    (``rep_segments_placed_at``), which the page's first pages are read from
    (``DeferredJoinQuerySet``); else None."""
    run = segmentation_current_run(tenant=request.tenant)
    form = KeymenFilterForm(request.GET or None, tier_counts=run.tier_counts if run else None)
    form.run = run
    data = form.cleaned_data if form.is_valid() else {}
    partner = data.get("partner")
    qs = rep_segments_current(
        tenant=request.tenant,
        quadrant=data.get("quadrant") or None,
        tier=data.get("tier") or None,
    )
    if data.get("movers"):
        qs = qs.filter(previous_quadrant__isnull=False).exclude(previous_quadrant=F("quadrant"))
    if data.get("q"):
        term = data["q"].strip()
        qs = qs.filter(Q(rep__name__icontains=term) | Q(rep__email__icontains=term))
    ranked = run is not None and run.segments_ranked
    qs = qs.order_by(
        *keymen_default_order(
            quadrant=data.get("quadrant") or None,
            results_measure=(run.settings_used if run else {}).get("results_measure"),
            ranked=ranked,
        )
    )
    # Every segment of a ranked run, unfiltered: their positions number them from 0.
    narrowed = any(data.get(name) for name in ("quadrant", "tier", "movers", "q", "partner"))
    form.numbered_by = "position" if ranked and not narrowed else None
    if partner is None:
        return form, qs, None
    return (
        form,
        rep_segments_of_partner(qs, partner_id=partner.pk),
        rep_segments_placed_at(qs, partner_id=partner.pk),
    )


def _partner_select(form: KeymenFilterForm) -> SafeString:
    """The partner filter as Django's Select widget renders it (name, id, the empty
    choice, the selected option), built in Python: the widget's template, included once
    per option, cost more than every query of the page with 300 partners. The options
    are the field's queryset read as (pk, name) rows, the value and label its
    ``ModelChoiceIterator`` gives (``str(partner)`` is the name): building 300 partners
    cost a tenth of the page."""
    bound = form["partner"]
    field = bound.field
    chosen = "" if bound.value() is None else str(bound.value())
    empty = [] if field.empty_label is None else [("", field.empty_label)]
    choices = [*empty, *field.queryset.values_list("pk", "name")]
    options = "\n".join(
        f'<option value="{escape(str(value))}"{" selected" if str(value) == chosen else ""}>'
        f"{escape(str(label))}</option>"
        for value, label in choices
    )
    name, auto_id = escape(bound.html_name), escape(bound.auto_id)
    return mark_safe(f'<select name="{name}" id="{auto_id}">\n{options}\n</select>')  # noqa: S308 (escaped)


@capability_required(roles.READ)
def keymen(request: HttpRequest) -> HttpResponse:
    form, qs, placed = _filtered(request)
    role = request_role(request)
    table = KeymenTable(
        DeferredJoinQuerySet.wrap(qs, superset=placed, numbered_by=form.numbered_by),
        can_manage=roles.role_allows(role, roles.MANAGE),
        can_write=roles.role_allows(role, roles.WRITE_ENABLEMENT),
    )
    # LazyPaginator: no COUNT(*) query over 50,000 segments; a page fetches per_page + 1
    # rows (unfiltered, by their positions: ``DeferredJoinQuerySet._slice_by_number``).
    RequestConfig(
        request, paginate={"per_page": PER_PAGE, "paginator_class": LazyPaginator}
    ).configure(table)
    table.attach_tier_shares(tenant=request.tenant)
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("sort", None)
    return render(
        request,
        "segmentation/keymen.html",
        {
            "table": table,
            "form": form,
            "partner_select": _partner_select(form),
            "run": form.run,
            "cutoffs": cutoff_lines(form.run),
            "export_query": query.urlencode(),
        },
    )


def _export_rows(qs: QuerySet[RepSegment], *, currency: str):
    quadrants, tiers = dict(Quadrant.choices), dict(Tier.choices)
    yield [
        _("Rep"),
        _("Email"),
        _("Partner"),
        _("Quadrant"),
        _("Tier"),
        _("Views"),
        _("Distinct materials"),
        # Sums are in the corporate currency; an unconverted deal is in none of them.
        _("Won amount (%(currency)s)") % {"currency": currency},
        _("Won deals"),
        _("Open deals"),
        _("Last view"),
        _("Previous quadrant"),
        _("Score"),
    ]
    rows = qs.values_list(
        "rep__name",
        "rep__email",
        "partner__name",
        "quadrant",
        "tier",
        "views",
        "distinct_materials",
        "won_amount",
        "won_deals",
        "open_deals",
        "last_viewed_at",
        "previous_quadrant",
        "score",
    )
    tz = timezone.get_current_timezone()
    for row in rows.iterator(chunk_size=EXPORT_CHUNK):
        (
            name,
            email,
            partner,
            quadrant,
            tier,
            views,
            materials,
            amount,
            won,
            open_,
            last,
            prev,
            score,
        ) = row
        yield [
            name,
            email,
            partner,
            str(quadrants.get(quadrant, quadrant)),
            str(tiers.get(tier, "")) if tier else "",
            views,
            materials,
            amount,
            won,
            open_,
            last.astimezone(tz).replace(tzinfo=None) if last else None,
            str(quadrants.get(prev, "")) if prev else "",
            round(score, 4),
        ]


class _Echo:
    def write(self, value):
        return value


@capability_required(roles.READ)
def keymen_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The filtered keymen list as CSV (streamed) or Excel (write-only workbook).

    Names are anyone's input: text that would read as a formula is prefixed (see
    pse_crm.exports), and Excel cells are written as strings, never as formulas."""
    from pse_crm.exports import spreadsheet_safe

    _form, qs, _placed = _filtered(request)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        writer = csv.writer(_Echo())
        tenant = request.tenant

        def lines():
            # A streamed body is produced after the middleware has left the tenant scope:
            # enter it again, or row-level security (rightly) returns no rows.
            with tenant_scope(tenant):
                yield "\ufeff"  # a BOM, so that Excel opens Japanese names correctly
                for row in _export_rows(qs, currency=tenant.corporate_currency):
                    yield writer.writerow(["" if v is None else spreadsheet_safe(v) for v in row])

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="keymen-{stamp}.csv"'
        return response
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    def cell(value):
        if hasattr(value, "as_tuple"):
            return float(value)
        if not isinstance(value, str):
            return value
        text = WriteOnlyCell(sheet, value=spreadsheet_safe(value))
        text.data_type = "s"  # a string, even where openpyxl would guess a formula or "#N/A"
        return text

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Keymen"))
    for row in _export_rows(qs, currency=request.tenant.corporate_currency):
        sheet.append([cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="keymen-{stamp}.xlsx"'
    return response
