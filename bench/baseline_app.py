"""The baseline for bench_claims.py: a WSGI endpoint that does one single-row UPDATE ... RETURNING and nothing else.

Served by gunicorn exactly like the app (same worker class, workers, threads, keep-alive):
    gunicorn -k gthread -w 4 --threads 2 --pythonpath bench baseline_app:app
with BASELINE_DATABASE_URL=postgresql://postgres@127.0.0.1/baton_bench_... and a table
`bench_counters(id int primary key, n bigint)` (bench_claims.py creates it).

POST /bump/<id> bumps row <id> and answers {"id": id, "n": n}. One psycopg connection per worker thread
(psycopg_pool is not installed in the venv; with gthread a thread-local connection is the same thing
as a pool of `--threads` connections per worker), autocommit, so each request is one committed UPDATE.
"""
import json
import os
import threading

import psycopg

URL = os.environ.get("BASELINE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SQL = "UPDATE bench_counters SET n = n + 1 WHERE id = %s RETURNING n"
_local = threading.local()


def _connection() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(URL, autocommit=True)
        _local.conn = conn
    return conn


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/healthz":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    if not path.startswith("/bump/"):
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)  # drain the body so keep-alive stays in step
    row_id = int(path.rsplit("/", 1)[1])
    row = _connection().execute(SQL, (row_id,)).fetchone()
    if row is None:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    body = json.dumps({"id": row_id, "n": row[0]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
