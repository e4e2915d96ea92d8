"""The Salesforce connector: connect an org, pull Opportunities into ``deal_sync``, reconcile.

A tenant connects one org with the OAuth 2.0 client credentials flow; the client secret is
stored Fernet-encrypted (``salesforce_client.secret_encrypt``). A pull reads Opportunity
through ``queryAll`` (deletes arrive as ``IsDeleted``) from the watermark less an overlap,
ordered by ``SystemModstamp, Id``, and hands each page to ``deal_sync``, the service behind
the push endpoint, so both follow one set of rules. docs/salesforce.md tells the story.

Guarantees of every run (pull or reconciliation):

* One at a time per tenant: a session advisory lock on PostgreSQL; a second run raises
  ``SalesforcePullInProgress`` at once and writes nothing.
* No long transaction: each page commits on its own with the watermark it reached, so
  ingestion and pages never wait for a pull, and a run stopped anywhere (a limit, a 5xx, a
  malformed page, a killed process) resumes from the last committed page, losing nothing
  and, ``deal_sync`` being idempotent, duplicating nothing.
* A run is recorded (``SalesforcePullRun``) with its pages, records and error in plain
  words; the error is also the connection's ``last_error`` until a run succeeds.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activities.deal_inputs import DealInputInvalid, deal_inputs_from_salesforce, salesforce_fields
from activities.models import (
    Deal,
    DealResync,
    SalesforceConnection,
    SalesforcePullRun,
    validate_salesforce_field,
)
from activities.selectors import sync_settings_get
from activities.services.currencies import CurrencyRatesInvalid, currency_rates_import
from activities.services.deals import deal_sync
from activities.services.salesforce_client import (
    SalesforceClient,
    SalesforceCredentialsRefused,
    SalesforceError,
    SalesforceInvalidType,
    api_version_check,
    instance_url_check,
    secret_decrypt,
    secret_encrypt,
)
from pse_crm.models import Tenant, User
from pse_crm.tasks import enqueue_on_commit
from pse_crm.tenancy import require_scope

__all__ = [
    "SalesforceNotConnected",
    "SalesforcePullInProgress",
    "salesforce_connect",
    "salesforce_disconnect",
    "salesforce_pull",
    "salesforce_pull_queue",
    "salesforce_reconcile",
]

log = logging.getLogger(__name__)

# pg_try_advisory_lock(class, tenant): one connector run at a time per tenant.
_RUN_LOCK_CLASS = 0x5F0CE
# Ids per ``WHERE Id IN (...)`` query (about 6,500 characters of SOQL; the limit is 100,000).
_RESYNC_CHUNK = 300
# Ids per soft-delete UPDATE.
_UPDATE_CHUNK = 5000
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
# Select-list entries that are aliases of a converted amount, never Opportunity fields.
_ALIASES = {"convertedamount"}
_CONVERTED = "convertCurrency(Amount) convertedAmount"


class SalesforceNotConnected(Exception):
    """The tenant has no Salesforce connection."""

    def __init__(self) -> None:
        super().__init__(_("Salesforce is not connected. An owner connects it in the settings."))


class SalesforcePullInProgress(Exception):
    """Another pull or reconciliation of this tenant is running: this one did nothing."""

    def __init__(self) -> None:
        super().__init__(
            _("A Salesforce pull of this tenant is already running; this one did not start.")
        )


# --- connect ---------------------------------------------------------------------------


def _client(conn: SalesforceConnection, *, session=None) -> SalesforceClient:
    return SalesforceClient(
        instance_url=conn.instance_url,
        client_id=conn.client_id,
        client_secret=secret_decrypt(conn.client_secret_encrypted),
        api_version=conn.api_version,
        session=session,
    )


def salesforce_connect(
    *,
    tenant: Tenant,
    instance_url: str,
    client_id: str,
    client_secret: str,
    api_version: str = "62.0",
    user: User | None = None,
    session=None,
) -> SalesforceConnection:
    """Connect (or reconnect) the tenant's org after Salesforce accepted the credentials.

    Guarantees: the URL is https (http only for a loopback host outside production) and
    without a path, else ``ValidationError`` by field; a token is fetched first, and a
    refusal raises ``SalesforceCredentialsRefused`` with Salesforce's
    ``error_description``; then one Opportunity query must succeed (the API version, the
    user's access), else its ``SalesforceError``. Either way nothing is stored. The secret is stored only encrypted. Entering it again rotates it.
    Another org (or instance) than the one connected starts over: no watermark.
    """
    require_scope(tenant)
    errors: dict[str, list[str]] = {}
    try:
        instance_url = instance_url_check(instance_url)
    except ValidationError as exc:
        errors["instance_url"] = exc.messages
    try:
        api_version = api_version_check(api_version)
    except ValidationError as exc:
        errors["api_version"] = exc.messages
    client_id = (client_id or "").strip()
    if not client_id or len(client_id) > 255:
        errors["client_id"] = [_("Enter the consumer key (client id) of the app.")]
    if not client_secret or len(client_secret) > 1000:
        errors["client_secret"] = [_("Enter the consumer secret (client secret) of the app.")]
    if errors:
        raise ValidationError(errors)
    client = SalesforceClient(
        instance_url=instance_url,
        client_id=client_id,
        client_secret=client_secret,
        api_version=api_version,
        session=session,
    )
    token = client.token()
    # One query proves the API version and the integration user's access to Opportunity.
    next(client.query_pages("SELECT Id FROM Opportunity LIMIT 1", include_deleted=False))
    with transaction.atomic():
        conn = SalesforceConnection.objects.select_for_update().filter(tenant=tenant).first()
        same_org = (
            conn is not None and conn.instance_url == instance_url and conn.org_id == token.org_id
        )
        if conn is None:
            conn = SalesforceConnection(tenant=tenant)
        conn.instance_url = instance_url
        conn.client_id = client_id
        conn.client_secret_encrypted = secret_encrypt(client_secret)
        conn.api_version = api_version
        conn.org_id = token.org_id
        conn.connected_by = user if getattr(user, "pk", None) else None
        conn.last_error = ""
        if not same_org:
            conn.watermark = None
            conn.is_multicurrency = None
        conn.save()
    return conn


def salesforce_disconnect(*, tenant: Tenant) -> bool:
    """Remove the tenant's connection, and the encrypted secret with it. Deals and run
    history stay. Returns whether there was one."""
    require_scope(tenant)
    deleted, _by_model = SalesforceConnection.objects.filter(tenant=tenant).delete()
    return deleted > 0


def salesforce_pull_queue(*, tenant: Tenant, full: bool = False) -> None:
    """Queue a pull now ("Pull now"), once the caller's transaction commits.

    Raises ``SalesforceNotConnected``. A pull already running makes the queued one stop
    at once (the lock), so pressing twice does no harm.
    """
    require_scope(tenant)
    if not SalesforceConnection.objects.filter(tenant=tenant).exists():
        raise SalesforceNotConnected
    enqueue_on_commit("activities.tasks.salesforce_pull", tenant.pk, full=full, trigger="manual")


# --- the run's frame -------------------------------------------------------------------


@contextmanager
def _run_lock(tenant: Tenant) -> Iterator[None]:
    """The tenant's connector lock, held for the whole run across its commits (a session
    lock: released at the end, or by PostgreSQL when the process dies)."""
    if connection.vendor != "postgresql":
        yield  # SQLite, the demo: one process
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_RUN_LOCK_CLASS, tenant.pk])
        (locked,) = cursor.fetchone()
    if not locked:
        raise SalesforcePullInProgress
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_RUN_LOCK_CLASS, tenant.pk])
        except DatabaseError:  # the connection is gone: so is its lock
            log.warning("salesforce: could not release the run lock of tenant %s", tenant.pk)


def _start(
    tenant: Tenant, kind: str, trigger: str
) -> tuple[SalesforceConnection, SalesforcePullRun]:
    conn = SalesforceConnection.objects.filter(tenant=tenant).first()
    if conn is None:
        raise SalesforceNotConnected
    # The lock is ours: a run still marked running was stopped with its process.
    SalesforcePullRun.objects.filter(tenant=tenant, status=SalesforcePullRun.Status.RUNNING).update(
        status=SalesforcePullRun.Status.FAILED,
        finished_at=timezone.now(),
        error=_("Interrupted: the process running it stopped."),
    )
    run = SalesforcePullRun.objects.create(
        tenant=tenant,
        kind=kind,
        trigger=trigger[:20],
        watermark_before=conn.watermark,
        watermark_after=conn.watermark,
    )
    return conn, run


def _finish(conn: SalesforceConnection, run: SalesforcePullRun, error: str = "") -> None:
    run.status = SalesforcePullRun.Status.FAILED if error else SalesforcePullRun.Status.SUCCEEDED
    run.error = error
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at", "records", "pages", "soft_deleted"])
    SalesforceConnection.objects.filter(pk=conn.pk).update(
        last_error=error, updated_at=timezone.now()
    )
    if error:
        log.warning(
            "salesforce %s run %s of tenant %s failed: %s", run.kind, run.pk, run.tenant_id, error
        )


def _input_error(exc: DealInputInvalid, page: int) -> str:
    shown = "; ".join(
        _("record %(n)d, %(field)s: %(message)s")
        % {"n": e.row + 1, "field": e.field, "message": e.message}
        for e in exc.errors[:5]
    )
    more = len(exc.errors) - 5
    if more > 0:
        shown += " " + _("(and %(n)d more)") % {"n": more}
    return _(
        "Page %(page)d from Salesforce has invalid records, so the run stopped: %(errors)s"
    ) % {
        "page": page,
        "errors": shown,
    }


@contextmanager
def _recorded(conn: SalesforceConnection, run: SalesforcePullRun) -> Iterator[None]:
    """Finish ``run``: succeeded, or failed with the error in plain words."""
    try:
        yield
    except SalesforceCredentialsRefused as exc:
        _finish(
            conn,
            run,
            _(
                "Salesforce refused the app's credentials (%(detail)s). An owner enters them "
                "again in the settings."
            )
            % {"detail": exc.message},
        )
    except SalesforceError as exc:
        _finish(conn, run, str(exc))
    except DealInputInvalid as exc:
        _finish(conn, run, _input_error(exc, run.pages + 1))
    except CurrencyRatesInvalid as exc:
        detail = "; ".join(str(e.message) for e in exc.errors[:5]) or str(exc)
        _finish(
            conn,
            run,
            _("Salesforce's currency rates were refused: %(detail)s") % {"detail": detail},
        )
    except DatabaseError as exc:
        _finish(
            conn,
            run,
            _("A page could not be stored: %(error)s") % {"error": exc.__class__.__name__},
        )
    except SoftTimeLimitExceeded:
        _finish(conn, run, _("The run took longer than its time limit and was stopped."))
        raise
    except BaseException:
        _finish(conn, run, _("The run stopped on an unexpected error; see the server log."))
        raise
    else:
        _finish(conn, run)


# --- pull ------------------------------------------------------------------------------


def _soql_datetime(moment: dt.datetime) -> str:
    return (
        moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}Z"
    )


def _select_list(*, partner_field: str, rep_field: str, multicurrency: bool) -> str:
    """The Opportunity fields the tenant's mapping reads, once each (SOQL refuses a
    duplicate); in a single-currency org without ``CurrencyIsoCode`` (it does not exist)."""
    for field in (partner_field, rep_field):
        try:  # they become SOQL text: never anything but a field name or path
            validate_salesforce_field(field)
        except ValidationError:
            raise SalesforceError(
                "mapping",
                _("The field mapping names %(field)s, which is not a Salesforce field name.")
                % {"field": field[:120]},
            ) from None
    seen: set[str] = set()
    names: list[str] = []
    for name in salesforce_fields(partner_field, rep_field, "salesforce_user_id"):
        key = name.lower()
        if key in seen or key in _ALIASES or (key == "currencyisocode" and not multicurrency):
            continue
        seen.add(key)
        names.append(name)
    if multicurrency:
        names.append(_CONVERTED)
    return ", ".join(names)


def _pull_currencies(tenant: Tenant, conn: SalesforceConnection, client: SalesforceClient) -> bool:
    """Import CurrencyType and DatedConversionRate; False in a single-currency org (Salesforce
    refuses CurrencyType there with INVALID_TYPE)."""
    try:
        records = _all_records(
            client,
            "SELECT IsoCode, ConversionRate, IsCorporate, IsActive FROM CurrencyType",
        )
    except SalesforceInvalidType:
        multicurrency = False
    else:
        multicurrency = True
        # Advanced currency management off: no dated rates (INVALID_TYPE).
        with suppress(SalesforceInvalidType):
            records += _all_records(
                client,
                "SELECT IsoCode, ConversionRate, StartDate, NextStartDate FROM DatedConversionRate",
            )
        currency_rates_import(tenant=tenant, records=records)
    if conn.is_multicurrency is not multicurrency:
        conn.is_multicurrency = multicurrency
        SalesforceConnection.objects.filter(pk=conn.pk).update(is_multicurrency=multicurrency)
    return multicurrency


def _all_records(client: SalesforceClient, soql: str) -> list[dict]:
    return [r for page in client.query_pages(soql, include_deleted=False) for r in page["records"]]


def _store_page(
    tenant: Tenant,
    conn: SalesforceConnection,
    run: SalesforcePullRun,
    page: dict,
    mapping,
    *,
    moves_watermark: bool,
) -> None:
    """One page through ``deal_sync``, committed with the run's counts and the watermark."""
    deals = deal_inputs_from_salesforce(
        page,
        partner_field=mapping.partner_field,
        rep_field=mapping.rep_field,
        rep_match=mapping.rep_match,
    )
    with transaction.atomic():
        if deals:
            deal_sync(tenant=tenant, deals=deals)
        run.pages += 1
        run.records += len(deals)
        if moves_watermark and deals:
            newest = max(d.system_modstamp for d in deals)
            if conn.watermark is None or newest > conn.watermark:
                conn.watermark = newest
                SalesforceConnection.objects.filter(pk=conn.pk).update(watermark=newest)
        run.watermark_after = conn.watermark
        run.save(update_fields=["pages", "records", "watermark_after"])


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _pull_resyncs(
    tenant: Tenant,
    conn: SalesforceConnection,
    run: SalesforcePullRun,
    client: SalesforceClient,
    mapping,
    select: str,
) -> None:
    """Fetch in full the deals listed in ``DealResync`` and clear them. An id noted again
    while it was being fetched stays listed; an id that is no Salesforce id is dropped."""
    began = timezone.now()
    pending = list(
        DealResync.objects.filter(tenant=tenant, noted_at__lte=began).values_list("pk", "sf_id")
    )
    bad = [pk for pk, sf_id in pending if not _SF_ID.match(sf_id)]
    if bad:
        DealResync.objects.filter(tenant=tenant, pk__in=bad).delete()
    good = [(pk, sf_id) for pk, sf_id in pending if _SF_ID.match(sf_id)]
    for chunk in _chunks(good, _RESYNC_CHUNK):
        ids = ", ".join(f"'{sf_id}'" for _pk, sf_id in chunk)  # checked: letters and digits
        soql = f"SELECT {select} FROM Opportunity WHERE Id IN ({ids}) ORDER BY SystemModstamp, Id"
        for page in client.query_pages(soql):
            _store_page(tenant, conn, run, page, mapping, moves_watermark=False)
        DealResync.objects.filter(
            tenant=tenant, pk__in=[pk for pk, _s in chunk], noted_at__lte=began
        ).delete()


