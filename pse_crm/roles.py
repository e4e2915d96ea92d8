"""Roles of a tenant member and what each may do. One table, used by views and the API.

An API key is never a member: it acts with the role of each of its scopes (``read``,
``write``, ``outbound``), and a capability names the member roles and the key roles that
hold it. ``pse_crm.permissions.request_allows`` reads the request's roles once for pages
and the API alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    MANAGER = "manager", _("Manager")
    STAFF = "staff", _("Staff")
    VIEWER = "viewer", _("Viewer")


class KeyScope(models.TextChoices):
    """What an API key may do. A key holds one or more; it does nothing else."""

    READ = "read", _("Read results (segments, partner figures, momentum, quick wins, signals)")
    WRITE = "write", _("Data feed (partners, reps, materials, views, deals, sync)")
    OUTBOUND = "outbound", _("Salesforce Outbound Messages only")


# Every stored form of a key's scopes: non-empty, sorted, each once ("read,write").
KEY_SCOPE_VALUES = sorted(
    ",".join(combo)
    for size in range(1, len(KeyScope.values) + 1)
    for combo in combinations(sorted(KeyScope.values), size)
)

# The role an API key acts with for each of its scopes; none is ever a member's role.
INTEGRATION = "integration"  # the write scope: today's data feed
RESULTS_READER = "results-reader"  # the read scope
OUTBOUND_SENDER = "outbound-sender"  # the outbound scope: no capability here (see below)
KEY_ROLES = {
    KeyScope.READ: RESULTS_READER,
    KeyScope.WRITE: INTEGRATION,
    KeyScope.OUTBOUND: OUTBOUND_SENDER,
}

# Capabilities: name -> roles holding it. Views and viewsets name a capability, not roles.
READ = frozenset({Role.OWNER, Role.MANAGER, Role.STAFF, Role.VIEWER})
WRITE_ENABLEMENT = frozenset({Role.OWNER, Role.MANAGER, Role.STAFF})
MANAGE = frozenset({Role.OWNER, Role.MANAGER})
OWN = frozenset({Role.OWNER})
# Partners, reps, materials, views and deals are fed by integrations; owners may fix them.
WRITE_DATA = frozenset({Role.OWNER, INTEGRATION})
# The data the feed writes: every member, the feed itself and a results reader read it.
READ_DATA = READ | {INTEGRATION, RESULTS_READER}
# Results (segments, partner figures, momentum, quick wins, deal signals): members and a
# read-scoped key, never the feed (a write-only key).
READ_RESULTS = READ | {RESULTS_READER}
# The outbound scope holds no capability: the Outbound Messages endpoint checks the
# scope itself (Salesforce sends the key in the URL) and every other endpoint refuses it.


def role_allows(role: str | None, capability: frozenset[str]) -> bool:
    return role is not None and role in capability


def roles_allow(held: Iterable[str], capability: frozenset[str]) -> bool:
    """Whether any of the ``held`` roles (a member's one, or a key's per scope) holds it."""
    return any(role in capability for role in held)


def key_scopes_parse(value: str | Iterable[str]) -> str:
    """``value`` (``"write,read"`` or a list) as the stored form: known scopes, each once,
    sorted, comma-separated (``"read,write"``). Raises ValidationError naming an unknown
    scope, or when none is given."""
    items = value.split(",") if isinstance(value, str) else list(value)
    scopes = {str(item).strip().lower() for item in items} - {""}
    unknown = sorted(scopes - set(KeyScope.values))
    if unknown:
        raise ValidationError(
            gettext("Unknown API key scope: %(unknown)s. Use %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(KeyScope.values)},
            code="unknown_scope",
        )
    if not scopes:
        raise ValidationError(
            gettext("Give an API key at least one scope: %(known)s.")
            % {"known": ", ".join(KeyScope.values)},
            code="no_scope",
        )
    return ",".join(sorted(scopes))


def validate_key_scopes(value: str) -> None:
    """Model validator: the stored form, exactly (known scopes, sorted, each once)."""
    if key_scopes_parse(value) != value:
        raise ValidationError(
            gettext("Scopes are stored sorted and comma-separated, e.g. “read,write”."),
            code="unsorted_scopes",
        )


def key_roles(scopes: str) -> frozenset[str]:
    """The roles a key with ``scopes`` (the stored form) acts with; unknown scopes none."""
    return frozenset(KEY_ROLES[s] for s in scopes.split(",") if s in KEY_ROLES)
