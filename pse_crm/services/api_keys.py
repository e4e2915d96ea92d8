"""API keys: the one way a key is made, by the settings page and ``create_api_key`` alike.

A key is named and scoped (``read``, ``write``, ``outbound``: pse_crm.roles.KeyScope) and
does nothing its scopes do not say. The key itself is returned once and stored only as a
hash.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from pse_crm.models import Tenant, TenantAPIKey
from pse_crm.roles import KeyScope, key_scopes_parse


def api_key_create(
    *, tenant: Tenant, name: str, scopes: str | Iterable[str] = KeyScope.WRITE
) -> tuple[TenantAPIKey, str]:
    """Create ``tenant``'s key named ``name`` with ``scopes`` (``"read,write"`` or a list);
    return the row and the key, which is never shown again.

    Raises ValidationError (by field: ``name``, ``scopes``) for an empty or over-long name,
    an unknown scope or no scope; nothing is written then.
    """
    name = (name or "").strip()
    max_length = TenantAPIKey._meta.get_field("name").max_length
    errors: dict[str, list] = {}
    if not name:
        errors["name"] = [_("A key's name must not be empty.")]
    elif len(name) > max_length:
        errors["name"] = [
            _("A key's name is at most %(limit)d characters.") % {"limit": max_length}
        ]
    try:
        stored_scopes = key_scopes_parse(scopes)
    except ValidationError as error:
        errors["scopes"] = error.messages
    if errors:
        raise ValidationError(errors)
    return TenantAPIKey.objects.create_key(tenant=tenant, name=name, scopes=stored_scopes)
