from django.http import HttpRequest

from pse_crm.models import Membership


def tenancy(request: HttpRequest) -> dict:
    membership = getattr(request, "membership", None)
    others = []
    if membership is not None:
        others = list(
            Membership.of_user.active()
            .filter(user=request.user)
            .exclude(tenant_id=membership.tenant_id)
            .select_related("tenant")
            .order_by("tenant__name")
        )
    return {
        "active_tenant": getattr(request, "tenant", None),
        "active_membership": membership,
        "other_memberships": others,
    }
