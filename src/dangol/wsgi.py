"""WSGI entry point (gunicorn ``dangol.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dangol.settings")
application = get_wsgi_application()
