"""The fixed CLI of docs/design.md §10, run as plain `flask …` from the repository root."""
import json
import logging
import os
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.common.clock import utcnow

log = logging.getLogger(__name__)

seed_cli = AppGroup("seed", help="Load data.")
users_cli = AppGroup("users", help="Manage people.")
push_cli = AppGroup("push", help="Web Push.")


@push_cli.command("init-vapid")
@click.option("--if-missing", is_flag=True, help="Keep an existing key pair.")
def init_vapid_command(if_missing):
    """Generate a development VAPID key pair into instance/vapid.json."""
    click.echo(_init_vapid(if_missing))


def _init_vapid(if_missing: bool) -> str:
    from app.config import INSTANCE_DIR, VAPID_FILE
    from app.notify.vapid import generate_vapid_keypair

    path = INSTANCE_DIR / VAPID_FILE
    if path.exists() and if_missing:
        return f"VAPID keys kept: {path}"
    private_key, public_key = generate_vapid_keypair()
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"private_key": private_key, "public_key": public_key}))
    path.chmod(0o600)
    return f"VAPID key pair written to {path} (restart the app to use it)\npublic key: {public_key}"


@click.command("serve")
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--no-worker", is_flag=True, help="Do not run the background worker in this process.")
def serve_command(host, port, no_worker):
    """Serve the app and run the background worker beside it: one command, one process."""
    import socket
    import threading

    from werkzeug.serving import run_simple

    from app.seed import DEMO_PASSWORD

    app = current_app._get_current_object()
    if not no_worker:
        def _loop():
            with app.app_context():
                _worker_loop(interval=2.0, once=False)

        threading.Thread(target=_loop, name="baton-worker", daemon=True).start()
    addresses = {"127.0.0.1"}
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))  # no packet is sent; this only picks the LAN interface
            addresses.add(probe.getsockname()[0])
    except OSError:
        pass
    click.echo("\nBaton is running:")
    for address in sorted(addresses):
        click.echo(f"  http://{address}:{port}/      (API docs: http://{address}:{port}/api/docs)")
    click.echo(f"Demo logins, password '{DEMO_PASSWORD}': admin, lead.cs, staff.wh1, staff.wh2, driver.li, quality.qa, mgr.wh1\n")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@seed_cli.command("demo")
def seed_demo_command():
    """Demo organisation, templates, catalogue and orders (idempotent)."""
    from app.seed import DEMO_PASSWORD, seed_demo

    result = seed_demo()
    click.echo(json.dumps(result, ensure_ascii=False))
    click.echo(f"Demo logins (password '{DEMO_PASSWORD}'): admin, lead.cs, staff.wh1, staff.wh2, driver.li, quality.qa, mgr.wh1")


@users_cli.command("create-admin")
@click.option("--login", required=True)
@click.option("--password", required=True)
@click.option("--name", default=None)
def create_admin_command(login, password, name):
    """Create an admin, or reset an existing user's password and make them admin."""
    user, created = _make_admin(login, password, name)
    click.echo(f"{'Created' if created else 'Reset'} admin {user.login} (id {user.id})")


def _make_admin(login: str, password: str, name: str | None):
    """`set_password_or_create_admin`, its refusals (a weak password…) said as a CLI error."""
    from app.errors import DomainError
    from app.org.service import set_password_or_create_admin

    try:
        return set_password_or_create_admin(login=login, password=password, name=name)
    except DomainError as exc:
        problems = [message for messages in exc.details.values() for message in messages]
        raise click.ClickException(" ".join([exc.message, *problems]))


@click.command("setup")
@with_appcontext
@click.option("--login", default="admin", show_default=True, help="The first admin's login.")
@click.option("--password", default=None, help="The first admin's password; one is generated and shown once when omitted.")
@click.option("--name", default=None, help="The first admin's name (defaults to the login).")
def setup_command(login, password, name):
    """A new company from nothing to a signed-in admin, asking nothing it can default.

    Upgrades the database (which installs the system flows and the built-in calendar), makes the development Web
    Push keys if there are none (in AWS they come from SSM), and creates the first admin. Run again, it upgrades
    and leaves an existing admin alone unless --password is given.
    """
    import secrets

    from flask_migrate import upgrade
    from sqlalchemy import select

    from app.extensions import db
    from app.org.models import User

    upgrade()
    click.echo("Database upgraded: system flows (quarantine, recall, restock) and the cn-standard calendar installed.")
    if not os.environ.get("VAPID_PRIVATE_KEY"):  # in AWS the keys come from SSM; here, a pair kept in instance/
        click.echo(_init_vapid(if_missing=True))
    try:
        if password is None and db.session.scalar(select(User.id).where(User.login == login)) is not None:
            click.echo(f"{login} exists: left as it is (pass --password to reset it).")
            return
        chosen = password or secrets.token_urlsafe(12)
        user, created = _make_admin(login, chosen, name)
        click.echo(f"{'Created' if created else 'Reset'} admin {user.login}.")
        if password is None:
            click.echo(f"Password (shown once; change it in Settings): {chosen}")
    finally:
        db.session.remove()  # nothing left open: the next command (or a second setup) finds the database free
    click.echo("Start the app (flask serve) and sign in; then set up departments, people and API keys (README: Setting up a company).")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run one pass of every job, then exit.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between passes.")
def worker_command(once, interval):
    """Local stand-in for every Lambda job: outbox, timers, queued jobs, housekeeping."""
    _worker_loop(interval=interval, once=once)


def _worker_loop(*, interval: float, once: bool, sleep=time.sleep):
    """Run every job each `interval` seconds; while the database is away, wait longer and longer between passes."""
    from app.common import database
    from app.extensions import db
    from app.jobs import run_all_once

    max_backoff = max(current_app.config.get("WORKER_MAX_BACKOFF_SECONDS", 60), interval)
    wait = interval
    while True:
        try:
            summary = run_all_once(now=utcnow(), config=current_app.config)
            if once or any(summary.values()):
                click.echo(json.dumps({"worker": summary}))
            wait = interval
        except Exception as error:  # one bad pass must not stop the worker loop
            database.rollback_quietly(db.session)
            kind = database.failure_kind(error)
            if kind is None:
                log.exception("worker pass failed")
                if once:
                    raise
            else:
                # An outage, not a bug: one line per pass, no traceback, and each wait twice the last, up to the
                # maximum. Every job is idempotent, so the next pass picks up whatever this one left.
                wait = min(wait * 2, max_backoff)
                log.warning("worker pass stopped: database %s (%s); next try in %.0f s", kind, database.describe(error), wait)
                if once:
                    raise click.ClickException(f"database {kind}: the pass stopped ({database.describe(error)})") from error
        if once:
            return
        db.session.remove()
        sleep(wait)


def register_cli(app: Flask) -> None:
    app.cli.add_command(seed_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(push_cli)
    app.cli.add_command(serve_command)
    app.cli.add_command(setup_command)
