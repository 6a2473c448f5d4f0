"""The upgrade to throttle counters keeps counting the failures of the last window, on SQLite and PostgreSQL."""
from datetime import timedelta

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app import create_app
from app.common.clock import utcnow
from app.common.types import UTCDateTime
from app.extensions import db
from tests.conftest import FAST_HASH

BEFORE, THIS = "e3f1a9c2b7d4", "f7c2d5e8a1b3"


def test_the_upgrade_carries_the_last_windows_failures_over(fresh_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": fresh_url, "SECRET_KEY": "x" * 40, **FAST_HASH})
    with app.app_context():
        upgrade(revision=BEFORE)
        now = utcnow()
        insert = text("INSERT INTO login_failures (login, address, at) VALUES (:login, :address, :at)").bindparams(
            db.bindparam("at", type_=UTCDateTime()))
        for login, address, minutes_ago in [("mgr.ops", "198.51.100.1", 2), ("mgr.ops", "198.51.100.2", 5),
                                            ("mgr.ops", "198.51.100.1", 60), ("staff.wh1", "198.51.100.9", 90)]:
            db.session.execute(insert, {"login": login, "address": address, "at": now - timedelta(minutes=minutes_ago)})
        db.session.commit()
        upgrade(revision=THIS)
        rows = {(kind, key): failures for kind, key, failures in
                db.session.execute(text("SELECT kind, key, failures FROM login_throttles"))}
        assert rows == {("login", "mgr.ops"): 2, ("address", "198.51.100.1"): 1, ("address", "198.51.100.2"): 1}
        db.session.rollback()  # SQLite: the migration needs the write lock this read holds
        downgrade(revision=BEFORE)
        assert db.session.execute(text("SELECT count(*) FROM login_failures")).scalar_one() == 0
        db.session.rollback()
        downgrade(revision="base")
        db.engine.dispose()
