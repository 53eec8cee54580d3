"""Pages of identity resolution, data quality and exports, included by ``dangol.web.urls``
(names live in ``web:``): ``path("", include("dangol.integration.urls"))``."""

from django.urls import path

from dangol.integration import views

urlpatterns = [
    path("data/duplicates/", views.duplicate_list, name="duplicate_list"),
    path("data/duplicates/search/", views.duplicate_search, name="duplicate_search"),
    path("data/duplicates/<int:candidate_id>/", views.duplicate_detail, name="duplicate_detail"),
    path(
        "data/duplicates/<int:candidate_id>/reveal/",
        views.duplicate_reveal,
        name="duplicate_reveal",
    ),
    path(
        "data/duplicates/<int:candidate_id>/merge/", views.duplicate_merge, name="duplicate_merge"
    ),
    path(
        "data/duplicates/<int:candidate_id>/dismiss/",
        views.duplicate_dismiss,
        name="duplicate_dismiss",
    ),
    path("data/duplicates/<int:candidate_id>/undo/", views.duplicate_undo, name="duplicate_undo"),
    path("data/quality/", views.quality, name="quality"),
    path("data/quality/plan/", views.quality_plan, name="quality_plan"),
    path("data/exports/", views.export_list, name="export_list"),
    path("data/exports/<int:export_id>/download/", views.export_download, name="export_download"),
]
