"""The built PWA (static/dist): files, manifest, icons, service worker, size budget, CSP-safety."""
import json
import re
import struct

import pytest

from tests.e2e.conftest import DIST, _ensure_build


@pytest.fixture(scope="module", autouse=True)
def built():
    _ensure_build()


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_manifest_is_installable_shape():
    m = json.loads((DIST / "manifest.webmanifest").read_text())
    assert m["name"] and m["short_name"]
    assert m["start_url"] == "/" and m["scope"] == "/" and m["display"] == "standalone"
    assert re.fullmatch(r"#[0-9a-f]{6}", m["theme_color"]) and re.fullmatch(r"#[0-9a-f]{6}", m["background_color"])
    sizes = {(i["sizes"], i.get("purpose", "any")) for i in m["icons"]}
    assert ("192x192", "any") in sizes and ("512x512", "any") in sizes and ("512x512", "maskable") in sizes
    for icon in m["icons"]:
        w, h = png_size(DIST / icon["src"].lstrip("/"))
        assert f"{w}x{h}" == icon["sizes"]
    assert png_size(DIST / "icons" / "apple-touch-icon.png") == (180, 180)


def test_index_has_no_inline_script_or_style():
    html = (DIST / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, f"inline script: {tag}"
    assert not re.search(r"<script\b[^>]*>[^<]+</script>", html)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert 'rel="manifest"' in html and 'rel="apple-touch-icon"' in html


def test_bundles_avoid_eval():
    for js in list((DIST / "assets").glob("*.js")) + [DIST / "sw.js"]:
        text = js.read_text()
        assert not re.search(r"\beval\(", text), js.name
        assert "new Function(" not in text, js.name


def test_service_worker_precaches_the_shell_with_a_versioned_cache():
    sw = (DIST / "sw.js").read_text()
    assert "baton-shell-" in sw
    for path in ["/", "/manifest.webmanifest", "/icons/icon-192.png"]:
        assert json.dumps(path) in sw
    for asset in (DIST / "assets").iterdir():
        assert f'"/assets/{asset.name}"' in sw, f"{asset.name} is not precached"


def test_first_load_is_within_budget():
    stats = json.loads((DIST / "build-stats.json").read_text())
    first = stats["first_load"]
    assert first["within_budget"] and first["gzip_bytes"] < 150 * 1024
    html = (DIST / "index.html").read_text()
    for f in first["files"]:
        assert f["file"] in html, f"{f['file']} counted but not loaded by index.html"
    # the chart library is not part of the first load
    lazy_names = {f["file"] for f in stats["lazy"]}
    assert any(name.startswith("/assets/dashboard-") for name in lazy_names)
