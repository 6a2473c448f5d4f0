"""Browser tests of the Baton PWA (pytest + Playwright for Python, Debian's Chromium).

`live_server` runs the real app (built PWA in static/dist, temporary SQLite database seeded
with the demo data, background worker in a thread) on 127.0.0.1 and yields its base URL.
Browsers are launched from /usr/bin/chromium (never `playwright install`).
"""
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
DIST = STATIC / "dist"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("BATON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}  # the admin console's screens
DEMO_PASSWORD = "baton-demo"



def _need_browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("playwright (PyPI) is not installed")


def _ensure_build():
    """Build the PWA once if static/dist is missing (npm ci + npm run build)."""
    if (DIST / "index.html").exists() and (DIST / "sw.js").exists():
        return
    npm = shutil.which("npm")
    if not npm:
        pytest.skip("npm is missing and static/dist is not built")
    if not (STATIC / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=STATIC, check=True)
    subprocess.run([npm, "run", "--silent", "build"], cwd=STATIC, check=True)


def _vapid_pair():
    try:
        from app.notify.webpush import generate_vapid_keypair

        return generate_vapid_keypair()
    except Exception:  # the backend may not offer it (yet)
        return None


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """Base URL of the real app with the demo data seeded."""
    _ensure_build()
    from app import create_app
    from app.extensions import db

    tmp = tmp_path_factory.mktemp("baton-e2e")
    config = _config(tmp)
    app = create_app(config)
    with app.app_context():
        db.create_all()
        from app.seed import seed_demo

        seed_demo()
        db.session.remove()
    yield from _serve(app)


def _config(tmp) -> dict:
    config = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'baton-e2e.db'}",
        "SECRET_KEY": "e2e-secret-key-that-is-long-enough-0123456789",
        "ATTACHMENT_DIR": str(tmp / "uploads"),
        "PASSWORD_HASH_TIME_COST": 1,
        "PASSWORD_HASH_MEMORY_COST": 1024,
        "PUSH_PROVIDER": "log",
    }
    pair = _vapid_pair()
    if pair:
        config["VAPID_PRIVATE_KEY"], config["VAPID_PUBLIC_KEY"] = pair
    return config


def _serve(app):
    """Serve `app` on a free port with the background jobs running beside it, as `flask serve` does."""
    from werkzeug.serving import make_server

    from app.extensions import db

    stop = threading.Event()

    def worker():
        try:
            from app.common.clock import utcnow
            from app.jobs import run_all_once
        except ImportError:
            return
        with app.app_context():
            while not stop.is_set():
                try:
                    run_all_once(now=utcnow(), config=app.config)
                except Exception:
                    db.session.rollback()
                db.session.remove()
                stop.wait(1.0)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    threads = [threading.Thread(target=server.serve_forever, daemon=True), threading.Thread(target=worker, daemon=True)]
    for t in threads:
        t.start()
    yield base
    stop.set()
    server.shutdown()


FRESH_ADMIN_PASSWORD = "first-admin-of-a-new-company-2026"


@pytest.fixture
def fresh_server(tmp_path, monkeypatch):
    """A new company's server: a database that never saw the demo, made by `flask setup` alone (the migrations
    themselves, then the first admin, signed in with FRESH_ADMIN_PASSWORD)."""
    _ensure_build()
    from app import create_app

    monkeypatch.setenv("VAPID_PRIVATE_KEY", "set-so-setup-writes-no-key-file")
    app = create_app(_config(tmp_path))
    result = app.test_cli_runner().invoke(args=["setup", "--password", FRESH_ADMIN_PASSWORD])
    assert result.exit_code == 0, result.output
    yield from _serve(app)


