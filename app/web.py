"""Non-API routes: health, the PWA from static/dist, the API docs page, and security headers on every response."""
import logging
import os
from pathlib import Path

from flask import Flask, abort, current_app, jsonify, request, send_from_directory
from sqlalchemy import text
from werkzeug.routing import PathConverter

from app.common import database
from app.extensions import db
from app.notify.links import open_link

log = logging.getLogger(__name__)

STATIC_DIST = Path(__file__).resolve().parent.parent / "static" / "dist"
DOCS_DIR = Path(__file__).resolve().parent / "docs"

# 'wasm-unsafe-eval' lets the barcode decoder (WebAssembly, served from our own /wasm/) compile; it allows no JavaScript
# eval. The camera (barcodes, photos) and the position (a location field, asked only on a tap) are for this origin only.
CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI sets inline styles; its page alone may use them.
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


class _PwaPathConverter(PathConverter):
    """Any path outside /api/, so that an unknown API URL is a 404 for every method, not a 405 from the PWA route."""

    regex = r"(?!api(?:/|$))[^/].*?"


def _swagger_assets() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def _database_answers() -> bool:
    # Twice: the first try may meet a pooled connection the server dropped; the pool reconnects for the second.
    for attempt in (1, 2):
        try:
            db.session.execute(text("SELECT 1"))
            return True
        except Exception as error:  # the point of a health check is to report, not to raise
            database.rollback_quietly(db.session)
            db.session.remove()
            if attempt == 2:
                log.warning("health check: database unavailable: %s", database.describe(error))
    return False


def _attachments_writable() -> bool | None:
    """Local attachment storage: the folder (or the nearest folder that exists above it) is writable. S3: not probed."""
    if current_app.config.get("ATTACHMENT_STORAGE", "local") != "local":
        return None
    folder = Path(current_app.config["ATTACHMENT_DIR"])
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def healthz():
    """Report what answers and what is down: 200 when everything checked is ok, else 503 naming what is down."""
    checks = {"database": _database_answers(), "attachments": _attachments_writable()}
    report = {name: "ok" if ok else "unavailable" for name, ok in checks.items() if ok is not None}
    down = sorted(name for name, state in report.items() if state != "ok")
    if not down:
        return jsonify({"status": "ok", **report})
    retry_after = str(current_app.config.get("DB_RETRY_AFTER_SECONDS", 5))
    return jsonify({"status": "unavailable", **report, "down": down}), 503, {"Retry-After": retry_after}


def init_app(app: Flask) -> None:
    app.url_map.converters["pwa_path"] = _PwaPathConverter
    app.add_url_rule("/healthz", view_func=healthz, methods=["GET"])
    # A chat card's or an SMS's signed link (docs/design.md §14): checked, then the app opens at it.
    app.add_url_rule("/l/<token>", view_func=open_link, methods=["GET"])

    @app.get("/api/docs")
    def api_docs():
        """Interactive API documentation (Swagger UI, served locally)."""
        return send_from_directory(DOCS_DIR, "index.html", max_age=0)

    @app.get("/api/docs/init.js")
    def api_docs_init():
        return send_from_directory(DOCS_DIR, "init.js", max_age=0)

    @app.get("/api/docs/assets/<path:filename>")
    def api_docs_assets(filename):
        if filename.endswith(".map"):
            abort(404)
        return send_from_directory(_swagger_assets(), filename, max_age=86400)

    @app.get("/")
    def pwa_index():
        return _serve_dist("index.html")

    @app.get("/<pwa_path:filename>")
    def pwa_file(filename):
        return _serve_dist(filename)

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "camera=(self), geolocation=(self), microphone=()")
        headers.setdefault("Content-Security-Policy", DOCS_CSP if request.path.startswith("/api/docs") else CSP)
        if current_app.config.get("PRODUCTION"):
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if request.path.startswith("/api/") and not request.path.startswith("/api/docs"):
            headers.setdefault("Cache-Control", "no-store")
        return response


def _serve_dist(filename: str):
    if not (STATIC_DIST / "index.html").exists():
        abort(404, description="The app is not built; run `make build` (npm run build in static/).")
    response = send_from_directory(STATIC_DIST, filename, max_age=0)
    if filename in ("index.html", "sw.js", "manifest.webmanifest"):
        response.headers["Cache-Control"] = "no-cache"
    if filename == "sw.js":
        response.headers["Service-Worker-Allowed"] = "/"
    return response
