"""`manage.py bench_statements --lead-token T --staff-token T --team N`: SQL statements of one create, claim, complete.

Through Django's test client, so the same middleware, URL routing, viewflow wrappers and views as under gunicorn,
counted with `CaptureQueriesContext` on the default connection. Django logs BEGIN and COMMIT there too; they are left
out, as Baton's count (SQLAlchemy's `before_cursor_execute`) never sees them. Savepoints are real statements and
stay in. Prints JSON {"create": n, "claim": n, "complete": n}.
"""
import json

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--lead-token", required=True)
        parser.add_argument("--staff-token", required=True)
        parser.add_argument("--team", type=int, required=True)

    def handle(self, *args, lead_token, staff_token, team, **options):
        client = Client()
        counts = {}

        def post(name, path, token, body=None):
            with CaptureQueriesContext(connection) as queries:
                response = client.post(path, data=json.dumps(body or {}), content_type="application/json",
                                       headers={"Authorization": f"Bearer {token}"})
            if response.status_code not in (200, 201):
                raise CommandError(f"{name}: {response.status_code} {response.content[:300]!r}")
            counts[name] = sum(1 for q in queries if q["sql"] not in TRANSACTION_CONTROL)
            return response.json()

        created = post("create", "/api/start/", lead_token, {"team": team, "title": "count"})
        process, task = created["process"], created["task"]
        post("claim", f"/api/{process}/handle/{task}/assign/", staff_token)
        post("complete", f"/api/{process}/handle/{task}/execute/", staff_token)
        self.stdout.write(json.dumps(counts))
