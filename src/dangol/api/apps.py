from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "dangol.api"
    label = "api"
    verbose_name = "API"
