"""Task pages, included by ``dangol.web.urls`` (names live in ``web:``)."""

from django.urls import path

from dangol.sales import views

urlpatterns = [
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/new/", views.task_new, name="task_new"),
    path("tasks/<int:task_id>/", views.task_detail, name="task_detail"),
    path(
        "tasks/<int:task_id>/<str:action>/",
        views.task_action,
        name="task_action",
    ),
    path("customers/<int:customer_id>/tasks/", views.customer_tasks, name="customer_tasks"),
]
