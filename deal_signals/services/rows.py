"""Inserting many new rows of one model in one statement (the evaluation's signals, their
views and their notifications).

On PostgreSQL: one ``INSERT … SELECT … FROM unnest(%s::type[], …) RETURNING id``, one
array parameter per column, so the cost does not grow with Django's per-object
preparation (``bulk_create`` adapts every field of every object). Elsewhere (SQLite, the
demo): ``bulk_create``. Either way the objects get their primary keys, and ``auto_now``
and ``auto_now_add`` fields are set, once, as ``bulk_create`` would set them.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models
from django.utils import timezone

__all__ = ["rows_insert"]


def rows_insert(*, model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert ``objs`` (new, unsaved instances of ``model``, with the tenant set) in one
    statement, and set their primary keys. Runs in the caller's transaction: all rows or
    none. Raw SQL is not scoped: every object must carry its ``tenant_id``."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=500)
        return
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            for obj in objs:
                setattr(obj, f.attname, now)
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in fields)
    # One list per column; JSON and other adapted types go through get_db_prep_save.
    plain = (
        models.CharField,
        models.TextField,
        models.IntegerField,
        models.BooleanField,
        models.DateTimeField,
        models.ForeignKey,
        models.FloatField,
    )
    params = []
    for f in fields:
        attname = f.attname
        if isinstance(f, plain):
            params.append([getattr(obj, attname) for obj in objs])
        else:
            params.append([f.get_db_prep_save(getattr(obj, attname), connection) for obj in objs])
    pk = model._meta.pk
    with connection.cursor() as cursor:
        # unnest() yields the arrays' elements in order and INSERT … SELECT returns the
        # rows in the order it inserts them (what Django's own bulk_create relies on).
        cursor.execute(
            f"INSERT INTO {qn(model._meta.db_table)} ({columns})"
            f" SELECT * FROM unnest({arrays}) RETURNING {qn(pk.column)}",
            params,
        )
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk_value in zip(objs, ids, strict=True):
        setattr(obj, pk.attname, pk_value)
        obj._state.adding = False
        obj._state.db = connection.alias
