"""Analytics dashboards, included by ``dangol.web.urls`` (names live in ``web:``)."""

from django.urls import path

from dangol.analytics import views

urlpatterns = [
    path("analytics/", views.overview, name="analytics"),
    path("analytics/rfm/", views.rfm_page, name="analytics_rfm"),
    path("analytics/grades/", views.grades_page, name="analytics_grades"),
    path("analytics/clv/", views.clv_page, name="analytics_clv"),
    path("analytics/churn/", views.churn_page, name="analytics_churn"),
    path("analytics/next-best-offer/", views.nbo_page, name="analytics_nbo"),
    path(
        "analytics/next-best-offer/evaluation/",
        views.nbo_evaluation,
        name="analytics_nbo_evaluation",
    ),
    path("analytics/cohorts/", views.cohorts_page, name="analytics_cohorts"),
    path("analytics/runs/start/", views.start_run, name="analytics_run"),
    path(
        "analytics/<slug:page>/<slug:chart>.csv",
        views.chart_csv,
        name="analytics_csv",
    ),
]
