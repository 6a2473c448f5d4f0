"""Photos and files seen in the app (docs/design.md §15), on both databases: answers that name an attachment give
their reader a short-lived link that works without a header (an <img> cannot send one), for that reader and that
attachment only, and only while the reader may see it."""
import io

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from app.workorders.attachments import VIEW_SALT, VIEW_SECONDS
from tests.conftest import assert_error
from tests.workorders.test_hardening import PNG


def _photo_flow(flow):
    wh1 = flow.demo.uid("staff.wh1")
    flow.template({"key": "photo", "name": "Photo", "steps": [
        {"key": "shoot", "title": "Shoot", "assignees": {"users": [wh1]}, "form": [{"name": "photo", "type": "attachment"}]},
        {"key": "check", "title": "Check", "after": ["shoot"], "assignees": {"users": [flow.demo.uid("driver.li")]}}]})
    wo = flow.create("photo", login="admin")
    up = flow.client.post(f"/api/v1/work-orders/{wo['id']}/attachments", headers=flow.h("staff.wh1"),
                          data={"file": (io.BytesIO(PNG), "shelf.png")}, content_type="multipart/form-data")
    assert up.status_code == 201, up.json
    flow.finish(wo["id"], "shoot", "staff.wh1", data={"photo": up.json["id"]})
    return wo, up.json["id"]


def test_the_next_handler_and_the_work_order_show_the_photo_through_a_link(flow):
    wo, photo = _photo_flow(flow)
    (check,) = flow.open_tasks(wo["id"], "check")
    case = flow.client.get(f"/api/v1/tasks/{check['id']}", headers=flow.h("driver.li")).json["case"]
    (value,) = case["earlier"][0]["data"]
    assert (value["value"]["id"], value["value"]["filename"], value["value"]["content_type"]) == (photo, "shelf.png", "image/png")
    link = value["value"]["view_url"]
    shown = flow.client.get(link)  # no Authorization header: what an <img> does
    assert shown.status_code == 200 and shown.mimetype == "image/png" and shown.data == PNG
    assert "sandbox" in shown.headers["Content-Security-Policy"]
    (listed,) = flow.detail(wo["id"])["attachments"]
    assert listed["id"] == photo and flow.client.get(listed["view_url"]).status_code == 200
    # The photo a step added to the work order's data is shown as the photo there too, labelled by its form.
    (merged,) = [d for d in case["data"] if d["name"] == "photo"]
    assert merged["type"] == "attachment" and merged["value"]["id"] == photo and merged["value"]["view_url"]


def test_a_link_is_for_one_reader_one_attachment_and_a_short_while(flow, app):
    wo, photo = _photo_flow(flow)
    (listed,) = flow.detail(wo["id"], login="admin")["attachments"]
    token = listed["view_url"].split("?t=", 1)[1]
    assert_error(flow.client.get(f"/api/v1/attachments/{photo}/view?t={token[:-2]}xx"), 401, "link_invalid")
    assert_error(flow.client.get(f"/api/v1/attachments/{photo + 1}/view?t={token}"), 401, "link_invalid")
    assert_error(flow.client.get(f"/api/v1/attachments/{photo}/view"), 422)

    class Then(TimestampSigner):  # the real signing, dated back past the link's life
        def get_timestamp(self):
            return super().get_timestamp() - VIEW_SECONDS - 5

    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=VIEW_SALT, signer=Then).dumps(
        [photo, flow.demo.uid("admin"), flow.demo.user("admin").session_version])
    assert_error(flow.client.get(f"/api/v1/attachments/{photo}/view?t={old}"), 401, "link_expired")
    # A reader who may not see the work order gets nothing from a link made for them.
    theirs = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=VIEW_SALT).dumps(
        [photo, flow.demo.uid("merchant.xu"), flow.demo.user("merchant.xu").session_version])
    assert_error(flow.client.get(f"/api/v1/attachments/{photo}/view?t={theirs}"), 404)
    # A password change ends the reader's links at once.
    r = flow.client.patch(f"/api/v1/users/{flow.demo.uid('admin')}", json={"password": "a-new-admin-password-2027"}, headers=flow.h("admin"))
    assert r.status_code == 200
    assert_error(flow.client.get(listed["view_url"]), 401, "link_invalid")
