"""The Huey instance: SQLite storage in var/ by default, Redis when DANGOL_REDIS_URL is set.

Tasks live in each app's ``tasks.py`` and use ``huey.contrib.djhuey`` decorators, which bind to
this instance (configured from ``settings.HUEY``).
"""

from huey.contrib.djhuey import HUEY as huey

__all__ = ["huey"]