def salesforce_pull(*, tenant: Tenant, full: bool = False, trigger: str = "") -> SalesforcePullRun:
    """Pull the org's changed Opportunities (all of them when ``full``) into the deals.

    Order: currency rates (multi-currency orgs), the resync list, then every Opportunity
    with ``SystemModstamp >= watermark - SALESFORCE_PULL_OVERLAP_SECONDS`` (none: all),
    page by page, each committed with the newest ``SystemModstamp`` it holds as the new
    watermark. A limit, a 5xx, a refused token or a malformed page stops the run with its
    error and the watermark of the last committed page. Returns the run (its ``status``
    says how it ended). Raises ``SalesforceNotConnected`` or ``SalesforcePullInProgress``.
    """
    require_scope(tenant)
    kind = SalesforcePullRun.Kind.FULL if full else SalesforcePullRun.Kind.INCREMENTAL
    with _run_lock(tenant):
        conn, run = _start(tenant, kind, trigger)
        with _recorded(conn, run):
            client = _client(conn)
            mapping = sync_settings_get(tenant=tenant)
            multicurrency = _pull_currencies(tenant, conn, client)
            select = _select_list(
                partner_field=mapping.partner_field,
                rep_field=mapping.rep_field,
                multicurrency=multicurrency,
            )
            _pull_resyncs(tenant, conn, run, client, mapping, select)
            soql = f"SELECT {select} FROM Opportunity"
            if not full and conn.watermark is not None:
                since = conn.watermark - dt.timedelta(
                    seconds=settings.SALESFORCE_PULL_OVERLAP_SECONDS
                )
                soql += f" WHERE SystemModstamp >= {_soql_datetime(since)}"
            soql += " ORDER BY SystemModstamp, Id"
            for page in client.query_pages(soql):
                _store_page(tenant, conn, run, page, mapping, moves_watermark=True)
    return run


