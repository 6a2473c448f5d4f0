"""WSGI entry point for gunicorn (`peerflow.wsgi:application`)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerflow.settings")
application = get_wsgi_application()
