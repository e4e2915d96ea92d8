"""Deal sync from Salesforce, and linking deals whose partner or rep arrived later."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from activities.deal_inputs import DealInput
from activities.models import Deal
from activities.selectors import deal_sync_watermark
from partners.models import Partner
from pse_crm.models import Tenant
from reps.models import Rep

__all__ = ["DealSyncResult", "deal_link_unmatched", "deal_sync"]

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
    "currency",
    "stage",
    "is_closed",
    "is_won",
    "close_date",
    "sf_created_at",
    "sf_last_modified_at",
    "system_modstamp",
    "is_deleted",
    "raw_partner_key",
    "raw_rep_key",
    "created_at",
    "updated_at",
)
# On conflict every column but the key and the first-stored time takes the newer version.
_UPDATED = tuple(c for c in _COLUMNS if c not in ("tenant_id", "sf_id", "created_at"))


@dataclass(frozen=True)
class DealSyncResult:
    """What one sync did. Every record counts once in ``created``, ``updated``,
    ``unchanged``, ``stale`` or ``deleted``; ``unmatched`` counts the stored ones among them
    whose partner or rep key names no known partner or rep yet."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    deleted: int = 0
    unmatched: int = 0
    watermark: dt.datetime | None = None


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


def _newest_versions(deals: Sequence[DealInput]) -> tuple[dict[str, DealInput], int, int]:
    """The newest version of each deal in the batch, and how many older/equal copies lost."""
    newest: dict[str, DealInput] = {}
    stale = unchanged = 0
    for deal in deals:
        current = newest.get(deal.sf_id)
        if current is None:
            newest[deal.sf_id] = deal
            continue
        # A later copy with the same SystemModstamp replaces the earlier one (it is a replay).
        winner, loser = (
            (deal, current)
            if deal.system_modstamp >= current.system_modstamp
            else (
                current,
                deal,
            )
        )
        newest[deal.sf_id] = winner
        if loser.system_modstamp == winner.system_modstamp:
            unchanged += 1
        else:
            stale += 1
    return newest, stale, unchanged


def _adapt_row(row: list, fields: list) -> list:
    return [f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)]


def _upsert_sql(source: str) -> str:
    qn = connection.ops.quote_name
    table = qn(Deal._meta.db_table)
    columns = ", ".join(qn(c) for c in _COLUMNS)
    updates = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in _UPDATED)
    modstamp = qn("system_modstamp")
    return (
        f"INSERT INTO {table} ({columns}) {source} "
        f"ON CONFLICT ({qn('tenant_id')}, {qn('sf_id')}) DO UPDATE SET {updates} "
        f"WHERE {table}.{modstamp} < EXCLUDED.{modstamp}"
    )


def _upsert_postgresql(rows: list[list]) -> None:
    """COPY the rows into a temporary table, then one INSERT … SELECT … ON CONFLICT."""
    stage = f"deal_stage_{uuid.uuid4().hex[:16]}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} (tenant_id bigint, sf_id varchar(18), "
            "name varchar(255), partner_id bigint, rep_id bigint, amount numeric(18, 2), "
            "currency varchar(3), stage varchar(80), is_closed boolean, is_won boolean, "
            "close_date date, sf_created_at timestamptz, sf_last_modified_at timestamptz, "
            "system_modstamp timestamptz, is_deleted boolean, raw_partner_key varchar(255), "
            "raw_rep_key varchar(255), created_at timestamptz, updated_at timestamptz) "
            "ON COMMIT DROP"
        )
        # The raw psycopg COPY is outside Django's error wrapping: wrap it, so that a value
        # PostgreSQL refuses is a django.db.DataError (a 400 in the API), never a bare one.
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {stage} ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
        ):
            write_row = copy.write_row
            for row in rows:
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
    """Write the rows; a stored row is replaced only by a newer ``system_modstamp``.

    The guard in the SQL keeps a newer stored version even if a concurrent writer slipped
    in. Values are parameters or COPY data, never SQL text.
    """
    if not rows:
        return
    if connection.vendor == "postgresql":
        _upsert_postgresql(rows)
    else:
        _upsert_generic(rows)


def deal_sync(*, tenant: Tenant, deals: Sequence[DealInput]) -> DealSyncResult:
    """Upsert opportunity versions by Salesforce Id, ordered by ``SystemModstamp``.

    Guarantees:
    * Idempotent: replaying a batch changes nothing (every record counts as ``unchanged``).
    * A version older than the stored one is skipped (``stale``), also when two versions of
      one deal arrive in the same batch: only the newest is written.
    * ``is_deleted`` soft-deletes (``deleted``); a later undeleted version restores the deal.
    * A partner key matches ``Partner.external_id``; a rep key matches
      ``Rep.salesforce_user_id`` or, when it is an email, ``Rep.email``. A key that matches
      nothing is kept raw (``unmatched``); ``deal_link_unmatched`` links it later.
    * All or nothing, in one transaction; one sync at a time per tenant on PostgreSQL.
    * A value the database refuses raises ``django.db.DataError`` (also from the COPY), which
      the API answers with a 400; ``activities.deal_inputs`` refuses the known ones first.
    * Set-based: a fixed number of statements per 1,000 deals, never a query per deal.
    """
    newest, stale, unchanged = _newest_versions(deals)
    created = updated = deleted = unmatched = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [_SYNC_LOCK_CLASS, tenant.pk]
                )
        stored: dict[str, tuple[dt.datetime, bool]] = {
            sf_id: (modstamp, is_deleted)
            for sf_id, modstamp, is_deleted in _keys_to_ids(
                Deal, tenant, "sf_id", set(newest), ("sf_id", "system_modstamp", "is_deleted")
            )
        }

        to_write: list[DealInput] = []
        for deal in newest.values():
            previous = stored.get(deal.sf_id)
            if previous is not None and deal.system_modstamp < previous[0]:
                stale += 1
                continue
            if previous is not None and deal.system_modstamp == previous[0]:
                unchanged += 1
                continue
            if deal.is_deleted and (previous is None or not previous[1]):
                deleted += 1
            elif previous is None:
                created += 1
            else:
                updated += 1
            to_write.append(deal)

        partner_ids = _lookup(
            Partner, tenant, "external_id", {d.partner_key for d in to_write if d.partner_key}
        )
        rep_keys = {d.rep_key for d in to_write if d.rep_key}
        rep_ids = _lookup(Rep, tenant, "email", {k for k in rep_keys if "@" in k})
        rep_ids.update(
            _lookup(Rep, tenant, "salesforce_user_id", {k for k in rep_keys if "@" not in k})
        )

        now = timezone.now()
        rows = []
        for d in to_write:
            partner_id = partner_ids.get(d.partner_key) if d.partner_key else None
            rep_id = rep_ids.get(d.rep_key) if d.rep_key else None
            if (d.partner_key and partner_id is None) or (d.rep_key and rep_id is None):
                unmatched += 1
            rows.append(
                [
                    tenant.pk,
                    d.sf_id,
                    d.name,
                    partner_id,
                    rep_id,
                    d.amount,
                    d.currency,
                    d.stage,
                    d.is_closed,
                    d.is_won,
                    d.close_date,
                    d.sf_created_at,
                    d.sf_last_modified_at,
                    d.system_modstamp,
                    d.is_deleted,
                    d.partner_key,
                    d.rep_key,
                    now,
                    now,
                ]
            )
        _upsert(rows)
        watermark = deal_sync_watermark(tenant=tenant)
    return DealSyncResult(
        created=created,
        updated=updated,
        unchanged=unchanged,
        stale=stale,
        deleted=deleted,
        unmatched=unmatched,
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
