"""A second app on the test database, for routes that exist only inside one test."""
import pytest

from app import create_app
from app.extensions import db


@pytest.fixture
def app_with_routes(app):
    """Build a fresh app on the same database as `app` and let the test add routes before its first request.

    Flask refuses new routes once an app has served a request, and the `app` fixture is shared.
    """
    built = []

    def build(register):
        keep = ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "TESTING", "ATTACHMENT_DIR",
                "PASSWORD_HASH_TIME_COST", "PASSWORD_HASH_MEMORY_COST")
        extra = create_app({name: app.config[name] for name in keep})
        register(extra)
        built.append(extra)
        return extra

    yield build
    for extra in built:
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()
