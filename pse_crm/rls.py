"""The second wall between tenants: PostgreSQL row-level security (RLS).

The first wall is the scoped manager (``TenantOwned.objects``). This one holds even for
a query that forgets it (``_base_manager``, raw SQL, a join written by hand):

* Every tenant-owned table has ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` and the policy
  ``pse_tenant_wall_v1``: a row is visible and writable only when its ``tenant_id``
  equals the setting ``app.tenant_id`` of the current transaction. An empty setting
  matches no row. ``app.all_tenants = 'on'`` (set only inside the ``all_tenants``
  escape hatch, i.e. the superuser's admin, migrations and cross-tenant maintenance)
  lifts the wall.
* The membership table also lets a logged-in user read their own memberships
  (``app.user_id``): the tenant of a request is decided from them, before any tenant
  is in scope.
* Before each statement, a connection execute wrapper makes the settings match the
  tenant scope of the running code (``tenant_scope`` / ``all_tenants``, i.e.
  django-scopes' state). Inside a transaction it uses ``set_config(..., true)`` (``SET
  LOCAL``: gone at commit or rollback); in autocommit it sets the session value, which
  is corrected again before the next statement. The last value is cached per
  connection, so a request pays one extra round trip per change of scope, not one per
  statement.
* The policies are (re)applied after every ``migrate`` to every concrete subclass of
  ``TenantOwned``, so a model added later is covered without a hand-written migration.

The application must connect as a role that owns no table and has neither SUPERUSER
nor BYPASSRLS (``manage.py grant_app_role``); see docs/security.md. SQLite (the demo)
keeps the application-level wall only: everything here is PostgreSQL-only.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from django.db import connections
from django_scopes import get_scope
from psycopg.pq import TransactionStatus

log = logging.getLogger(__name__)

TENANT_SETTING = "app.tenant_id"
ALL_TENANTS_SETTING = "app.all_tenants"
USER_SETTING = "app.user_id"
# Versioned names: a changed expression gets a new name and replaces the old policy.
POLICY_PREFIX = "pse_tenant_wall"
POLICY = f"{POLICY_PREFIX}_v1"
MEMBER_POLICY_PREFIX = "pse_own_memberships"
MEMBER_POLICY = f"{MEMBER_POLICY_PREFIX}_v1"

TENANT_PREDICATE = (
    f"(tenant_id = NULLIF(current_setting('{TENANT_SETTING}', true), '')::bigint"
    f" OR current_setting('{ALL_TENANTS_SETTING}', true) = 'on')"
)
MEMBER_PREDICATE = f"(user_id = NULLIF(current_setting('{USER_SETTING}', true), '')::bigint)"

# The logged-in user of the running request (set by RLSUserMiddleware).
_user_id: ContextVar[int | None] = ContextVar("pse_crm_rls_user", default=None)
# True while ``migrate`` runs: data migrations act across tenants.
_maintenance = False

_UNKNOWN = object()


def desired_settings() -> tuple[str, str, str]:
    """``(app.tenant_id, app.all_tenants, app.user_id)`` for the code running now."""
    scope = get_scope()
    user = _user_id.get()
    user_value = "" if user is None else str(user)
    if _maintenance or not scope.get("_enabled", True):
        return "", "on", user_value
    tenant = scope.get("tenant")
    tenant = getattr(tenant, "pk", tenant)
    return ("" if tenant is None else str(int(tenant))), "off", user_value


class _State:
    __slots__ = ("local", "session")

    def __init__(self) -> None:
        self.session: object = None  # the session-level value known to be set
        self.local: object = None  # the SET LOCAL value of the open transaction, if any


_SET_SQL = (
    f"SELECT set_config('{TENANT_SETTING}', %s, %s), "
    f"set_config('{ALL_TENANTS_SETTING}', %s, %s), "
    f"set_config('{USER_SETTING}', %s, %s)"
)


def _apply(connection, values: tuple[str, str, str], *, local: bool) -> None:
    tenant, all_on, user = values
    with connection.wrap_database_errors:
        # The raw connection: not logged as a query, not seen by other execute wrappers.
        connection.connection.execute(_SET_SQL, [tenant, local, all_on, local, user, local])


def sync(connection, *, apply: bool = True) -> None:
    """Make the connection's settings match the scope now. The execute wrapper calls it
    before each statement; call it yourself before a raw-driver operation that bypasses
    Django's cursor (e.g. ``cursor.copy()``)."""
    state: _State | None = getattr(connection, "_pse_rls_state", None)
    if state is None or connection.connection is None or connection.needs_rollback:
        return
    want = desired_settings()
    status = connection.connection.info.transaction_status
    if connection.get_autocommit():
        if apply and state.session != want:
            _apply(connection, want, local=False)
            state.session = want
        return
    if status == TransactionStatus.INERROR:
        return  # the statement fails anyway; Django reports it
    if status == TransactionStatus.IDLE:
        state.local = None  # the next statement opens a new transaction
    if not apply:
        return
    current = state.session if state.local is None else state.local
    if current != want:
        _apply(connection, want, local=True)
        state.local = want


