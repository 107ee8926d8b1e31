"""Settings of the interop test project: a Django 3.2 / Channels 4 app as the
seeds' projects are set up, configured from the environment (see
tests/interop/README.md)."""
import os
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("INTEROP_SECRET_KEY", "interop-test-secret-key-not-for-production")
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",
    "channels",
    "interop",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "interop.urls"
ASGI_APPLICATION = "interop.asgi.application"
WSGI_APPLICATION = None
TEMPLATES = []


def _database(url):
    """DATABASES['default'] from INTEROP_DB (sqlite:PATH or postgresql://...)."""
    if url.startswith("sqlite:"):
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": url[len("sqlite:"):]}
    u = urlparse(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": u.path.lstrip("/"),
        "USER": u.username or "",
        "PASSWORD": u.password or "",
        "HOST": u.hostname or "",
        "PORT": str(u.port or ""),
    }


DATABASES = {"default": _database(os.environ.get("INTEROP_DB", "sqlite:" + str(BASE_DIR / "db.sqlite3")))}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

SESSION_ENGINE = {
    "db": "django.contrib.sessions.backends.db",
    "signed_cookies": "django.contrib.sessions.backends.signed_cookies",
}[os.environ.get("INTEROP_SESSION_ENGINE", "db")]

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # INTEROP_REDIS: one url, or several separated by commas (the shards,
        # in the order chanhost's `layer` lists them)
        "CONFIG": {"hosts": os.environ.get("INTEROP_REDIS", "redis://127.0.0.1:6379/0").split(",")},
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
}

USE_TZ = True
TIME_ZONE = "UTC"
