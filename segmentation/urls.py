"""Pages of the segmentation: the keymen list and the runs (with the segmentation settings)."""

from django.urls import path

from segmentation.views import keymen, runs

urlpatterns = [
    path("keymen/", keymen.keymen, name="keymen"),
    path("keymen/export.<str:fmt>", keymen.keymen_export, name="keymen-export"),
    path("segmentation/runs/", runs.run_list, name="run-list"),
    path("segmentation/runs/recompute/", runs.run_recompute, name="run-recompute"),
    path("segmentation/runs/<int:pk>/status/", runs.run_status, name="run-status"),
    path("settings/segmentation/", runs.settings_segmentation, name="settings-segmentation"),
]
