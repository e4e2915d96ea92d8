"""Deal sync from Salesforce, and linking deals whose partner or rep arrived later."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from activities.deal_inputs import RESYNC_ALL, DealGap, DealInput
from activities.models import Deal, DealResync
from activities.selectors import deal_sync_watermark
from activities.services.currencies import deal_amounts_convert
from partners.models import Partner
from pse_crm.models import Tenant
from pse_crm.tenancy import require_scope
from reps.models import Rep

__all__ = ["RESYNC_ALL", "DealGap", "DealSyncResult", "deal_link_unmatched", "deal_sync"]

# pg_advisory_xact_lock(class, tenant): one deal sync at a time per tenant.
_SYNC_LOCK_CLASS = 0x0DEA1

# The columns ``deal_sync`` writes, in order; the first two are the conflict key.
_COLUMNS = (
    "tenant_id",
    "sf_id",
    "name",
    "partner_id",
    "rep_id",
    "amount",
    "sf_converted_amount",
    "currency",
    "stage",
    "is_closed",
    "is_won",
    "close_date",
    "sf_created_at",
    "sf_last_modified_at",
    "system_modstamp",
    "field_stamps",
    "is_deleted",
    "raw_partner_key",
    "raw_rep_key",
    "created_at",
    "updated_at",
)
# On conflict every column but the key and the first-stored time takes the merged row.
_UPDATED = tuple(c for c in _COLUMNS if c not in ("tenant_id", "sf_id", "created_at"))

# DealInput attribute -> Deal column, for every attribute a version carries.
_ATTRIBUTE_COLUMNS = {
    "name": "name",
    "amount": "amount",
    "converted_amount": "sf_converted_amount",
    "currency": "currency",
    "stage": "stage",
    "is_closed": "is_closed",
    "is_won": "is_won",
    "is_deleted": "is_deleted",
    "close_date": "close_date",
    "sf_created_at": "sf_created_at",
    "sf_last_modified_at": "sf_last_modified_at",
    "partner_key": "raw_partner_key",
    "rep_key": "raw_rep_key",
}
_VERSIONED = frozenset(_ATTRIBUTE_COLUMNS)
_CONVERTED_FROM = frozenset(("amount", "currency"))
_DEFAULTS: dict[str, Any] = {
    "name": "",
    "amount": None,
    "converted_amount": None,
    "stage": "",
    "is_closed": False,
    "is_won": False,
    "is_deleted": False,
    "close_date": None,
    "sf_created_at": None,
    "sf_last_modified_at": None,
    "partner_key": "",
    "rep_key": "",
}
_STORED = ("sf_id", "system_modstamp", "field_stamps", "created_at", *_ATTRIBUTE_COLUMNS.values())


@dataclass(frozen=True)
class DealSyncResult:
    """What one sync did. Every record counts once in ``created``, ``updated``,
    ``unchanged``, ``stale`` or ``deleted``; ``unmatched`` counts the stored ones among them
    whose partner or rep key names no known partner or rep yet; ``resync_noted`` the ids
    noted for a resync, ``resync_cleared`` those a fetched record took off the list."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    deleted: int = 0
    unmatched: int = 0
    resync_noted: int = 0
    resync_cleared: int = 0
    watermark: dt.datetime | None = None