# ---------------------------------------------------------------- API helper (test side)
class Api:
    """Talks to the live server directly, to arrange data and check outcomes."""

    def __init__(self, base):
        self.base = base
        self.tokens = {}

    def call(self, method, path, body=None, login=None, key=None):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if login:
            headers["Authorization"] = f"Bearer {self.token(login)}"
        if key or method == "POST":
            headers["Idempotency-Key"] = key or str(uuid.uuid4())
        req = urllib.request.Request(self.base + "/api/v1" + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                raw = res.read()
                return res.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except ValueError:
                return err.code, None

    def token(self, login):
        if login not in self.tokens:
            status, body = self.call("POST", "/auth/login", {"login": login, "password": DEMO_PASSWORD})
            assert status == 200, body
            self.tokens[login] = body["token"]
        return self.tokens[login]

    def ok(self, method, path, body=None, login=None):
        status, data = self.call(method, path, body, login)
        assert 200 <= status < 300, (method, path, status, data)
        return data

    def me(self, login):
        return self.ok("GET", "/me", login=login)

    def has(self, method, path):
        """Whether the backend documents this operation (tests of unfinished parts skip)."""
        spec = getattr(self, "_spec", None)
        if spec is None:
            status, spec = self.call("GET", "/openapi.json")
            self._spec = spec = spec if status == 200 and spec else {"paths": {}}
        full = "/api/v1" + path
        for p, ops in spec.get("paths", {}).items():
            candidates = {p, "/api/v1" + p if not p.startswith("/api/") else p}
            norm = {c.replace("{", "<").replace("}", ">") for c in candidates}
            if full in candidates or any(_match(n, full) for n in norm):
                return method.lower() in ops
        return False

    def create_work_order(self, login, template, title, **extra):
        body = {"template": template, "title": title, "priority": extra.pop("priority", "P2"), "source": "app", **extra}
        return self.ok("POST", "/work-orders", body, login=login)

    def wait(self, predicate, timeout=20.0, interval=0.3):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"condition not met in {timeout}s (last: {last!r})")


def _match(pattern, path):
    a, b = pattern.strip("/").split("/"), path.strip("/").split("/")
    if len(a) != len(b):
        return False
    return all(x == y or (x.startswith("<") and x.endswith(">")) for x, y in zip(a, b))


@pytest.fixture(scope="session")
def api(live_server):
    return Api(live_server)


def require(api, method, path):
    if not api.has(method, path):
        pytest.skip(f"the backend does not offer {method} /api/v1{path} yet")


# ---------------------------------------------------------------- browsers
@pytest.fixture(scope="session")
def pw():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(pw):
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


class Phone:
    """One phone: a browser context at 390×844 with touch, and console-error tracking."""

    def __init__(self, browser, base, locale="en-US", device=None, **extra):
        self.base = base
        self.context = browser.new_context(base_url=base, locale=locale, **(device or PHONE), **extra)
        self.context.set_default_timeout(15000)
        self.errors = []
        self.page = self.context.new_page()
        self._watch(self.page)

    def _watch(self, page):
        def on_console(msg):
            if msg.type == "error":
                self.errors.append(msg.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def open(self, hash_path="/inbox"):
        self.page.goto(f"{self.base}/#{hash_path}")
        return self.page

    def sign_in(self, login, password=DEMO_PASSWORD):
        page = self.page
        page.goto(f"{self.base}/#/signin")
        page.locator("input[name=login]").fill(login)
        page.locator("input[name=password]").fill(password)
        page.locator("form.signin-form button[type=submit]").click()
        page.wait_for_function("() => location.hash.startsWith('#/inbox') || location.hash.startsWith('#/') && !location.hash.startsWith('#/signin')")
        page.locator(".tabbar .tab").first.wait_for()
        return page

    def wait_for_sw(self):
        """Wait until the service worker controls the page."""
        self.page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=20000)

    def js_errors(self):
        # Failed fetches while deliberately offline are expected noise; real script errors are not.
        return [e for e in self.errors if "Failed to load resource" not in e and "net::ERR_INTERNET_DISCONNECTED" not in e]

    def close(self):
        self.context.close()


@pytest.fixture
def phone_factory(browser, live_server):
    phones = []

    def make(**kw):
        p = Phone(browser, live_server, **kw)
        phones.append(p)
        return p

    yield make
    for p in phones:
        p.close()


@pytest.fixture
def phone(phone_factory):
    return phone_factory()


@pytest.fixture
def desktop(phone_factory):
    """A desktop browser (1280×800), as an admin uses the console."""
    return phone_factory(device=DESKTOP)


def shot(page, name):
    """Save a phone screenshot for the README (docs/screenshots/NAME.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
