"""Settings of the peer project: production-like (DEBUG off, persistent connections), nothing the endpoints do not use.

The database comes from PEER_DATABASE_URL (`postgresql://user@host:port/name`, the database bench_claims.py creates
for the peer), the signing key from PEER_SECRET_KEY. There is no session, CSRF, message or clickjacking middleware:
the API authenticates with a bearer token (`peerflow.auth`), so a JSON API of this kind would not run them, and
leaving them out only makes the peer cheaper.
"""
import os
from urllib.parse import urlsplit

_db = urlsplit(os.environ.get("PEER_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))

SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "peer-bench-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "viewflow",
    "viewflow.workflow",
    "peerflow",
]
MIDDLEWARE = ["peerflow.auth.BearerTokenMiddleware"]
ROOT_URLCONF = "peerflow.urls"
WSGI_APPLICATION = "peerflow.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",  # psycopg 3
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "postgres",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname or "127.0.0.1",
        "PORT": str(_db.port or 5432),
        # One connection per gunicorn thread, kept for the life of the worker: what Baton's pooled engine gives it.
        "CONN_MAX_AGE": None,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "OPTIONS": {}}]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
