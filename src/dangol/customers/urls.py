"""Customer and organization pages, included by ``dangol.web.urls`` (names live in ``web:``)."""

from django.urls import path

from dangol.customers import views

urlpatterns = [
    path("customers/", views.customer_list, name="customer_list"),
    path("customers/new/", views.customer_create, name="customer_create"),
    path("customers/bulk/", views.customer_bulk, name="customer_bulk"),
    path("customers/views/", views.saved_view_create, name="customer_view_save"),
    path(
        "customers/views/<int:view_id>/delete/",
        views.saved_view_delete,
        name="customer_view_delete",
    ),
    path("customers/<int:customer_id>/", views.customer_detail, name="customer_detail"),
    path(
        "customers/<int:customer_id>/timeline/",
        views.customer_timeline,
        name="customer_timeline",
    ),
    path(
        "customers/<int:customer_id>/contacts/",
        views.customer_contacts,
        name="customer_contacts",
    ),
    path(
        "customers/<int:customer_id>/contacts/reveal/",
        views.customer_contacts_reveal,
        name="customer_contacts_reveal",
    ),
    path(
        "customers/<int:customer_id>/log/<slug:what>/",
        views.customer_log,
        name="customer_log",
    ),
    path(
        "customers/<int:customer_id>/consents/",
        views.customer_consent,
        name="customer_consent",
    ),
    path(
        "customers/<int:customer_id>/profile/",
        views.customer_profile,
        name="customer_profile",
    ),
    path("organizations/", views.organization_list, name="organization_list"),
    path("organizations/new/", views.organization_create, name="organization_create"),
    path(
        "organizations/parents/",
        views.organization_parent_options,
        name="organization_parent_options",
    ),
    path(
        "organizations/<int:organization_id>/",
        views.organization_detail,
        name="organization_detail",
    ),
    path(
        "organizations/<int:organization_id>/edit/",
        views.organization_edit,
        name="organization_edit",
    ),
    path(
        "organizations/<int:organization_id>/archive/",
        views.organization_archive,
        name="organization_archive",
    ),
    path(
        "organizations/<int:organization_id>/restore/",
        views.organization_restore,
        name="organization_restore",
    ),
]
