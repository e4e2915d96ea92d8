"""Calling services from viewsets: the acting user.

Viewsets call services directly: a service's ValidationError or PermissionDenied becomes
the API's 400 or 403 in ``pse_crm.api.errors.exception_handler``, once for every viewset.
"""

from __future__ import annotations

NO_DELETE = ["get", "post", "put", "patch", "head", "options"]


def acting_user(request):
    """The member behind the request (an API key has no user)."""
    return request.user if getattr(request.user, "pk", None) else None
