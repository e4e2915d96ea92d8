"""Ingestion of material-view logs (資料閲覧ログ): CSV files, the API and the import command.

One service, ``material_views_ingest``, validates a batch in Python (reps, materials and
partner domains are resolved with one query each, never per row), then stores every valid
row in one transaction. On PostgreSQL the batch goes in chunks: while one chunk is COPYed
into a temporary staging table and moved with one ``INSERT … SELECT … ON CONFLICT
(tenant_id, event_id) DO NOTHING`` (on a second thread, same connection and transaction),
the next chunk is validated; an invalid row (unless ``skip_invalid``) rolls it all back.
Elsewhere (SQLite, the demo) ``bulk_create`` does the same work after validating all.

A chunk is validated column by column first (``_validate_fast``: joins, sets and maps in
C, each distinct rep and material key resolved once). That path only ever says "every row
is valid, and here they are" or "not sure"; then ``_validate`` checks the chunk row by row
and reports, so the errors are always the row-by-row path's. Reading a CSV file into
rows is ``activities.services.material_view_csv``; the import command reads it column by
column (``iter_csv_chunks``), straight into that check (``_validate_columns``), and builds
a chunk's rows only when the check declines it.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils.translation import gettext as _

from activities.models import Material, MaterialView
from activities.services.material_view_csv import (
    MALFORMED,
    ColumnChunk,
    IngestValidationError,
    RowError,
)
from activities.services.material_view_store import (
    CheckedRows,
    ChunkWriter,
    Stored,
    Valid,
    store_generic,
)
from activities.signals import material_views_ingested
from partners.models import PartnerDomain
from pse_crm.models import Tenant
from pse_crm.tenancy import tenant_scope
from pse_crm.text import TEXT_CONTROLS, one_line, shown, text_problem, unstorable
from reps.models import Rep

__all__ = ["IngestResult", "material_views_ingest"]

log = logging.getLogger(__name__)

_EVENT_ID_MAX = MaterialView._meta.get_field("event_id").max_length
_SOURCE_MAX = MaterialView._meta.get_field("source").max_length
# The fields that name a record (compared, stored as keys): strings or in-range integers,
# no control characters, no longer than the column that holds them.
_KEY_MAX = {
    "rep_email": Rep._meta.get_field("email").max_length,
    "rep_external_id": Rep._meta.get_field("external_id").max_length,
    "material_external_id": Material._meta.get_field("external_id").max_length,
    "material_url": Material._meta.get_field("url").max_length,
}
_KEYS = frozenset({"event_id", *_KEY_MAX})
_BIGINT = 2**63
_DURATION_MAX = 2_147_483_647
# Above this many distinct keys a batch loads the tenant's whole rep table in one query
# instead of a long IN list.
_LOAD_ALL_ABOVE = 5_000
# Rows checked, then stored, at a time (PostgreSQL): one chunk is stored while the next
# is checked.
CHUNK_ROWS = 25_000
# What ``material_views_ingest`` checks (and stores) at a time: rows, or a file's columns.
Chunk = list[tuple[int, Mapping[str, Any]]] | ColumnChunk


@dataclass
class IngestResult:
    """What one ingestion stored."""

    created: int
    duplicates: int  # replayed event_ids already stored
    rejected: list[RowError] = field(default_factory=list)  # only with skip_invalid=True
    reps_created: int = 0
    rep_ids: list[int] = field(default_factory=list)  # reps that got new views


# --- validation -------------------------------------------------------------------------


def _clean(value: Any) -> str:
    if value.__class__ is str:
        return value.strip()
    return "" if value is None else str(value).strip()


def _text(row: Mapping[str, Any], key: str) -> str:
    return _clean(row.get(key))


_fromisoformat = dt.datetime.fromisoformat
_combine = dt.datetime.combine


def _aware(parsed: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """``parsed`` in ``tz`` when naive: what ``parsed.replace(tzinfo=tz)`` gives (fold
    included; a subclass of ``datetime`` comes back as a ``datetime``), which CPython 3.11
    runs about six times slower than ``combine``: 0.8 against 0.14 µs."""
    return parsed if parsed.tzinfo is not None else _combine(parsed, parsed.time(), tz)


def _in_range(parsed: dt.datetime) -> dt.datetime | str:
    """``parsed`` (aware) when it falls in the years 1 to 9999 in UTC, else the reason.

    PostgreSQL stores far wider, but Python cannot read such a time back (nor compute with
    it): only the first and last year can cross the edge in the conversion to UTC."""
    if parsed.year in (1, 9999):
        try:
            parsed.astimezone(dt.UTC)
        except OverflowError:
            return _("Out of range: the time must fall in the years 1 to 9999 in UTC.")
    return parsed


def _parse_viewed_at(value: Any, tz: dt.tzinfo) -> dt.datetime | str:
    """An aware datetime in the years 1 to 9999 (UTC), or the reason the value is not one."""
    if value.__class__ is str:
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None:
            return _in_range(_aware(parsed, tz))
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return _("Not an ISO 8601 date and time: %(value)s") % {
                "value": shown(value.strip()[:40])
            }
    elif value is None or value == "":
        return _("Required.")
    else:
        return _("Not an ISO 8601 date and time.")
    return _in_range(_aware(parsed, tz))


def _parse_duration(value: Any) -> int | str:
    """Whole seconds, or the reason the value is not a duration."""
    if value.__class__ is int:
        return value if 0 <= value <= _DURATION_MAX else _parse_duration_slow(value)
    if value.__class__ is str and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    return _parse_duration_slow(value)


def _parse_duration_slow(value: Any) -> int | str:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return _("Not a number of seconds.")
    if isinstance(value, int):
        seconds = value
    else:
        try:
            number = float(str(value).strip()) if not isinstance(value, float) else value
        except ValueError:
            return _("Not a number of seconds: %(value)s") % {"value": shown(str(value)[:40])}
        if not math.isfinite(number):
            return _("Not a number of seconds.")
        seconds = round(number)
    if seconds < 0:
        return _("Must not be negative.")
    if seconds > _DURATION_MAX:
        return _("Too large.")
    return seconds


def _value_problem(key: Any, value: Any) -> str | None:
    """Why one field of an event cannot be read, or None (see ``material_views_ingest``)."""
    if value.__class__ is str:
        if key == "event_id":
            # Stored exactly as the platform sent it, tabs and line breaks included (COPY
            # escapes them); any other control character is refused.
            return text_problem(value, keep=TEXT_CONTROLS)
        if key in _KEY_MAX:
            return text_problem(value.strip())  # the ends are stripped before the lookup
        return text_problem(value, controls=True)
    # A JSON number as a key: only a whole number a bigint holds; never a float (1e309
    # would read as "inf", and every other overflowing number as its duplicate).
    if (
        key in _KEYS
        and value is not None
        and (value.__class__ is not int or not -_BIGINT < value < _BIGINT)
    ):
        return _("Expected a string or a whole number.")
    return None


def _row_problem(row: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first field of ``row`` that cannot be stored or compared, and why; or None."""
    try:
        joined = "".join(row) + "".join(row.values())
    except TypeError:  # a JSON number or null among the values
        joined = None
    if joined is None or not (joined.isascii() and joined.isprintable()):  # the rare case
        for key, value in row.items():
            if key.__class__ is str:
                problem = text_problem(key, controls=True)
                if problem is not None:
                    return shown(key), problem
            problem = _value_problem(key, value)
            if problem is not None:
                return shown(str(key)), problem
    for key, limit in _KEY_MAX.items():
        value = row.get(key)
        if value.__class__ is str and len(value) > limit and len(value.strip()) > limit:
            return key, _("Longer than %(max)d characters.") % {"max": limit}
    return None


