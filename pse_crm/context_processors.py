from django.http import HttpRequest

from pse_crm.models import Membership


def tenancy(request: HttpRequest) -> dict:
    """The active tenant and membership, and the user's other active memberships (the
    tenant switcher). Read once a request: django-tables2's ``render_table`` renders each
    table with a new RequestContext, which runs every context processor again."""
    membership = getattr(request, "membership", None)
    key = (getattr(request, "tenant", None), membership, getattr(request, "user", None))
    cached = getattr(request, "_tenancy_context", None)
    # The same objects, not only equal ones: a view that replaced the membership or the
    # tenant with a fresh copy (a changed role or name) gets a fresh context.
    if cached is not None and all(a is b for a, b in zip(cached[0], key, strict=True)):
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
