"""Non-API routes: the PWA from static/dist, the API docs page, and security headers on every response."""
from pathlib import Path

from flask import Flask, abort, current_app, request, send_from_directory
from werkzeug.routing import PathConverter

STATIC_DIST = Path(__file__).resolve().parent.parent / "static" / "dist"
DOCS_DIR = Path(__file__).resolve().parent / "docs"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
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


def init_app(app: Flask) -> None:
    app.url_map.converters["pwa_path"] = _PwaPathConverter

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
        headers.setdefault("Permissions-Policy", "camera=(self), geolocation=(), microphone=()")
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
