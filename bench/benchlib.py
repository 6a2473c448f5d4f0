"""Shared helpers for the benchmarks: a throw-away PostgreSQL database, the app, gunicorn, tokens, percentiles.

Not a benchmark itself (run_all.py runs only bench_*.py).
"""
from __future__ import annotations

import contextlib
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

PG_ADMIN_URL = os.environ.get("BATON_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
GUNICORN = os.path.join(ROOT, ".venv", "bin", "gunicorn")


def _sigterm_to_exit(signum, frame):
    # run_all.py ends an overrunning benchmark with SIGTERM: turn it into SystemExit so `finally` drops the database.
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _sigterm_to_exit)


def figure(name: str, value, unit: str = "") -> None:
    """One figure per line: `name: value unit`."""
    if isinstance(value, float):
        value = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    print(f"{name}: {value}{(' ' + unit) if unit else ''}", flush=True)


def note(text: str) -> None:
    print(f"# {text}", flush=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def admin_connection():
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


@contextlib.contextmanager
def bench_database(tag: str):
    """Create `baton_bench_<tag>_<random>`, yield its plain postgresql:// URL, drop it at the end whatever happens."""
    name = f"baton_bench_{tag}_{uuid.uuid4().hex[:8]}"
    with admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        yield url
    finally:
        with admin_connection() as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        note(f"dropped database {name}")


def app_environment(url: str, secret_key: str) -> dict:
    """Environment for the app, in this process and in gunicorn: the bench database and a throw-away secret."""
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": url,
        "SECRET_KEY": secret_key,
        "BATON_PUSH_PROVIDER": "log",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": ROOT,
    })
    for unset in ("BATON_SSM_PREFIX", "BATON_DISPATCH_QUEUE_URL", "BATON_JOBS_QUEUE_URL", "BATON_INVENTORY_QUEUE_URL", "BATON_EVENT_BUS"):
        env.pop(unset, None)
    return env


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def make_app(url: str, secret_key: str):
    """The real app, configured for the bench database (environment set as gunicorn would see it)."""
    os.environ.update({k: v for k, v in app_environment(url, secret_key).items() if k in ("DATABASE_URL", "SECRET_KEY", "BATON_PUSH_PROVIDER", "LOG_LEVEL")})
    from app import create_app

    app = create_app()
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    return app


def close_app(app) -> None:
    """Give the app's database connections back, so that the bench database can be dropped."""
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def create_schema(app) -> None:
    from app.extensions import db

    with app.app_context():
        db.create_all()


def token_for(secret_key: str, user_id: int, session_version: int = 1) -> str:
    """A bearer token exactly as sign-in issues it (sign-in's Argon2 cost is not what these benchmarks measure)."""
    from app.auth.service import issue_token

    return issue_token(user=SimpleNamespace(id=user_id, session_version=session_version), secret_key=secret_key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """A gunicorn server we start (and stop, by its pid) on 127.0.0.1; `gunicorn` names another venv's, for a peer."""

    def __init__(self, target: str, env: dict, *, workers: int, threads: int, worker_class: str = "gthread",
                 pythonpath: str | None = None, log_path: str | None = None, gunicorn: str = GUNICORN):
        self.port = free_port()
        self.target = target
        self.env = env
        self.args = [gunicorn, "-k", worker_class, "-w", str(workers), "--threads", str(threads),
                     "-b", f"127.0.0.1:{self.port}", "--keep-alive", "30", "--backlog", "2048",
                     "--graceful-timeout", "5", "--log-level", "warning"]
        if pythonpath:
            self.args += ["--pythonpath", pythonpath]
        self.args.append(target)
        self.log_path = log_path or os.devnull
        self.proc = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=self._log, stderr=self._log)
        return self

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn {self.target} exited with {self.proc.returncode} (log: {self.log_path})")
            try:
                with urllib.request.urlopen(self.base + path, timeout=2) as r:
                    if r.status < 500:
                        return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn {self.target} did not answer {path} within {timeout}s")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return False


# --------------------------------------------------------------------------
# CPU accounting: where the two cores went during a phase (server workers, PostgreSQL, this client)
# --------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, str, float] | None:
    """(ppid, comm, cpu seconds) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / _TICK


def _all_stats() -> dict[int, tuple[int, str, float]]:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            s = _stat(int(entry))
            if s:
                stats[int(entry)] = s
    return stats


class CpuMeter:
    """CPU seconds used by a gunicorn server's workers, by the PostgreSQL backends of one database, and by this process.

    Counted per process and only for processes alive at both ends of a phase (or born during it), so other
    people's short-lived connections on a shared server neither add to nor subtract from the figures.
    """

    def __init__(self, server_pids: dict[str, int], database: str | None = None):
        self.server_pids = server_pids
        self.database = database

    def _backend_pids(self) -> set[int]:
        if not self.database:
            return set()
        with admin_connection() as conn:
            return {r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.database,))}

    def snapshot(self) -> dict:
        stats = _all_stats()
        backends = self._backend_pids()
        per_pid: dict[str, dict[int, float]] = {}
        for name, master in self.server_pids.items():
            per_pid[name] = {pid: cpu for pid, (ppid, _, cpu) in stats.items() if ppid == master or pid == master}
        per_pid["postgres"] = {pid: stats[pid][2] for pid in backends if pid in stats}
        t = os.times()
        per_pid["client"] = {os.getpid(): t.user + t.system}
        return per_pid

    @staticmethod
    def delta(before: dict, after: dict) -> dict[str, float]:
        return {name: sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items()) for name, pids in after.items()}
