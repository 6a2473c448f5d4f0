"""WSGI entry point (gunicorn `app.wsgi:app`; Zappa's app_function `app.wsgi.app`)."""
from app import create_app

app = create_app()
