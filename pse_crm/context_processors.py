from django.http import HttpRequest

from pse_crm.models import Membership


def tenancy(request: HttpRequest) -> dict:
    """The active tenant and membership, and the user's other active memberships (the
    tenant switcher). Read once a request: django-tables2's ``render_table`` renders each
    table with a new RequestContext, which runs every context processor again."""
    membership = getattr(request, "membership", None)
    key = (getattr(request, "tenant", None), membership, getattr(request, "user", None))
    cached = getattr(request, "_tenancy_context", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    others = []
    if membership is not None:
        others = list(
            Membership.of_user.active()
            .filter(user=request.user)
            .exclude(tenant_id=membership.tenant_id)
            .select_related("tenant")
            .order_by("tenant__name")
        )
    context = {
        "active_tenant": getattr(request, "tenant", None),
        "active_membership": membership,
        "other_memberships": others,
    }
    request._tenancy_context = (key, context)
    return context
