"""Pages of the method (server-rendered), included at the site root by pse_crm/urls.py.

"" is the dashboard: the product's home page.
"""

from django.urls import path

from enablement import charts
from enablement.views import dashboard, hearings, keymen, partners, reps, runs, tasks
from enablement.views import signals as signal_views

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("keymen/", keymen.keymen, name="keymen"),
    path("keymen/export.<str:fmt>", keymen.keymen_export, name="keymen-export"),
    path("partners/", partners.partner_list, name="partner-list"),
    path("partners/<int:pk>/", partners.partner_detail, name="partner-detail"),
    path("reps/<int:pk>/", reps.rep_detail, name="rep-detail"),
    path("tasks/", tasks.task_list, name="task-list"),
    path("tasks/board/", tasks.task_board, name="task-board"),
    path("tasks/new/", tasks.task_create, name="task-create"),
    path("tasks/suggestions/", tasks.task_suggestions, name="task-suggestions"),
    path("tasks/<int:pk>/", tasks.task_detail, name="task-detail"),
    path("tasks/<int:pk>/transition/", tasks.task_transition, name="task-transition"),
    path("tasks/<int:pk>/assign/", tasks.task_assign, name="task-assign"),
    path("tasks/<int:pk>/comment/", tasks.task_comment, name="task-comment"),
    path("hearings/", hearings.hearing_list, name="hearing-list"),
    path("hearings/new/", hearings.hearing_create_view, name="hearing-create"),
    path("hearings/<int:pk>/", hearings.hearing_detail, name="hearing-detail"),
    path("hearings/<int:pk>/edit/", hearings.hearing_edit, name="hearing-edit"),
    path("know-how/", hearings.knowhow_list, name="knowhow-list"),
    path("know-how/new/", hearings.knowhow_create, name="knowhow-create"),
    path("know-how/<int:pk>/", hearings.knowhow_detail, name="knowhow-detail"),
    path("know-how/<int:pk>/edit/", hearings.knowhow_edit, name="knowhow-edit"),
    path("quick-wins/", runs.quickwins, name="quickwins"),
    path("segmentation/runs/", runs.run_list, name="run-list"),
    path("segmentation/runs/recompute/", runs.run_recompute, name="run-recompute"),
    path("segmentation/runs/<int:pk>/status/", runs.run_status, name="run-status"),
    path("settings/segmentation/", runs.settings_segmentation, name="settings-segmentation"),
    # Deal signals.
    path("signals/", signal_views.signal_inbox, name="deal-signals"),
    path("signals/rules/", signal_views.signal_rules, name="deal-signal-rules"),
    path(
        "signals/rules/reevaluate/",
        signal_views.signal_reevaluate,
        name="deal-signal-reevaluate",
    ),
    path(
        "signals/notifications/",
        signal_views.notification_settings,
        name="deal-signal-notifications",
    ),
    path("signals/<int:pk>/", signal_views.signal_detail, name="deal-signal"),
    path("signals/<int:pk>/act/", signal_views.signal_act, name="deal-signal-act"),
    path("signals/<int:pk>/dismiss/", signal_views.signal_dismiss, name="deal-signal-dismiss"),
    # Chart data (django-chartjs JSON views).
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
    path("charts/reps/<int:pk>/views/", charts.RepViewsChart.as_view(), name="chart-rep-views"),
]