class _Merged:
    """One deal while a batch is merged into it: each field with the version that set it
    (None: the default, never set by a version)."""

    __slots__ = ("created_at", "dirty", "exists", "stamps", "values", "version")

    def __init__(self) -> None:
        self.exists = False
        self.dirty = False
        self.values: dict[str, Any] = {}
        self.stamps: dict[str, dt.datetime | None] = {}
        self.version: dt.datetime | None = None
        self.created_at: dt.datetime | None = None

    @classmethod
    def stored(cls, row: Sequence[Any]) -> _Merged:
        merged = cls()
        _sf_id, version, stamps, created_at, *values = row
        if isinstance(stamps, str):  # SQLite hands JSON back as text
            stamps = json.loads(stamps)
        merged.exists = True
        merged.version = version
        merged.created_at = created_at
        merged.values = dict(zip(_ATTRIBUTE_COLUMNS, values, strict=True))
        merged.stamps = {
            attr: _stamp(stamps[attr]) if attr in (stamps or {}) else version
            for attr in _ATTRIBUTE_COLUMNS
        }
        return merged

    def apply(self, deal: DealInput, corporate_currency: str) -> str:
        """Merge one version in; returns its verdict. Versions of one deal are applied in
        version order, so a field takes the value of the newest version that carried it
        (the later arrival among equal versions)."""
        version = deal.system_modstamp
        if not self.exists:
            self.exists = self.dirty = True
            self.version = version
            self.values = dict(_DEFAULTS, currency=corporate_currency)
            self.stamps = dict.fromkeys(_ATTRIBUTE_COLUMNS)
            self._take(deal, corporate_currency)
            return "deleted" if self.values["is_deleted"] else "created"
        before, stamps_before = dict(self.values), dict(self.stamps)
        self._take(deal, corporate_currency)
        changed = self.values != before
        if changed or self.stamps != stamps_before:
            self.dirty = True
        if version < self.version:
            return "stale"
        newer = version > self.version
        if newer:
            self.version = version
            self.dirty = True
        if not changed and not newer:
            return "unchanged"
        if self.values["is_deleted"] and not before["is_deleted"]:
            return "deleted"
        return "updated"

    def _take(self, deal: DealInput, corporate_currency: str) -> None:
        version = deal.system_modstamp
        carried = deal.present & _VERSIONED
        # Salesforce's conversion belongs to the amount and currency it came with: a version
        # that changes either without sending one empties it (the rates convert instead).
        stale_conversion = bool(carried & _CONVERTED_FROM) and "converted_amount" not in carried
        if stale_conversion:
            carried = carried | {"converted_amount"}
        for attr in carried:
            stamp = self.stamps[attr]
            if stamp is not None and version < stamp:
                continue  # a newer version already set this field
            value = None if stale_conversion and attr == "converted_amount" else getattr(deal, attr)
            if attr == "currency" and not value:
                value = corporate_currency
            self.values[attr] = value
            self.stamps[attr] = version

    def field_stamps(self, texts: dict[dt.datetime, str]) -> dict[str, str | None]:
        """The stored form: only the fields older than the deal's version. ``texts``
        caches the ISO form of each stamp (a batch shares few)."""
        out: dict[str, str | None] = {}
        for attr, stamp in self.stamps.items():
            if stamp == self.version:
                continue
            if stamp is None:
                out[attr] = None
                continue
            text = texts.get(stamp)
            if text is None:
                text = texts[stamp] = stamp.isoformat()
            out[attr] = text
        return out


def _stamp(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _param_chunk(per_row: int = 1) -> int:
    limit = connection.features.max_query_params or 60_000
    return max(1, (limit - 10) // per_row)


def _keys_to_ids(model, tenant: Tenant, field: str, keys: set[str], columns: tuple[str, ...]):
    """Rows ``columns`` of the tenant's ``model`` whose ``field`` is among ``keys``.

    On PostgreSQL the keys travel as one array parameter (``= ANY(%s)``): thousands of
    separate placeholders cost far more to bind than the query costs to run.
    """
    if not keys:
        return []
    ordered = sorted(keys)
    if connection.vendor == "postgresql":
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            # Raw SQL is not scoped by the manager: the tenant is filtered explicitly.
            cursor.execute(
                f"SELECT {', '.join(qn(c) for c in columns)} FROM {qn(model._meta.db_table)} "
                f"WHERE {qn('tenant_id')} = %s AND {qn(field)} = ANY(%s)",
                [tenant.pk, ordered],
            )
            return cursor.fetchall()
    found = []
    for chunk in _chunks(ordered, _param_chunk()):
        found.extend(
            model.objects.filter(tenant=tenant, **{f"{field}__in": chunk}).values_list(*columns)
        )
    return found


def _lookup(model, tenant: Tenant, field: str, keys: set[str]) -> dict[str, int]:
    return dict(_keys_to_ids(model, tenant, field, keys, (field, "id")))


def _adapt_row(row: list, fields: list) -> list:
    return [f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)]


def _upsert_sql(source: str) -> str:
    qn = connection.ops.quote_name
    table = qn(Deal._meta.db_table)
    columns = ", ".join(qn(c) for c in _COLUMNS)
    updates = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in _UPDATED)
    return (
        f"INSERT INTO {table} ({columns}) {source} "
        f"ON CONFLICT ({qn('tenant_id')}, {qn('sf_id')}) DO UPDATE SET {updates}"
    )


_FIELD_STAMPS = _COLUMNS.index("field_stamps")


def _upsert_postgresql(rows: list[list]) -> None:
    """COPY the rows into a temporary table, then one INSERT … SELECT … ON CONFLICT."""
    stage = f"deal_stage_{uuid.uuid4().hex[:16]}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} (tenant_id bigint, sf_id varchar(18), "
            "name varchar(255), partner_id bigint, rep_id bigint, amount numeric(18, 2), "
            "sf_converted_amount numeric(18, 2), currency varchar(3), stage varchar(80), "
            "is_closed boolean, is_won boolean, close_date date, sf_created_at timestamptz, "
            "sf_last_modified_at timestamptz, system_modstamp timestamptz, field_stamps jsonb, "
            "is_deleted boolean, raw_partner_key varchar(255), raw_rep_key varchar(255), "
            "created_at timestamptz, updated_at timestamptz) ON COMMIT DROP"
        )
        # The raw psycopg COPY is outside Django's error wrapping: wrap it, so that a value
        # PostgreSQL refuses is a django.db.DataError (a 400 in the API), never a bare one.
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {stage} ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
        ):
            write_row = copy.write_row
            for row in rows:
                row = list(row)
                row[_FIELD_STAMPS] = json.dumps(row[_FIELD_STAMPS])
                write_row(row)
        # Every staged row carries the tenant's id (set by deal_sync, never by a client).
        cursor.execute(_upsert_sql(f"SELECT {', '.join(_COLUMNS)} FROM {stage}"))
        cursor.execute(f"DROP TABLE {stage}")


