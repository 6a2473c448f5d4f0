"""The same-stack baseline for bench_claims.py: one UPDATE ... RETURNING through Flask, SQLAlchemy Core and psycopg.

Served by gunicorn exactly like the app (same worker class, workers, threads, keep-alive):
    gunicorn -k gthread -w 4 --threads 2 --pythonpath bench baseline_flask:app
with BASELINE_DATABASE_URL=postgresql://postgres@127.0.0.1/baton_bench_... and the table `bench_counters(id int
primary key, n bigint)` that bench_claims.py creates.

POST /bump/<id> bumps row <id> in a transaction (`engine.begin()`: BEGIN, the UPDATE, COMMIT) on a connection of the
engine's pool (SQLAlchemy's default QueuePool, as the app's engine) and answers {"id": id, "n": n} through Flask's
JSON response. What Baton pays for its framework before it does any work of its own: routing, the request and app
contexts, a pooled checkout and a transaction. No authentication, like bench/baseline_app.py.
"""
import os

from flask import Flask, abort
from sqlalchemy import create_engine, text

URL = os.environ.get("BASELINE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BUMP = text("UPDATE bench_counters SET n = n + 1 WHERE id = :id RETURNING n")

engine = create_engine(URL.replace("postgresql://", "postgresql+psycopg://", 1))
app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return "ok"


@app.post("/bump/<int:row_id>")
def bump(row_id: int):
    with engine.begin() as conn:
        n = conn.execute(BUMP, {"id": row_id}).scalar_one_or_none()
    if n is None:
        abort(404)
    return {"id": row_id, "n": n}
