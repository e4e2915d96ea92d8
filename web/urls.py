"""Pages that combine features: the dashboard (the product's home page, ""), the partner
list and page, the rep page, and their chart data (django-chartjs JSON views)."""

from django.urls import path

from web import charts
from web.views import dashboard, partners, reps, share_of_wallet

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("partners/", partners.partner_list, name="partner-list"),
    path("partners/<int:pk>/", partners.partner_detail, name="partner-detail"),
    path(
        "partners/<int:pk>/first-performer-tasks/",
        partners.partner_first_performer_tasks,
        name="partner-first-performer-tasks",
    ),
    path(
        "partners/<int:pk>/totals/",
        share_of_wallet.partner_total_edit,
        name="partner-total-edit",
    ),
    path(
        "partners/totals/import/",
        share_of_wallet.partner_totals_import,
        name="partner-totals-import",
    ),
    path("reps/<int:pk>/", reps.rep_detail, name="rep-detail"),
    path("charts/scatter/", charts.ScatterChart.as_view(), name="chart-scatter"),
    path("charts/momentum/", charts.MomentumChart.as_view(), name="chart-momentum"),
    path(
        "charts/partners/<int:pk>/scatter/",
        charts.ScatterChart.as_view(),
        name="chart-partner-scatter",
    ),
    path(
        "charts/partners/<int:pk>/momentum/",
        charts.MomentumChart.as_view(),
        name="chart-partner-momentum",
    ),
    path(
        "charts/partners/<int:pk>/share/",
        charts.ShareChart.as_view(),
        name="chart-partner-share",
    ),
    path("charts/reps/<int:pk>/views/", charts.RepViewsChart.as_view(), name="chart-rep-views"),
]
