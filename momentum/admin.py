"""Admin of momentum snapshots (read-only)."""

from __future__ import annotations

from django.contrib import admin

from momentum.models import MomentumSnapshot
from pse_crm.admin import ReadOnlyTenantAdmin


@admin.register(MomentumSnapshot)
class MomentumSnapshotAdmin(ReadOnlyTenantAdmin):
    list_display = (
        "week_start",
        "partner",
        "reps",
        "active_reps",
        "activation_rate",
        "keyman1",
        "keyman2",
        "won_deals",
        "quick_wins",
    )
    list_filter = ("week_start",)
    list_select_related = ("partner",)
