"""Pages of hearings and know-how."""

from django.urls import path

from knowhow import views

urlpatterns = [
    path("hearings/", views.hearing_list, name="hearing-list"),
    path("hearings/new/", views.hearing_create_view, name="hearing-create"),
    path("hearings/<int:pk>/", views.hearing_detail, name="hearing-detail"),
    path("hearings/<int:pk>/edit/", views.hearing_edit, name="hearing-edit"),
    path("know-how/", views.knowhow_list, name="knowhow-list"),
    path("know-how/new/", views.knowhow_create, name="knowhow-create"),
    path("know-how/<int:pk>/", views.knowhow_detail, name="knowhow-detail"),
    path("know-how/<int:pk>/edit/", views.knowhow_edit, name="knowhow-edit"),
]
