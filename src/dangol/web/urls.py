"""URLs of the staff app, included at the site root: ``path("", include("dangol.web.urls"))``."""

from django.urls import include, path

from dangol.web.views import account, home, search

app_name = "web"

urlpatterns = [
    path("", home.home, name="home"),
    path("search/", search.search, name="search"),
    # signing in and out
    path("login/", account.LoginView.as_view(), name="login"),
    path("logout/", account.LogoutView.as_view(), name="logout"),
    path("language/", account.switch_language, name="language"),
    path("account/preferences/", account.preferences, name="preferences"),
    path("account/api-tokens/", account.api_token_create, name="api_token_create"),
    path(
        "account/api-tokens/<int:token_id>/revoke/",
        account.api_token_revoke,
        name="api_token_revoke",
    ),
    path("account/password/", account.PasswordChangeView.as_view(), name="password_change"),
    path(
        "account/password/done/",
        account.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("password-reset/", account.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        account.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        account.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        account.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # domain pages: each domain keeps its own (names stay in this "web" namespace)
    path("", include("dangol.customers.urls")),
    path("", include("dangol.commerce.urls")),
    path("", include("dangol.integration.urls")),
    path("", include("dangol.analytics.urls")),
    path("", include("dangol.analytics.segment_urls")),
    path("", include("dangol.sales.urls")),
]