def _execute_wrapper(execute, sql, params, many, context):
    connection = context["connection"]
    # SET TRANSACTION must be the transaction's first statement: sync on the next one.
    sync(connection, apply=not (isinstance(sql, str) and sql.startswith("SET TRANSACTION")))
    try:
        return execute(sql, params, many, context)
    finally:
        # A rolled-back savepoint undoes the SET LOCAL made after it.
        if isinstance(sql, str) and sql.startswith("ROLLBACK TO SAVEPOINT"):
            state = getattr(connection, "_pse_rls_state", None)
            if state is not None:
                state.local = _UNKNOWN


def install(sender=None, connection=None, **kwargs) -> None:
    """``connection_created`` handler: start each new PostgreSQL connection unscoped."""
    if connection is None or connection.vendor != "postgresql":
        return
    connection._pse_rls_state = _State()
    if _execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, _execute_wrapper)


# --- the request's user (for the membership policy) ---------------------------------


class RLSUserMiddleware:
    """Names the logged-in user to the database for the request (``app.user_id``).

    Place it after AuthenticationMiddleware and before TenantMiddleware: the tenant of a
    request is chosen from the user's memberships, read before any tenant is in scope.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        token = _user_id.set(user_id)
        try:
            return self.get_response(request)
        finally:
            _user_id.reset(token)


# --- the policies -------------------------------------------------------------------


def tenant_owned_tables() -> list[tuple[str, bool]]:
    """``(table, is_membership)`` for every concrete tenant-owned model."""
    from django.apps import apps

    from pse_crm.models import Membership, TenantOwned

    tables = {}
    for model in apps.get_models():
        meta = model._meta
        if issubclass(model, TenantOwned) and meta.managed and not meta.proxy:
            tables[meta.db_table] = model is Membership
    return sorted(tables.items())


def apply_policies(using: str = "default") -> list[str]:
    """Enable, force and attach the tenant policies on every tenant-owned table.

    Idempotent and cheap when nothing changed (one catalogue query); returns the tables
    it changed. PostgreSQL only.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    existing = set(connection.introspection.table_names())
    wanted = [(t, m) for t, m in tenant_owned_tables() if t in existing]
    if not wanted:
        return []
    qn = connection.ops.quote_name
    changed = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
            " COALESCE(array_agg(p.polname) FILTER (WHERE p.polname IS NOT NULL), '{}')"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_policy p ON p.polrelid = c.oid"
            " WHERE n.nspname = current_schema() AND c.relname = ANY(%s)"
            " GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity",
            [[t for t, _ in wanted]],
        )
        found = {name: (rls, force, set(pols)) for name, rls, force, pols in cursor.fetchall()}
        for table, is_membership in wanted:
            rls, force, pols = found.get(table, (False, False, set()))
            need = {POLICY} | ({MEMBER_POLICY} if is_membership else set())
            if rls and force and need <= pols:
                continue
            changed.append(table)
            cursor.execute(f"ALTER TABLE {qn(table)} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {qn(table)} FORCE ROW LEVEL SECURITY")
            for old in pols:
                if old.startswith((POLICY_PREFIX, MEMBER_POLICY_PREFIX)) and old not in need:
                    cursor.execute(f"DROP POLICY {qn(old)} ON {qn(table)}")
            if POLICY not in pols:
                cursor.execute(
                    f"CREATE POLICY {qn(POLICY)} ON {qn(table)} "
                    f"USING {TENANT_PREDICATE} WITH CHECK {TENANT_PREDICATE}"
                )
            if is_membership and MEMBER_POLICY not in pols:
                cursor.execute(
                    f"CREATE POLICY {qn(MEMBER_POLICY)} ON {qn(table)} "
                    f"FOR SELECT USING {MEMBER_PREDICATE}"
                )
    if changed:
        log.info("row-level security applied to %d tables", len(changed))
    return changed


def pre_migrate(sender=None, **kwargs) -> None:
    """Migrations act across tenants: lift the wall for the ``migrate`` run."""
    global _maintenance
    _maintenance = True


def post_migrate(sender=None, using: str = "default", **kwargs) -> None:
    global _maintenance
    try:
        apply_policies(using)
    finally:
        _maintenance = False