# --- reconcile -------------------------------------------------------------------------


def salesforce_reconcile(*, tenant: Tenant, trigger: str = "") -> SalesforcePullRun:
    """Soft-delete the stored deals that Salesforce no longer has (purged from its recycle
    bin): every Opportunity id through ``queryAll`` against the stored, undeleted deals.

    Guarantees: nothing is soft-deleted unless every page was read; a deal stored after
    the run began (less the overlap) is never touched; no id at all from Salesforce while
    deals are stored stops the run (an integration user who sees nothing is likelier than
    an empty org). Same lock as ``salesforce_pull``; returns the run.
    """
    require_scope(tenant)
    with _run_lock(tenant):
        conn, run = _start(tenant, SalesforcePullRun.Kind.RECONCILE, trigger)
        with _recorded(conn, run):
            client = _client(conn)
            seen: set[str] = set()
            for page in client.query_pages("SELECT Id FROM Opportunity"):
                for record in page["records"]:
                    sf_id = record.get("Id") if isinstance(record, dict) else None
                    if not isinstance(sf_id, str) or not _SF_ID.match(sf_id):
                        raise SalesforceError(
                            "malformed", _("Salesforce sent an Opportunity without a valid Id.")
                        )
                    seen.add(sf_id[:15])  # 15 characters: case-sensitive, suffix-free
                run.pages += 1
                run.records = len(seen)
                run.save(update_fields=["pages", "records"])
            cutoff = run.started_at - dt.timedelta(seconds=settings.SALESFORCE_PULL_OVERLAP_SECONDS)
            stored = Deal.objects.filter(
                tenant=tenant, is_deleted=False, system_modstamp__lt=cutoff
            )
            if not seen and stored.exists():
                raise SalesforceError(
                    "empty",
                    _(
                        "Salesforce returned no Opportunity at all, so nothing was soft-deleted. "
                        "Check that the app's integration user can see the opportunities."
                    ),
                )
            gone = [
                sf_id for sf_id in stored.values_list("sf_id", flat=True) if sf_id[:15] not in seen
            ]
            now = timezone.now()
            for chunk in _chunks(gone, _UPDATE_CHUNK):
                with transaction.atomic():
                    run.soft_deleted += Deal.objects.filter(
                        tenant=tenant, is_deleted=False, sf_id__in=list(chunk)
                    ).update(is_deleted=True, updated_at=now)
    return run
