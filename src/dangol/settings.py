"""Dangol settings: one module, driven by ``DANGOL_*`` environment variables.

Every knob is documented in README.md ("Configuration"). Nothing here is meant to be edited
per deployment: set the environment instead.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url

from dangol.envutil import env_bool, env_int, env_list

PACKAGE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("DANGOL_VAR_DIR", Path.cwd() / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Use DANGOL_SECRET_KEY, or a key generated once into var/secret_key (mode 0600)."""
    if key := os.environ.get("DANGOL_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DANGOL_DEBUG", False)
ALLOWED_HOSTS = env_list("DANGOL_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DANGOL_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = os.environ.get("DANGOL_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.admin",
    "template_partials",
    "huey.contrib.djhuey",
    "ninja",  # its templates and static files: the API docs (Swagger UI) load without a CDN
    "dangol.core",
    "dangol.customers",
    "dangol.commerce",
    "dangol.integration",
    "dangol.analytics",
    "dangol.sales",
    "dangol.web",
    "dangol.demo",
    "dangol.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "dangol.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "dangol.web.middleware.KoreanFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dangol.api.idempotency.IdempotencyMiddleware",
    "dangol.core.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dangol.urls"
WSGI_APPLICATION = "dangol.wsgi.application"
AUTH_USER_MODEL = "core.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
            ],
        },
    }
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DANGOL_DATABASE_URL") or f"sqlite:///{VAR_DIR / 'dangol.sqlite3'}"
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DANGOL_DB_CONN_MAX_AGE", 60))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["CONN_MAX_AGE"] = 0 if DEBUG else _db["CONN_MAX_AGE"]
    _db["OPTIONS"] = {
        # WAL lets readers and the one writer work at once; IMMEDIATE avoids upgrade deadlocks.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=10000; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536; "
            "PRAGMA mmap_size=268435456;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    _db["TEST"] = (
        {"NAME": str(VAR_DIR / "test.sqlite3")}
        if env_bool("DANGOL_TEST_SQLITE_FILE", False)
        else {}
    )
else:
    _db.setdefault("OPTIONS", {})
    # No JIT compilation: Dangol's statements are short (pages, segment counts) and compiling
    # their plans cost 100-250 ms of each segment evaluation at 1M customers (docs/adr/0012).
    # A libpq "options" in the URL's query string, if any, is kept.
    _db["OPTIONS"].setdefault("options", "-c jit=off")
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
IS_POSTGRES = _db["ENGINE"].endswith("postgresql")

# --- jobs and cache -------------------------------------------------------------------------
REDIS_URL = os.environ.get("DANGOL_REDIS_URL", "")
HUEY_IMMEDIATE = env_bool("DANGOL_JOBS_IMMEDIATE", False)
# Under pytest every process gets its own queue, so parallel runs never take each other's jobs.
TESTING = "PYTEST_VERSION" in os.environ
_JOBS_NAME = os.environ.get(
    "DANGOL_JOBS_NAME", f"dangol-test-{os.getpid()}" if TESTING else "dangol"
)
_JOBS_FILE = os.environ.get(
    "DANGOL_JOBS_SQLITE",
    str(Path(tempfile.gettempdir()) / f"dangol-jobs-test-{os.getpid()}.sqlite3")
    if TESTING
    else str(VAR_DIR / "jobs.sqlite3"),
)
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.PriorityRedisHuey",
        "name": _JOBS_NAME,
        "url": REDIS_URL,
        "immediate": HUEY_IMMEDIATE,
        "utc": True,
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "dangol",
        }
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": _JOBS_NAME,
        "filename": _JOBS_FILE,
        "immediate": HUEY_IMMEDIATE,
        "utc": True,
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "dangol",
        }
    }
# An idle consumer polls the SQLite queue at most a second apart (Huey's default backs off to
# ten), so an import, export or analytics run a user starts begins within a second; Redis
# hands jobs over as they come.
HUEY["consumer"] = {
    "workers": env_int("DANGOL_WORKERS", 2),
    "worker_type": "thread",
    "max_delay": 1.0,
}

# --- auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = ["dangol.core.auth.EmailBackend"]  # e-mail login with lockout
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "ko"
LANGUAGES = [("ko", "한국어"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
# Korean date-times read "2026년 11월 23일 오후 3:05" (Django's ko module puts 오후 last).
FORMAT_MODULE_PATH = ["dangol.formats"]
TIME_ZONE = "Asia/Seoul"
USE_I18N = True
USE_TZ = True
DEFAULT_CURRENCY = "KRW"

# --- static ---------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [p for p in [PACKAGE_DIR / "web" / "assets_build"] if p.exists()]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (env_bool("DANGOL_PLAIN_STATIC", False) or TESTING)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"

# --- e-mail ---------------------------------------------------------------------------------
EMAIL_HOST = os.environ.get("DANGOL_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DANGOL_EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("DANGOL_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DANGOL_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DANGOL_EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("DANGOL_EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("DANGOL_EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DANGOL_EMAIL_FROM", "Dangol <no-reply@localhost>")
EMAIL_BACKEND = os.environ.get(
    "DANGOL_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("DANGOL_EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)

# --- security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    # Behind TLS in production; the demo on http://127.0.0.1 sets DANGOL_INSECURE_COOKIES=1.
    _secure = not env_bool("DANGOL_INSECURE_COOKIES", False)
    SESSION_COOKIE_SECURE = _secure
    CSRF_COOKIE_SECURE = _secure
    SECURE_HSTS_SECONDS = env_int("DANGOL_HSTS_SECONDS", 31536000 if _secure else 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _secure
    SECURE_SSL_REDIRECT = env_bool("DANGOL_SSL_REDIRECT", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- API ------------------------------------------------------------------------------------
API_RATE_LIMIT_PER_MINUTE = env_int("DANGOL_API_RATE_LIMIT", 0 if TESTING else 600)
API_MAX_BULK = 1000

# --- churn early warning (docs/adr/0011-tasks-and-churn-alerts.md) ---------------------------
# Valuable = a grade in the best N tiers of the active programme, or CLV in the top P % (0: off).
CHURN_ALERT_TOP_TIERS = env_int("DANGOL_CHURN_ALERT_TOP_TIERS", 2)
CHURN_ALERT_CLV_TOP_PERCENT = env_int("DANGOL_CHURN_ALERT_CLV_TOP_PERCENT", 10)
CHURN_ALERT_MAX_PER_RUN = env_int("DANGOL_CHURN_ALERT_MAX_PER_RUN", 2000)
CHURN_ALERT_TASK_DUE_DAYS = env_int("DANGOL_CHURN_ALERT_TASK_DUE_DAYS", 2)
# Matching import rows to existing customers: "deterministic" (same external id, mobile or
# e-mail) or "probabilistic" (then Splink for the rest; unsure rows go to the review queue).
IMPORT_CUSTOMER_MATCHER = {
    "deterministic": "dangol.integration.imports.identity.deterministic_matcher",
    "probabilistic": "dangol.integration.dedupe.matcher.probabilistic_matcher",
}[os.environ.get("DANGOL_IMPORT_MATCHING", "deterministic")]
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024  # a 1,000-record bulk call fits

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DANGOL_LOG_LEVEL", "WARNING")},
    "loggers": {"dangol": {"level": os.environ.get("DANGOL_LOG_LEVEL", "INFO")}},
}
