"""URL map: health, the REST API, the staff app."""

from django.contrib import admin
from django.urls import include, path

from dangol.api.api import api
from dangol.core.health import healthz, readyz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("dangol.web.urls")),
]

handler400 = "dangol.web.views.bad_request"
handler403 = "dangol.web.views.permission_denied"
handler404 = "dangol.web.views.page_not_found"
handler500 = "dangol.web.views.server_error"
