"""Pages of identity resolution, data quality and exports, included by ``dangol.web.urls``
(names live in ``web:``): ``path("", include("dangol.integration.urls"))``."""

from django.urls import path

from dangol.integration import personal_data, views

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
    path(
        "data/personal-data/<int:customer_id>/",
        views.personal_data_download,
        name="personal_data_download",
    ),
    path(
        "data/personal-data/<int:customer_id>/xlsx/",
        personal_data.personal_data_xlsx,
        name="personal_data_xlsx",
    ),
]

# The import wizard and history (dangol.integration.import_views).
from dangol.integration import import_views  # noqa: E402

urlpatterns += [
    path("data/imports/", import_views.import_list, name="import_list"),
    path("data/imports/new/", import_views.import_upload, name="import_upload"),
    path("data/imports/<int:job_id>/", import_views.import_detail, name="import_detail"),
    path("data/imports/<int:job_id>/mapping/", import_views.import_mapping, name="import_mapping"),
    path("data/imports/<int:job_id>/preview/", import_views.import_preview, name="import_preview"),
    path("data/imports/<int:job_id>/dry-run/", import_views.import_dry_run, name="import_dry_run"),
    path("data/imports/<int:job_id>/commit/", import_views.import_commit, name="import_commit"),
    path("data/imports/<int:job_id>/cancel/", import_views.import_cancel, name="import_cancel"),
    path(
        "data/imports/<int:job_id>/progress/",
        import_views.import_progress,
        name="import_progress",
    ),
    path(
        "data/imports/<int:job_id>/rejected/",
        import_views.import_rejected,
        name="import_rejected",
    ),
    path("data/imports/<int:job_id>/again/", import_views.import_again, name="import_again"),
]