def _upsert_generic(rows: list[list]) -> None:
    """Multi-row INSERT … VALUES … ON CONFLICT in chunks (SQLite 3.24+, the demo)."""
    by_column = {f.column: f for f in Deal._meta.concrete_fields}
    fields = [by_column[c] for c in _COLUMNS]
    rows = [_adapt_row(r, fields) for r in rows]
    row_sql = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    per_statement = min(1000, _param_chunk(len(_COLUMNS)))
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, per_statement):
            cursor.execute(
                _upsert_sql(f"VALUES {', '.join([row_sql] * len(chunk))}"),
                [value for row in chunk for value in row],
            )


def _upsert(rows: list[list]) -> None:
    """Write the merged rows (whole rows: the merge ran under the tenant's sync lock).
    Values are parameters or COPY data, never SQL text."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        _upsert_postgresql(rows)
    else:
        _upsert_generic(rows)


def _resync_update(
    *, tenant: Tenant, gaps: Sequence[DealGap], fetched: set[str], clear_all: bool
) -> tuple[int, int]:
    """Note ``gaps`` and take the ``fetched`` ids (and ``RESYNC_ALL`` with ``clear_all``)
    off the tenant's resync list; (noted, cleared)."""
    cleared = 0
    if (fetched or clear_all) and DealResync.objects.filter(tenant=tenant).exists():
        done = sorted(fetched | ({RESYNC_ALL} if clear_all else set()))
        for chunk in _chunks(done, 10_000):
            cleared += DealResync.objects.filter(tenant=tenant, sf_id__in=chunk).delete()[0]
    reasons = {gap.sf_id: gap.reason for gap in gaps}  # the last reason of an id wins
    if reasons:
        DealResync.objects.bulk_create(
            [DealResync(tenant=tenant, sf_id=i, reason=r) for i, r in sorted(reasons.items())],
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["tenant", "sf_id"],
            update_fields=["reason", "noted_at"],
        )
    return len(reasons), cleared


