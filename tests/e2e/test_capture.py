"""Capture in the field (docs/design.md §15) on a phone (390×844), through the demo complaint: the warehouse attaches
photos and scans the batch, the driver has the customer sign on the screen and records where the visit took place,
and customer service sees it all afterwards.

The barcode test feeds a generated Code 128 of the batch to a separate Chromium as its camera (a fake capture device
reading an MJPEG file). Debian's Chromium on Linux has no BarcodeDetector, so the scan goes through the zxing-wasm
decoder, whose .wasm the app serves itself: the test checks both.
"""
import io
import json
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, DIST, Phone, shot
from tests.e2e.helpers import outbox_entries, reset_outbox_entry_to_pending

BATCH = "B-MILK-A01"
SHANGHAI = {"latitude": 31.2304, "longitude": 121.4737, "accuracy": 18}


def _jpeg(path, shade):
    """A small photo stand-in (a gradient), as a phone's camera would give one."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((480, 360)).convert("RGB")
    image.paste((shade, 90, 160), (0, 0, 160, 120))
    image.save(path, "JPEG", quality=85)
    return str(path)


def _barcode_video(path, text):
    """A Code 128 of `text` as the camera's picture: an MJPEG file of identical JPEG frames (640×480)."""
    import barcode
    from barcode.writer import ImageWriter
    from PIL import Image

    drawn = io.BytesIO()
    barcode.get("code128", text, writer=ImageWriter()).write(drawn, options={
        "module_width": 0.4, "module_height": 18, "quiet_zone": 4, "font_size": 10, "text_distance": 4, "dpi": 200})
    code = Image.open(io.BytesIO(drawn.getvalue())).convert("RGB")
    code.thumbnail((600, 400))
    frame = Image.new("RGB", (640, 480), "white")
    frame.paste(code, ((640 - code.width) // 2, (480 - code.height) // 2))
    frames = io.BytesIO()
    for _ in range(30):
        frame.save(frames, "JPEG", quality=90)
    path.write_bytes(frames.getvalue())
    return str(path)


def _complaint(api, title, batch_no, handler):
    """A complaint accepted by customer service, its warehouse check claimed by `handler`."""
    wo = api.create_work_order("lead.cs", "complaint", title, batch_no=batch_no, order_no="SO-E2E-CAPTURE")
    api.ok("POST", f"/tasks/{wo['tasks'][0]['id']}/complete", {"outcome": "accepted"}, login="cs.agent1")
    return wo, _claim(api, wo, "warehouse_check", handler)


def _claim(api, wo, step, login):
    task = next(t for t in api.ok("GET", f"/work-orders/{wo['id']}", login="lead.cs")["tasks"] if t["step"] == step)
    api.ok("POST", f"/tasks/{task['id']}/claim", {}, login=login)
    return task


def _outcome(page, value):
    page.locator("label.choice", has=page.locator(f"input[value={value}]")).click()


def _submit(page):
    page.locator(".action-bar button[type=submit]").click()


def _completed(api, task_id, login="lead.cs"):
    return api.wait(lambda: (lambda t: t if t["status"] == "completed" else None)(api.ok("GET", f"/tasks/{task_id}", login=login)))


def _draw(page, canvas):
    """Sign with the mouse: two strokes across the pad."""
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    for row in (0.35, 0.65):
        page.mouse.move(x + w * 0.15, y + h * row)
        page.mouse.down()
        for step in range(1, 13):
            page.mouse.move(x + w * (0.15 + 0.06 * step), y + h * (row + (0.12 if step % 2 else -0.12)), steps=2)
        page.mouse.up()


def test_photos_signature_and_position_are_captured_and_seen_afterwards(phone_factory, api, tmp_path):
    for login in ("staff.wh2b", "driver.chen", "cs.agent2"):
        api.ok("PATCH", "/me", {"locale": "en"}, login=login)
    wo, check = _complaint(api, "E2E capture: crushed milk crates", BATCH, "staff.wh2b")

    # The warehouse: two photos, chosen at once, downscaled on the phone and shown with a way to remove each.
    staff = phone_factory()
    page = staff.sign_in("staff.wh2b")
    staff.open(f"/task/{check['id']}")
    photos = page.locator(".capture-photos")
    expect(photos).to_contain_text("Photos of the goods")
    photos.locator("input[type=file][multiple]").set_input_files([_jpeg(tmp_path / "a.jpg", 200), _jpeg(tmp_path / "b.jpg", 40)])
    expect(photos.locator(".capture-thumb img")).to_have_count(2)
    expect(photos.locator(".capture-count")).to_have_text("2 of 6")
    expect(page.locator(".photo-field")).to_have_count(0)  # the step's photos field is the only photo button
    _outcome(page, "stock_damaged")
    page.locator("textarea[name=findings]").fill("Two crates crushed on the bottom row.")
    _submit(page)
    expect(page).to_have_url(re.compile(r"#/inbox"))
    done = _completed(api, check["id"])
    assert len(done["data"]["photos"]) == 2 and "batch_scan" not in done["data"], done["data"]
    files = {a["id"]: a for a in api.ok("GET", f"/work-orders/{wo['id']}", login="lead.cs")["attachments"]}
    assert [files[i]["content_type"] for i in done["data"]["photos"]] == ["image/jpeg", "image/jpeg"]

    # The driver: sees the warehouse's photos (full screen on a tap), has the customer sign, records the position.
    visit = _claim(api, wo, "driver_visit", "driver.chen")
    driver = phone_factory(permissions=["geolocation"], geolocation=SHANGHAI)
    page = driver.sign_in("driver.chen")
    driver.open(f"/task/{visit['id']}")
    earlier = page.locator(".section", has=page.locator("#sec-earlier"))
    expect(earlier.locator(".thumb img")).to_have_count(2)
    earlier.locator(".thumb").first.click()
    expect(page.locator("dialog.viewer .viewer-img")).to_be_visible()
    page.locator("dialog.viewer .viewer-close").click()
    expect(page.locator("dialog.viewer")).to_have_count(0)

    signature = page.locator(".capture-signature")
    expect(signature).to_have_attribute("data-ready", "true")
    signature.locator("canvas").evaluate("(canvas) => canvas.scrollIntoView({ block: 'center' })")  # clear of the action bar
    _draw(page, signature.locator("canvas"))
    expect(signature.get_by_role("button", name="Undo stroke")).to_be_enabled()
    signature.get_by_role("button", name="Undo stroke").click()  # the second stroke goes, the first stays
    expect(signature).to_have_class(re.compile(r"\bis-signed\b"))

    location = page.locator(".capture-location")
    expect(location.locator(".location-value")).to_be_empty()  # never taken without a tap
    location.get_by_role("button", name="Use my position").click()
    expect(location.locator(".location-value")).to_contain_text("31.230400, 121.473700 (± 18 m)")
    link = location.locator("a", has_text="Open in map")
    expect(link).to_have_attribute("href", "https://uri.amap.com/marker?position=121.473700,31.230400&coordinate=wgs84&src=baton")
    shot(page, "capture-driver-visit")
    _submit(page)
    expect(page).to_have_url(re.compile(r"#/inbox"))
    done = _completed(api, visit["id"])
    assert done["data"]["visit_location"] == {"lat": 31.2304, "lng": 121.4737, "accuracy": 18}
    files = {a["id"]: a for a in api.ok("GET", f"/work-orders/{wo['id']}", login="lead.cs")["attachments"]}
    assert files[done["data"]["customer_signature"]]["content_type"] == "image/png"

    # Customer service, closing the case, sees the photos, the signature itself and where the visit was.
    close = _claim(api, wo, "close", "cs.agent2")
    desk = phone_factory()
    page = desk.sign_in("cs.agent2")
    desk.open(f"/task/{close['id']}")
    earlier = page.locator(".section", has=page.locator("#sec-earlier"))
    expect(earlier.locator(".thumb img")).to_have_count(3)  # two photos and the signature
    signed = earlier.locator(".captured-signature img")
    expect(signed).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=signed.element_handle())
    expect(earlier.locator(".captured-location")).to_contain_text("31.230400, 121.473700 (± 18 m)")
    expect(earlier.locator(".captured-location a")).to_have_attribute("href", re.compile(r"^https://uri\.amap\.com/marker\?"))
    for p in (staff, driver, desk):
        assert p.js_errors() == [], p.js_errors()


def test_photos_taken_offline_are_sent_once_the_phone_is_back(phone_factory, api, tmp_path):
    """Photos wait in the outbox with the completion; back online each is uploaded once (its own key, kept on a
    replay), then the completion names them."""
    api.ok("PATCH", "/me", {"locale": "en"}, login="staff.wh2")
    wo, check = _complaint(api, "E2E capture: photos offline", BATCH, "staff.wh2")
    staff = phone_factory()
    page = staff.sign_in("staff.wh2")
    staff.wait_for_sw()
    staff.open(f"/task/{check['id']}")
    expect(page.locator(".capture-photos")).to_be_visible()
    page.wait_for_load_state("networkidle")

    staff.context.set_offline(True)
    expect(page.locator(".banner-offline")).to_be_visible()
    page.locator(".capture-photos input[type=file][multiple]").set_input_files(
        [_jpeg(tmp_path / "c.jpg", 120), _jpeg(tmp_path / "d.jpg", 250)])
    expect(page.locator(".capture-thumb")).to_have_count(2)
    _outcome(page, "stock_ok")
    page.locator("textarea[name=findings]").fill("Checked offline in the cold room.")
    _submit(page)
    expect(page.locator(".toast").last).to_contain_text("Saved on this phone")
    [entry] = [e for e in outbox_entries(page) if e["task_id"] == check["id"] and e["kind"] == "complete"]
    assert entry["status"] == "pending"
    assert api.ok("GET", f"/tasks/{check['id']}", login="lead.cs")["status"] == "claimed"

    staff.context.set_offline(False)
    done = _completed(api, check["id"])
    assert len(done["data"]["photos"]) == 2, done["data"]
    api.wait(lambda: any(e["id"] == entry["id"] and e["status"] == "done" for e in outbox_entries(page)), timeout=30)
    # A lost answer replays the entry with the same keys: no second copy of either photo, no second completion.
    reset_outbox_entry_to_pending(page, entry["id"])
    page.reload()
    api.wait(lambda: any(e["id"] == entry["id"] and e["status"] == "done" for e in outbox_entries(page)), timeout=30)
    detail = api.ok("GET", f"/work-orders/{wo['id']}", login="lead.cs")
    assert sorted(a["id"] for a in detail["attachments"]) == sorted(done["data"]["photos"])
    assert [e["kind"] for e in detail["timeline"] if e.get("task_id") == check["id"]].count("completed") == 1
    assert staff.js_errors() == [], staff.js_errors()


def test_a_refused_position_leaves_the_field_empty(phone_factory, api):
    api.ok("PATCH", "/me", {"locale": "en"}, login="driver.wang")
    wo, check = _complaint(api, "E2E capture: no position", BATCH, "staff.wh1")
    api.ok("POST", f"/tasks/{check['id']}/complete", {"outcome": "stock_ok", "data": {"findings": "ok"}}, login="staff.wh1")
    visit = _claim(api, wo, "driver_visit", "driver.wang")
    driver = phone_factory()
    # The person answers "Don't allow" to the browser's question (what the browser then tells the page).
    driver.context.add_init_script("""navigator.geolocation.getCurrentPosition = (ok, fail) =>
        setTimeout(() => fail({ code: 1, PERMISSION_DENIED: 1, message: 'User denied Geolocation' }), 50);""")
    page = driver.sign_in("driver.wang")
    driver.open(f"/task/{visit['id']}")
    location = page.locator(".capture-location")
    location.get_by_role("button", name="Use my position").click()
    expect(location.locator(".location-value")).to_have_text("You did not allow your position, so the field stays empty.")
    expect(location.get_by_role("button", name="Clear position")).to_be_hidden()
    _submit(page)
    done = _completed(api, visit["id"])
    assert "visit_location" not in done["data"]


@pytest.fixture
def camera_phone(pw, live_server, tmp_path):
    """A phone whose camera shows a Code 128 of the demo batch: its own Chromium, with a fake capture device."""
    video = _barcode_video(tmp_path / "batch.mjpeg", BATCH)
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + [
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={video}"])
    phone = Phone(browser, live_server, locale="zh-CN", permissions=["camera"])
    yield phone
    phone.close()
    browser.close()


def test_a_batch_is_scanned_with_the_camera_and_checked_against_the_work_order(camera_phone, api):
    api.ok("PATCH", "/me", {"locale": "zh-CN"}, login="staff.wh1b")
    page = camera_phone.sign_in("staff.wh1b")
    camera_phone.wait_for_sw()
    # This Chromium has no BarcodeDetector: the scan below is read by zxing-wasm.
    assert page.evaluate("() => 'BarcodeDetector' in window") is False
    fetched = []
    page.on("request", lambda request: fetched.append(request.url))
    page.evaluate("""() => { window.scannerSheets = 0; new MutationObserver((changes) => { for (const c of changes)
        for (const n of c.addedNodes) if (n.matches && n.matches('dialog.scanner')) window.scannerSheets += 1; })
        .observe(document.body, { childList: true }); }""")

    def scan(task):
        camera_phone.open(f"/task/{task['id']}")
        field = page.locator(".capture-barcode")
        expect(field).to_contain_text("扫描批次码")
        opened = page.evaluate("() => window.scannerSheets")
        field.get_by_role("button", name="扫码").click()
        expect(field.locator("input")).to_have_value(BATCH, timeout=30000)  # read from the camera, not typed
        assert page.evaluate("() => window.scannerSheets") == opened + 1  # in the camera sheet (it may close quickly)
        expect(page.locator("dialog.scanner")).to_have_count(0)  # the sheet closes and lets go of the camera
        read = field.locator(".barcode-read")
        expect(read).to_have_attribute("data-engine", "zxing")
        expect(read).to_contain_text(f"已读取：{BATCH}（Code 128）")
        _outcome(page, "stock_damaged")
        page.locator("textarea[name=findings]").fill("批次已扫描")
        return field, read

    # A work order about another batch: the phone warns at once, and the server refuses it in the reader's words.
    _, wrong_check = _complaint(api, "E2E 扫码：批次不符", "B-MILK-A02", "staff.wh1b")
    field, read = scan(wrong_check)
    expect(read).to_contain_text("与工单的批次不符，请核对货物。")
    _submit(page)
    expect(page.locator(".complete-form .form-error")).to_have_text("扫描的条码与工单不符，请核对后重新扫描。")
    expect(field.locator(".field-error")).to_have_text("与工单的批次不符，请核对货物。")
    expect(page.locator(".action-bar button[type=submit]")).to_be_enabled()
    expect(page.locator(".action-bar button[type=submit]")).not_to_have_text("正在发送…")  # says what it does again
    field.evaluate("(el) => el.scrollIntoView({ block: 'center' })")
    shot(page, "capture-barcode-mismatch")
    assert api.ok("GET", f"/tasks/{wrong_check['id']}", login="lead.cs")["status"] == "claimed"

    # The right batch goes through, and is kept as read.
    _, right_check = _complaint(api, "E2E 扫码：批次相符", BATCH, "staff.wh1b")
    field, read = scan(right_check)
    expect(read).not_to_contain_text("不符")
    _submit(page)
    expect(page).to_have_url(re.compile(r"#/inbox"))
    assert _completed(api, right_check["id"])["data"]["batch_scan"] == BATCH

    # The decoder came from this server, never from a CDN, and only once it was needed.
    wasm = [url for url in fetched if url.endswith(".wasm")]
    assert wasm and all(url.startswith(f"{camera_phone.base}/wasm/zxing_reader-") for url in wasm), wasm
    assert not [url for url in fetched if "jsdelivr" in url or "unpkg" in url], fetched
    # Not precached (it is about 1 MB), but kept by the service worker once used: the next scan works offline.
    precache = json.loads(re.search(r'\[(?:"[^"]*",)*"/manifest\.webmanifest"(?:,"[^"]*")*\]', (DIST / "sw.js").read_text()).group(0))
    assert "/" in precache and not [url for url in precache if url.endswith(".wasm")], precache
    kept = api.wait(lambda: page.evaluate("async () => (await (await caches.open('baton-wasm')).keys()).map((r) => r.url)"))
    assert [url.split("/wasm/")[1] for url in kept] == [wasm[0].split("/wasm/")[1]], kept
    assert camera_phone.js_errors() == [], camera_phone.js_errors()
