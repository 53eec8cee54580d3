"""Segment pages, included by ``dangol.web.urls`` (names live in ``web:``):

path("", include("dangol.analytics.segment_urls")),
"""

from django.urls import path

from dangol.analytics import segment_views as views

urlpatterns = [
    path("segments/", views.segment_list, name="segment_list"),
    path("segments/new/", views.segment_create, name="segment_create"),
    path("segments/preview/", views.segment_preview, name="segment_preview"),
    path("segments/<int:segment_id>/", views.segment_detail, name="segment_detail"),
    path("segments/<int:segment_id>/edit/", views.segment_edit, name="segment_edit"),
    path("segments/<int:segment_id>/count/", views.segment_count, name="segment_count"),
    path("segments/<int:segment_id>/snapshot/", views.segment_snapshot, name="segment_snapshot"),
    path("segments/<int:segment_id>/archive/", views.segment_archive, name="segment_archive"),
]