def _domain_candidates(email: str) -> Iterator[str]:
    """``rep@tokyo.example.co.jp`` → ``tokyo.example.co.jp``, ``example.co.jp``, …"""
    domain = email.rpartition("@")[2]
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        yield ".".join(parts[i:])


@dataclass
class _Lookups:
    """The tenant's reps, materials and partner domains needed by one batch."""

    rep_by_email: dict[str, int]
    rep_by_external_id: dict[str, int]
    material_by_external_id: dict[str, int]
    material_by_url: dict[str, int]
    partner_by_domain: dict[str, int]
    # Keys already resolved to a stored rep or material by ``_validate_columns``, by the
    # columns they were read from.
    known: dict[Any, dict[Any, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, *, tenant: Tenant, chunks: Sequence[Chunk] | None):
        """One query per table, for the keys the batch's ``chunks`` name (a list of rows
        is a chunk); ``chunks=None`` loads the tenant's whole rep table."""
        reps = Rep.objects.filter(tenant_id=tenant.pk)
        materials = Material.objects.filter(tenant_id=tenant.pk)
        if chunks is not None:

            def named(key: str) -> set:
                """The distinct raw values of ``key`` (None where a row lacks it)."""
                values: set = set()
                for chunk in chunks:
                    if isinstance(chunk, ColumnChunk):
                        values.update(chunk.columns.get(key, (None,)))
                    else:
                        values.update(r.get(key) for _i, r in chunk)
                return values

            # Distinct raw values first (cheap), then normalise the few distinct ones.
            emails = {_clean(v).lower() for v in named("rep_email")}
            rep_ext = {_clean(v) for v in named("rep_external_id")}
            mat_ext = {_clean(v) for v in named("material_external_id")}
            urls = {_clean(v) for v in named("material_url")}
            for keys in (emails, rep_ext, mat_ext, urls):
                # Blank keys and keys the validation refuses (NUL, surrogates, controls)
                # never reach a query: the rows holding them are refused.
                keys.difference_update([k for k in keys if not k or text_problem(k)])
            if len(emails) + len(rep_ext) <= _LOAD_ALL_ABOVE:
                reps = reps.filter(_or_in("email", emails, "external_id", rep_ext))
            if len(mat_ext) + len(urls) <= _LOAD_ALL_ABOVE:
                materials = materials.filter(_or_in("external_id", mat_ext, "url", urls))
        rep_by_email: dict[str, int] = {}
        rep_by_external_id: dict[str, int] = {}
        for pk, email, external_id in reps.order_by().values_list("id", "email", "external_id"):
            if email:
                rep_by_email[email.lower()] = pk
            if external_id:
                rep_by_external_id[external_id] = pk
        material_by_external_id: dict[str, int] = {}
        material_by_url: dict[str, int] = {}
        for pk, external_id, url in materials.order_by("-id").values_list(
            "id", "external_id", "url"
        ):
            if external_id:
                material_by_external_id[external_id] = pk
            if url:
                material_by_url[url] = pk  # the oldest material with this URL wins
        partner_by_domain = dict(
            PartnerDomain.objects.filter(tenant_id=tenant.pk).values_list("domain", "partner_id")
        )
        return cls(
            rep_by_email,
            rep_by_external_id,
            material_by_external_id,
            material_by_url,
            partner_by_domain,
        )

    def partner_for(self, email: str) -> int | None:
        for candidate in _domain_candidates(email):
            partner_id = self.partner_by_domain.get(candidate)
            if partner_id is not None:
                return partner_id
        return None


def _or_in(field_a: str, values_a: set[str], field_b: str, values_b: set[str]):
    from django.db.models import Q

    q = Q(pk__in=[])
    if values_a:
        q |= Q(**{f"{field_a}__in": sorted(values_a)})
    if values_b:
        q |= Q(**{f"{field_b}__in": sorted(values_b)})
    return q


@dataclass
class _NewRep:
    partner_id: int
    email: str
    external_id: str


def _validate(
    *,
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    lookups: _Lookups,
    tz: dt.tzinfo,
    seen: dict[str, int],
    new_reps: dict[str, _NewRep],
    errors: list[RowError],
) -> list[Valid]:
    """Row by row: every rule, every message. ``seen`` (event_id → first row) and
    ``new_reps`` carry over from the earlier chunks of the batch; errors are appended."""
    valid: list[Valid] = []
    rep_by_email = lookups.rep_by_email
    rep_by_ext = lookups.rep_by_external_id
    mat_by_ext = lookups.material_by_external_id
    mat_by_url = lookups.material_by_url
    for number, row in rows:
        malformed = row.get(MALFORMED)
        if malformed:
            errors.append(RowError(number, "", malformed))
            continue
        problem = _row_problem(row)
        if problem is not None:
            errors.append(RowError(number, *problem))
            continue
        event_id = _text(row, "event_id")
        if event_id:
            first = seen.setdefault(event_id, number)
        if not event_id:
            errors.append(RowError(number, "event_id", _("Required.")))
            continue
        if len(event_id) > _EVENT_ID_MAX:
            errors.append(
                RowError(
                    number,
                    "event_id",
                    _("Longer than %(max)d characters.") % {"max": _EVENT_ID_MAX},
                )
            )
            continue
        if first != number:
            errors.append(
                RowError(
                    number,
                    "event_id",
                    _("Duplicate event_id in this batch (first at %(row)s).") % {"row": first},
                )
            )
            continue
        # The rep: by external id, then by email, else a new rep under the email's partner.
        email = _text(row, "rep_email").lower()
        rep_external_id = _text(row, "rep_external_id")
        rep: int | str | None = rep_by_ext.get(rep_external_id) if rep_external_id else None
        if rep is None and email:
            rep = rep_by_email.get(email)
            if rep is None:
                if email in new_reps:
                    rep = email
                else:
                    try:
                        validate_email(email)
                    except ValidationError:
                        errors.append(
                            RowError(number, "rep_email", _("Not a valid email address."))
                        )
                        continue
                    partner_id = lookups.partner_for(email)
                    if partner_id is None:
                        errors.append(
                            RowError(
                                number,
                                "rep_email",
                                _(
                                    "Unknown rep, and the email domain belongs to no partner: "
                                    "%(email)s"
                                )
                                % {"email": email},
                            )
                        )
                        continue
                    new_reps[email] = _NewRep(partner_id, email, rep_external_id)
                    rep = email
        if rep is None:
            if rep_external_id:
                errors.append(
                    RowError(
                        number,
                        "rep_external_id",
                        _("Unknown rep: %(id)s") % {"id": rep_external_id},
                    )
                )
            else:
                errors.append(
                    RowError(number, "rep_email", _("A rep_email or rep_external_id is required."))
                )
            continue
        # The material: by external id, else by URL. Materials are never created here.
        material_external_id = _text(row, "material_external_id")
        material_url = _text(row, "material_url")
        material = mat_by_ext.get(material_external_id) if material_external_id else None
        if material is None and material_url:
            material = mat_by_url.get(material_url)
        if material is None:
            if material_external_id or material_url:
                column = "material_external_id" if material_external_id else "material_url"
                errors.append(
                    RowError(
                        number,
                        column,
                        _("Unknown material: %(key)s")
                        % {"key": material_external_id or material_url},
                    )
                )
            else:
                errors.append(
                    RowError(
                        number,
                        "material_external_id",
                        _("A material_external_id or material_url is required."),
                    )
                )
            continue
        viewed_at = _parse_viewed_at(row.get("viewed_at"), tz)
        if isinstance(viewed_at, str):
            errors.append(RowError(number, "viewed_at", viewed_at))
            continue
        duration = _parse_duration(row.get("duration_seconds"))
        if isinstance(duration, str):
            errors.append(RowError(number, "duration_seconds", duration))
            continue
        valid.append((event_id, rep, material, viewed_at, duration))
    return valid


# The fast path: a chunk where every row is plainly valid, checked column by column in C
# (joins, sets, map) instead of row by row. It decides nothing of its own: any row it is
# not sure of sends the whole chunk to ``_validate``, which then reports exactly as always.
_YEAR_EDGES = frozenset({"0001", "9999"})
_STR_COLUMNS = _KEYS | {"viewed_at"}


def _column(rows: list[Mapping[str, Any]], key: str) -> list[Any]:
    return [row.get(key) for row in rows]


def _plain_strings(values: Iterable[Any], *, optional: bool) -> list[str] | None:
    """The strings of ``values`` when every one is ASCII-printable text (``None`` allowed,
    and left out, where ``optional``), else None."""
    strings = values if isinstance(values, list) else list(values)
    try:
        joined = "".join(strings)
    except TypeError:  # a number or null among them
        if not optional:
            return None
        strings = [v for v in strings if v is not None]
        try:
            joined = "".join(strings)
        except TypeError:
            return None
    return strings if joined.isascii() and joined.isprintable() else None


def _rep_for(
    raw_external_id: Any,
    raw_email: Any,
    *,
    lookups: _Lookups,
    new_reps: dict[str, _NewRep],
    found: dict[str, _NewRep],
) -> int | str | None:
    """``_validate``'s rep rule for one (rep_external_id, rep_email): a rep id, the email
    of a rep to create (put in ``found``), or None where ``_validate`` reports an error."""
    email = _clean(raw_email).lower()
    external_id = _clean(raw_external_id)
    rep: int | str | None = lookups.rep_by_external_id.get(external_id) if external_id else None
    if rep is None and email:
        rep = lookups.rep_by_email.get(email)
        if rep is None:
            if email in new_reps or email in found:
                return email
            try:
                validate_email(email)
            except ValidationError:
                return None
            partner_id = lookups.partner_for(email)
            if partner_id is None:
                return None
            found[email] = _NewRep(partner_id, email, external_id)
            return email
    return rep


def _material_for(raw_external_id: Any, raw_url: Any, *, lookups: _Lookups) -> int | None:
    """``_validate``'s material rule: the id, or None where it reports an error."""
    external_id = _clean(raw_external_id)
    url = _clean(raw_url)
    material = lookups.material_by_external_id.get(external_id) if external_id else None
    if material is None and url:
        material = lookups.material_by_url.get(url)
    return material


def _keys(columns: Mapping[str, Sequence[Any]], first: str, second: str):
    """One key per row from the columns ``first`` and ``second`` (a value where only one of
    them is there, else a pair), how to read a key back as (first, second), and which of
    the two columns are there; ``(None, None, None)`` when neither is."""
    a, b = columns.get(first), columns.get(second)
    if a is None and b is None:
        return None, None, None
    if b is None:
        return a, lambda key: (key, None), first
    if a is None:
        return b, lambda key: (None, key), second
    return list(zip(a, b, strict=True)), lambda key: key, (first, second)


def _strings(values: Sequence[Any]) -> str:
    """The text of ``values`` joined (any value that is not a string left out)."""
    try:
        return "".join(values)
    except TypeError:  # JSON numbers or nulls
        return "".join([v for v in values if v.__class__ is str])


def _validate_fast(
    *,
    chunk: list[tuple[int, Mapping[str, Any]]],
    lookups: _Lookups,
    tz: dt.tzinfo,
    seen: dict[str, int],
    new_reps: dict[str, _NewRep],
) -> Sequence[Valid] | None:
    """The rows of ``chunk`` as ``_validate`` would return them when every row is valid;
    None (and ``seen``, ``new_reps`` untouched) when any row might not be."""
    if not chunk:
        return []
    rows = [row for _number, row in chunk]
    keys = set().union(*rows)
    if not all(key.__class__ is str for key in keys):
        return None  # a row the CSV reader could not read (MALFORMED), odd field names
    return _validate_columns(
        numbers=[number for number, _row in chunk],
        columns={key: _column(rows, key) for key in keys},  # None where a row lacks it
        lookups=lookups,
        tz=tz,
        seen=seen,
        new_reps=new_reps,
    )


def _validate_columns(
    *,
    numbers: Sequence[int],
    columns: Mapping[str, Sequence[Any]],
    lookups: _Lookups,
    tz: dt.tzinfo,
    seen: dict[str, int],
    new_reps: dict[str, _NewRep],
) -> Sequence[Valid] | None:
    """``_validate_fast`` on the rows given column by column (a CSV file's columns, or the
    fields of JSON events with None where an event lacks one): the rows as ``_validate``
    would return them when every row is valid, else None with ``seen`` and ``new_reps``
    untouched."""
    if not numbers:
        return []
    keys = columns.keys()
    if unstorable("".join(keys)):
        return None  # odd field names
    if "event_id" not in keys or "viewed_at" not in keys:
        return None
    for key in keys - _STR_COLUMNS - {"duration_seconds"}:
        # Any other field: only a NUL or a lone surrogate is refused.
        if unstorable(_strings(columns[key])):
            return None
    for key in keys & _STR_COLUMNS:
        values = columns[key]
        if key in ("event_id", "viewed_at"):
            strings = _plain_strings(values, optional=False)
        else:  # a key column names few records: each distinct value is checked once
            strings = _plain_strings(set(values), optional=True)
            if strings and max(map(len, strings)) > _KEY_MAX[key]:
                return None
        if strings is None:
            return None
    event_ids = list(map(str.strip, columns["event_id"]))
    if not all(event_ids) or max(map(len, event_ids)) > _EVENT_ID_MAX:
        return None
    # (One dict: the duplicates check and, later, what ``seen`` is updated with.)
    first_rows = dict(zip(event_ids, numbers, strict=True))
    if len(first_rows) != len(event_ids) or not seen.keys().isdisjoint(first_rows):
        return None
    # Reps and materials: each distinct key once, by the same rules as ``_validate``. A
    # key that names a stored rep or material always does within the batch (the lookups
    # do not change): those are remembered for the batch's later chunks.
    rep_keys, rep_key_of, rep_shape = _keys(columns, "rep_external_id", "rep_email")
    if rep_keys is None:
        return None
    known_reps = lookups.known.setdefault(("rep", rep_shape), {})

    def rep_for(key: Any, found: dict[str, _NewRep]) -> int | str | None:
        return _rep_for(*rep_key_of(key), lookups=lookups, new_reps=new_reps, found=found)

    found: dict[str, _NewRep] = {}
    rep_of: dict[Any, int | str] = {}
    for key in set(rep_keys).difference(known_reps):
        rep = rep_for(key, found)
        if rep is None:
            return None
        rep_of[key] = rep
    known_reps.update((key, rep) for key, rep in rep_of.items() if rep.__class__ is int)
    if found:
        # Reps to create: registered in the order the rows first name them, as
        # ``_validate`` does (the first row's rep_external_id goes with the new rep).
        found = {}
        for key in dict.fromkeys(rep_keys):
            if key not in known_reps:
                rep_for(key, found)
    material_keys, material_key_of, material_shape = _keys(
        columns, "material_external_id", "material_url"
    )
    if material_keys is None:
        return None
    known_materials = lookups.known.setdefault(("material", material_shape), {})
    for key in set(material_keys).difference(known_materials):
        material = _material_for(*material_key_of(key), lookups=lookups)
        if material is None:
            return None
        known_materials[key] = material
    # Times: ISO 8601 as fromisoformat reads it, away from the years 1 and 9999 (whose
    # conversion to UTC may overflow: ``_validate`` checks those).
    texts = columns["viewed_at"]
    # (``text[:4] in _YEAR_EDGES`` for each text, without a Python step per text.)
    starts = "\n" + "\n".join(texts)
    if any(f"\n{year}" in starts for year in _YEAR_EDGES):
        return None
    try:
        parsed = list(map(_fromisoformat, texts))
    except ValueError:
        return None
    if "duration_seconds" in keys:
        durations = _durations_fast(columns["duration_seconds"])
    else:
        durations = [0] * len(numbers)  # blank: 0
    if durations is None:
        return None
    seen.update(first_rows)
    new_reps.update(found)
    reps = {**known_reps, **rep_of} if rep_of else known_reps

    # Every row is valid. What is only needed to store a row (its zone attached, the ids
    # looked up, the tuple) waits until the writer asks for it: a replayed row never
    # needs it. (On the writer's thread the dicts read here may grow, never change.)
    def build(positions: Sequence[int] | None) -> list[Valid]:
        if positions is None:
            return list(
                zip(
                    event_ids,
                    map(reps.__getitem__, rep_keys),
                    map(known_materials.__getitem__, material_keys),
                    [_aware(p, tz) for p in parsed],
                    map(int, durations),
                    strict=True,
                )
            )
        return [
            (
                event_ids[i],
                reps[rep_keys[i]],
                known_materials[material_keys[i]],
                _aware(parsed[i], tz),
                int(durations[i]),
            )
            for i in positions
        ]

    return CheckedRows(event_ids, build)


def _durations_fast(values: list[Any]) -> list[int] | list[str] | None:
    """Each value's seconds as ``_parse_duration`` reads them, as ``int()`` of each item of
    the list returned (the texts themselves in the common case: converted only for a row
    that is stored); None if any value is not a duration (``_validate`` then reports it)."""
    try:
        joined = "".join(values)
    except TypeError:  # JSON numbers
        joined = None
    if joined is not None and joined.isascii() and joined.isdigit():
        lengths = set(map(len, set(values)))
        if min(lengths) > 0 and max(lengths) < 10:
            return values  # the common case: 0 to 999,999,999
    durations = list(map(_parse_duration, values))
    if any(d.__class__ is str for d in durations):
        return None
    return durations


# --- storing ----------------------------------------------------------------------------


def _create_reps(*, tenant: Tenant, new_reps: dict[str, _NewRep]) -> tuple[dict[str, int], int]:
    """Create (or find, when a concurrent batch just did) the new reps. Normal saves, so
    post_save receivers run."""
    ids: dict[str, int] = {}
    created_count = 0
    for email, new in new_reps.items():
        rep, created = Rep.objects.get_or_create(
            tenant=tenant,
            email=email,
            defaults={
                "partner_id": new.partner_id,
                "name": email.partition("@")[0],
                "external_id": new.external_id,
            },
        )
        ids[email] = rep.pk
        created_count += created
    return ids, created_count


def _announce(*, tenant_id: int, stored: Stored) -> None:
    """Send ``material_views_ingested`` (after the commit). A receiver's failure is logged:
    the views are stored, so answering an error would only make the client send them
    again."""
    for receiver, result in material_views_ingested.send_robust(
        sender=MaterialView,
        tenant_id=tenant_id,
        rep_ids=stored.rep_ids,
        first_viewed_at=stored.first_viewed_at,
        last_viewed_at=stored.last_viewed_at,
    ):
        if isinstance(result, Exception):
            log.error(
                "material_views_ingested receiver %r failed for tenant %s: %s",
                receiver,
                tenant_id,
                result,
                exc_info=result,
            )


def material_views_ingest(
    *,
    tenant: Tenant,
    rows: Sequence[tuple[int, Mapping[str, Any]]]
    | Iterable[tuple[int, Mapping[str, Any]]]
    | None = None,
    chunks: Callable[[int], Iterable[Chunk]] | Sequence[Chunk] | None = None,
    source: str = "",
    skip_invalid: bool = False,
) -> IngestResult:
    """Validate every row, then store all valid rows in one transaction.

    Guarantees:

    * With ``skip_invalid=False`` any invalid row raises ``IngestValidationError`` listing
      every invalid row (one ``RowError`` per row) and nothing is written, not even reps.
      With ``skip_invalid=True`` the valid rows are stored and the others returned in
      ``rejected``.
    * A second row with an event_id already in the batch is invalid; an event_id already
      stored for the tenant is counted in ``duplicates`` and left as it is. Replaying a
      batch therefore stores nothing.
    * ``viewed_at`` is an ISO 8601 string or a datetime; a naive time is read in the
      tenant's time zone; it must fall in the years 1 to 9999 once in UTC.
      ``duration_seconds`` is a whole, non-negative number (blank = 0).
    * Text is refused, row by row with the field named, when it holds a NUL or a lone
      surrogate (in any field, even one not stored, and in field names). The keys
      (``event_id``, ``rep_email``, ``rep_external_id``, ``material_external_id``,
      ``material_url``) are strings or whole numbers with ``|n| < 2**63`` (never a float
      or a bool), hold no control character once stripped (``event_id`` may hold a tab
      or a line break: it is stored exactly as sent) and fit their column. ``source`` is
      a label: put on one line (``pse_crm.text.one_line``), never refused.
    * A rep is found by ``rep_external_id``, then by ``rep_email`` (case-insensitive). An
      unknown rep whose email domain (or a parent domain) belongs to a partner is created
      under that partner with a normal save. Materials are never created.
    * Every query and write is for ``tenant`` only; reps, materials and domains are
      resolved with one query each.
    * When views were created, ``activities.signals.material_views_ingested`` is sent after
      the transaction commits. A receiver that fails (a notification, an email) is logged
      and never fails the ingestion: its views are committed already.

    ``rows`` may be a lazy iterable; the tenant's whole rep table is then loaded once
    instead of the reps the batch names. Instead of ``rows``, ``chunks(size)`` may give the
    batch ``size`` rows at a time, each chunk a list of rows or a ``ColumnChunk`` (the
    import command: ``iter_csv_chunks`` reads a file without a dict per row); the result
    is the same as for the rows those chunks hold. ``chunks`` may also be the chunks read
    already (the API counts a CSV batch before it ingests it), each checked and stored as
    given; only the reps and materials they name are then loaded.
    """
    if (rows is None) == (chunks is None):
        raise TypeError("material_views_ingest() takes rows or chunks")
    source = one_line(source or "")[:_SOURCE_MAX]
    with tenant_scope(tenant), _gc_paused():
        if isinstance(rows, Sequence):
            known = [rows]  # the rows as one chunk
        elif isinstance(chunks, Sequence):
            known = chunks
        else:
            known = None  # read lazily: the whole rep table
        lookups = _Lookups.load(tenant=tenant, chunks=known)
        read = chunks if isinstance(chunks, Sequence) or chunks is None else chunks(CHUNK_ROWS)
        tz = tenant.tzinfo
        seen: dict[str, int] = {}
        new_reps: dict[str, _NewRep] = {}
        errors: list[RowError] = []

        def check(chunk: Chunk) -> Sequence[Valid]:
            if isinstance(chunk, ColumnChunk):
                valid = _validate_columns(
                    numbers=chunk.numbers,
                    columns=chunk.columns,
                    lookups=lookups,
                    tz=tz,
                    seen=seen,
                    new_reps=new_reps,
                )
                if valid is None:
                    chunk = chunk.rows()  # the row-by-row check, for its reports
            else:
                valid = _validate_fast(
                    chunk=chunk, lookups=lookups, tz=tz, seen=seen, new_reps=new_reps
                )
            if valid is None:
                valid = _validate(
                    rows=chunk, lookups=lookups, tz=tz, seen=seen, new_reps=new_reps, errors=errors
                )
            return valid

        if connection.vendor == "postgresql":
            return _ingest_chunks(
                tenant=tenant,
                chunks=_chunks(rows, CHUNK_ROWS) if read is None else iter(read),
                check=check,
                new_reps=new_reps,
                errors=errors,
                source=source,
                skip_invalid=skip_invalid,
            )
        valid = check(list(rows)) if read is None else [v for c in read for v in check(c)]
        if errors and not skip_invalid:
            raise IngestValidationError(errors)
        if not valid:
            return IngestResult(created=0, duplicates=0, rejected=errors)
        with transaction.atomic():
            reps_created = 0
            if new_reps:
                rep_ids, reps_created = _create_reps(tenant=tenant, new_reps=new_reps)
                valid = _with_rep_ids(valid, rep_ids)
            stored = store_generic(tenant=tenant, rows=valid, source=source)
            _announce_on_commit(tenant=tenant, stored=stored)
    return IngestResult(
        created=stored.created,
        duplicates=len(valid) - stored.created,
        rejected=errors,
        reps_created=reps_created,
        rep_ids=stored.rep_ids,
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a batch is read and checked: the batch makes
    millions of small objects (rows, tuples, datetimes) and no cycles, and each collection
    would walk every one of them again (about a sixth of a 300,000-row import's time)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _chunks(
    rows: Iterable[tuple[int, Mapping[str, Any]]], size: int
) -> Iterator[list[tuple[int, Mapping[str, Any]]]]:
    if isinstance(rows, Sequence):
        for start in range(0, len(rows), size):
            yield list(rows[start : start + size])
        return
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _with_rep_ids(valid: Sequence[Valid], rep_ids: dict[str, int]) -> Sequence[Valid]:
    """``valid`` with each rep to create (its email) replaced by the rep's id (rows the
    column check kept unbuilt stay so: a replayed chunk's are never built)."""
    if isinstance(valid, CheckedRows):
        return valid.then(lambda rows: _with_rep_ids(rows, rep_ids))
    return [(e, rep_ids[r] if r.__class__ is str else r, m, v, d) for e, r, m, v, d in valid]


def _announce_on_commit(*, tenant: Tenant, stored: Stored) -> None:
    if stored.created:
        tenant_id = tenant.pk
        transaction.on_commit(lambda: _announce(tenant_id=tenant_id, stored=stored), robust=True)


def _ingest_chunks(
    *,
    tenant: Tenant,
    chunks: Iterator[Chunk],
    check,
    new_reps: dict[str, _NewRep],
    errors: list[RowError],
    source: str,
    skip_invalid: bool,
) -> IngestResult:
    """PostgreSQL: check chunk n+1 while chunk n is stored, in one transaction.

    What is stored, and what is reported, is what checking every row first and then
    storing them would give: when a row is invalid (and not ``skip_invalid``), the rest is
    still checked so that every invalid row is listed, and the transaction (chunks stored,
    reps created) is rolled back. Reps are created in the order the rows name them, before
    the first chunk that needs them, and only when some row is stored."""
    rep_ids: dict[str, int] = {}
    reps_created = 0
    checked = 0
    with transaction.atomic():
        with ChunkWriter(
            tenant=tenant, source=source, conn=connections[DEFAULT_DB_ALIAS]
        ) as writer:

            def create_reps() -> None:
                nonlocal reps_created
                writer.wait()  # the connection is this thread's again
                ids, created = _create_reps(
                    tenant=tenant,
                    new_reps={e: new for e, new in new_reps.items() if e not in rep_ids},
                )
                rep_ids.update(ids)
                reps_created += created

            for chunk in chunks:
                valid = check(chunk)
                if (errors and not skip_invalid) or not valid:
                    continue  # nothing of the batch will be stored: only checking goes on
                checked += len(valid)
                if len(rep_ids) < len(new_reps):
                    create_reps()
                if rep_ids:
                    valid = _with_rep_ids(valid, rep_ids)
                writer.submit(valid)
            if errors and not skip_invalid:
                raise IngestValidationError(errors)  # rolls back what was stored
            if checked and len(rep_ids) < len(new_reps):
                create_reps()  # reps named only by rows refused later in their chunk
            stored = writer.finish()
        _announce_on_commit(tenant=tenant, stored=stored)
    return IngestResult(
        created=stored.created,
        duplicates=checked - stored.created,
        rejected=errors,
        reps_created=reps_created,
        rep_ids=stored.rep_ids,
    )
