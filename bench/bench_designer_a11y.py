"""Lighthouse accessibility of the flow designer (docs/design.md §13): target 95 or more on every state audited.

    .venv/bin/python bench/bench_designer_a11y.py [--locales zh-CN,en] [--lighthouse /tmp/lh]

Lighthouse is not one of the app's dependencies and CI does not install it: install it outside the repository once,
`npm install --prefix /tmp/lh lighthouse` (its puppeteer-core comes with it), or say where it is with --lighthouse or
BATON_LIGHTHOUSE. The browser is Debian's Chromium (CHROME_PATH, default /usr/bin/chromium); nothing is downloaded.
Without Lighthouse, Chromium or a built PWA (static/dist) the benchmark says why and exits 0.

The app runs in this process on a throw-away SQLite database seeded with the demo (the complaint template gets a
second version, for the comparison dialog). For each language, designer_a11y.mjs walks a Lighthouse user flow as the
admin: the templates list and the recall template opened by navigation, then snapshots of a step's panel (its
condition rows, assignees, "Comes after"), a for_each step with the "otherwise" branch and the escalation timeline,
Simulate with "customer refused" drawn on the graph, and the version comparison dialog. Prints each state's score,
the audits that failed, and the lowest score. Exit status: 1 when a score is below 95 or the flow fails.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchlib import figure, machine, note  # noqa: E402

TARGET = 95
DEMO_PASSWORD = "baton-demo"
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "designer_a11y.mjs")


def _call(base: str, method: str, path: str, body=None, token: str | None = None):
    headers = {"Accept": "application/json", "Content-Type": "application/json", "Idempotency-Key": os.urandom(8).hex()}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"{base}/api/v1{path}", data=None if body is None else json.dumps(body).encode(),
                                 method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as res:
        raw = res.read()
        return json.loads(raw) if raw else None


def _serve(tmp: str):
    """The app on a free port over a seeded SQLite database: (base url, stop)."""
    from werkzeug.serving import make_server

    from app import create_app
    from app.extensions import db
    from app.seed import seed_demo

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{os.path.join(tmp, 'baton-a11y.db')}",
        "SECRET_KEY": "designer-a11y-bench-secret-key-0123456789abcdef",
        "ATTACHMENT_DIR": os.path.join(tmp, "uploads"),
        "PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_COST": 1024, "PUSH_PROVIDER": "log",
    })
    with app.app_context():
        db.create_all()
        seed_demo()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", server.shutdown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--locales", default="zh-CN,en")
    parser.add_argument("--lighthouse", default=os.environ.get("BATON_LIGHTHOUSE", "/tmp/lh"),
                        help="the npm prefix Lighthouse was installed into")
    args, _ = parser.parse_known_args()
    chrome = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    node = shutil.which("node")
    missing = [why for ok, why in (
        (os.path.exists(os.path.join(ROOT, "static", "dist", "index.html")), "the PWA is not built (cd static && npm run build)"),
        (os.path.exists(chrome), f"no Chromium at {chrome} (apt-get install chromium, or set CHROME_PATH)"),
        (node, "node is missing"),
        (os.path.exists(os.path.join(args.lighthouse, "node_modules", "lighthouse", "core", "index.js")),
         f"Lighthouse is not installed under {args.lighthouse} (npm install --prefix {args.lighthouse} lighthouse)"),
    ) if not ok]
    if missing:
        note(f"skipped: {'; '.join(missing)}")
        return 0
    version = json.load(open(os.path.join(args.lighthouse, "node_modules", "lighthouse", "package.json")))["version"]
    note(f"{machine()}; Lighthouse {version}; {subprocess.run([chrome, '--version'], capture_output=True, text=True).stdout.strip()}")

    lowest = 100
    with tempfile.TemporaryDirectory(prefix="baton-a11y-") as tmp:
        base, stop = _serve(tmp)
        try:
            token = _call(base, "POST", "/auth/login", {"login": "admin", "password": DEMO_PASSWORD})["token"]
            complaint = _call(base, "GET", "/templates/complaint", token=token)
            body = {k: complaint[k] for k in ("key", "name", "description", "priority", "classification", "owner_department_id", "form", "steps")}
            body["steps"][-1]["sla"] = "PT90M"
            _call(base, "PUT", "/templates/complaint", body, token=token)  # a second version, for "Compare versions"
            for locale in [x.strip() for x in args.locales.split(",") if x.strip()]:
                _call(base, "PATCH", "/me", {"locale": locale}, token=token)
                run = subprocess.run([node, SCRIPT, args.lighthouse, base, "admin", DEMO_PASSWORD], capture_output=True, text=True,
                                     env={**os.environ, "CHROME_PATH": chrome}, timeout=600)
                if run.returncode != 0:
                    print(run.stdout[-4000:], run.stderr[-4000:], sep="\n", file=sys.stderr)
                    note(f"the Lighthouse flow failed in {locale}")
                    return 1
                result = json.loads(run.stdout.strip().splitlines()[-1])
                for step in result["steps"]:
                    name = step["name"].replace(" ", "_").replace("(", "").replace(")", "").replace(",", "")
                    figure(f"designer_a11y_{locale}_{name}", step["score"], f"/ 100 ({len(step['audited'])} audits applied)")
                    if os.environ.get("BATON_A11Y_VERBOSE"):
                        note(f"  applied: {', '.join(sorted(step['audited']))}")
                    for audit in step["failing"]:
                        note(f"  {locale} {step['name']}: {audit['id']} — {audit['title']}: {' | '.join(audit['items'])[:300]}")
                    lowest = min(lowest, step["score"])
        finally:
            stop()
    figure("designer_a11y_lowest", lowest, f"/ 100 (target >= {TARGET})")
    return 0 if lowest >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