def deal_sync(
    *,
    tenant: Tenant,
    deals: Sequence[DealInput],
    gaps: Sequence[DealGap] = (),
    resync_all_done: bool = False,
) -> DealSyncResult:
    """Merge opportunity versions into the tenant's deals by Salesforce Id.

    Guarantees:
    * A field a version does not carry (absent from a partial record) keeps its stored
      value; a field carried empty is emptied; a new deal takes the defaults for the others
      (the tenant's corporate currency for a missing currency). A version that carries
      the amount or the currency without ``converted_amount`` empties the stored one.
    * Versions are ordered by ``system_modstamp`` (a change event's commit time). Each field
      takes the value of the newest version that carried it, and among equal versions the
      later arrival: so the end state does not depend on the order or batching in which the
      versions arrive. Per record: older than the deal's version, ``stale`` (it still fills
      in a field that no newer version carried); equal and nothing changed, ``unchanged``;
      equal with different content, or newer, ``updated`` (``deleted`` when it soft-deletes,
      ``created`` for a new deal). Replaying a batch changes nothing.
    * ``is_deleted`` soft-deletes; a later undeleted version restores the deal.
    * A partner key matches ``Partner.external_id``; a rep key matches
      ``Rep.salesforce_user_id`` or, when it is an email, ``Rep.email``. A key that matches
      nothing is kept raw (``unmatched``); ``deal_link_unmatched`` links it later; an empty
      key unlinks.
    * ``gaps`` are noted on the resync list; a fetched version (``DealInput.fetched``) takes
      its id off it, ``resync_all_done`` the ``RESYNC_ALL`` entry.
    * ``amount_corporate`` of every written deal is recomputed
      (``activities.services.currencies.deal_amounts_convert``) in the same transaction.
    * All or nothing, in one transaction; one sync at a time per tenant on PostgreSQL.
    * A value the database refuses raises ``django.db.DataError`` (also from the COPY), which
      the API answers with a 400; ``activities.deal_inputs`` refuses the known ones first.
    * Set-based: a fixed number of statements per 1,000 deals, never a query per deal.
    """
    require_scope(tenant)
    by_id: dict[str, list[DealInput]] = {}
    for deal in deals:
        by_id.setdefault(deal.sf_id, []).append(deal)
    counts = dict.fromkeys(("created", "updated", "unchanged", "stale", "deleted"), 0)
    unmatched = 0
    corporate = tenant.corporate_currency
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [_SYNC_LOCK_CLASS, tenant.pk]
                )
        merged = {
            row[0]: _Merged.stored(row)
            for row in _keys_to_ids(Deal, tenant, "sf_id", set(by_id), _STORED)
        }
        for sf_id, versions in by_id.items():
            deal_state = merged.setdefault(sf_id, _Merged())
            # sorted() is stable: among equal versions the later arrival is applied last.
            for version in sorted(versions, key=lambda d: d.system_modstamp):
                counts[deal_state.apply(version, corporate)] += 1
        to_write = {sf_id: m for sf_id, m in merged.items() if m.dirty}

        partner_ids = _lookup(
            Partner,
            tenant,
            "external_id",
            {m.values["partner_key"] for m in to_write.values() if m.values["partner_key"]},
        )
        rep_keys = {m.values["rep_key"] for m in to_write.values() if m.values["rep_key"]}
        rep_ids = _lookup(Rep, tenant, "email", {k for k in rep_keys if "@" in k})
        rep_ids.update(
            _lookup(Rep, tenant, "salesforce_user_id", {k for k in rep_keys if "@" not in k})
        )

        now = timezone.now()
        stamp_texts: dict[dt.datetime, str] = {}
        rows = []
        for sf_id, m in to_write.items():
            v = m.values
            partner_id = partner_ids.get(v["partner_key"]) if v["partner_key"] else None
            rep_id = rep_ids.get(v["rep_key"]) if v["rep_key"] else None
            if (v["partner_key"] and partner_id is None) or (v["rep_key"] and rep_id is None):
                unmatched += 1
            rows.append(
                [
                    tenant.pk,
                    sf_id,
                    v["name"],
                    partner_id,
                    rep_id,
                    v["amount"],
                    v["converted_amount"],
                    v["currency"],
                    v["stage"],
                    v["is_closed"],
                    v["is_won"],
                    v["close_date"],
                    v["sf_created_at"],
                    v["sf_last_modified_at"],
                    m.version,
                    m.field_stamps(stamp_texts),
                    v["is_deleted"],
                    v["partner_key"],
                    v["rep_key"],
                    m.created_at or now,
                    now,
                ]
            )
        _upsert(rows)
        if to_write:
            deal_amounts_convert(tenant=tenant, sf_ids=list(to_write))
        noted, cleared = _resync_update(
            tenant=tenant,
            gaps=gaps,
            fetched={d.sf_id for d in deals if d.fetched},
            clear_all=resync_all_done,
        )
        watermark = deal_sync_watermark(tenant=tenant)
    return DealSyncResult(
        **counts,
        unmatched=unmatched,
        resync_noted=noted,
        resync_cleared=cleared,
        watermark=watermark,
    )


def deal_link_unmatched(
    *,
    tenant: Tenant,
    partner_ids: Sequence[int] | None = None,
    rep_ids: Sequence[int] | None = None,
) -> tuple[int, int]:
    """Link the tenant's deals still missing a partner or rep to those whose key now matches.

    ``partner_ids`` / ``rep_ids`` narrow the search to those partners / reps (``None``: all;
    empty: none). Set-based: one UPDATE for partners and two for reps (by Salesforce user
    id and by email), whatever the number of deals. Deals already linked are not touched.
    Returns (deals linked to a partner, deals linked to a rep).
    """
    linked_partners = linked_reps = 0
    if partner_ids is None or partner_ids:
        partners = Partner.objects.filter(tenant=tenant).exclude(external_id="")
        if partner_ids is not None:
            partners = partners.filter(pk__in=list(partner_ids))
        linked_partners = Deal.objects.filter(
            tenant=tenant,
            partner__isnull=True,
            raw_partner_key__in=partners.values("external_id"),
        ).update(
            partner_id=Subquery(
                partners.filter(external_id=OuterRef("raw_partner_key")).values("pk")[:1]
            )
        )
    if rep_ids is None or rep_ids:
        for field in ("salesforce_user_id", "email"):
            reps = Rep.objects.filter(tenant=tenant).exclude(**{field: ""})
            if rep_ids is not None:
                reps = reps.filter(pk__in=list(rep_ids))
            linked_reps += Deal.objects.filter(
                tenant=tenant, rep__isnull=True, raw_rep_key__in=reps.values(field)
            ).update(
                rep_id=Subquery(reps.filter(**{field: OuterRef("raw_rep_key")}).values("pk")[:1])
            )
    return linked_partners, linked_reps
