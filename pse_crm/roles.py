"""Roles of a tenant member and what each may do. One table, used by views and the API."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    MANAGER = "manager", _("Manager")
    STAFF = "staff", _("Staff")
    VIEWER = "viewer", _("Viewer")


# API keys act with this role; it is never a member's role.
INTEGRATION = "integration"

# Capabilities: name -> roles holding it. Views and viewsets name a capability, not roles.
READ = frozenset({Role.OWNER, Role.MANAGER, Role.STAFF, Role.VIEWER})
WRITE_ENABLEMENT = frozenset({Role.OWNER, Role.MANAGER, Role.STAFF})
MANAGE = frozenset({Role.OWNER, Role.MANAGER})
OWN = frozenset({Role.OWNER})
# Partners, reps, materials, views and deals are fed by integrations; owners may fix them.
WRITE_DATA = frozenset({Role.OWNER, INTEGRATION})
# What an integration key may read: the data it feeds, nothing else.
READ_DATA = READ | {INTEGRATION}


def role_allows(role: str | None, capability: frozenset[str]) -> bool:
    return role is not None and role in capability
