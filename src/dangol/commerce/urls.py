"""Product and order pages, included by ``dangol.web.urls`` (names live in ``web:``)."""

from django.urls import path

from dangol.commerce import views

urlpatterns = [
    path("products/", views.product_list, name="product_list"),
    path("products/<int:product_id>/", views.product_detail, name="product_detail"),
    path("orders/", views.order_list, name="order_list"),
    path("orders/<int:order_id>/", views.order_detail, name="order_detail"),
]
