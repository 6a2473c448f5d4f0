"""Capture in the field (docs/design.md §15), on both databases: `photos`, `signature`, `barcode` and `location`
form fields — templates that declare them say exactly what is wrong, completions that fill them are checked by
exact path, photos and signatures are images of this work order, and a scanned barcode is checked against the
work order."""
import io

import pytest

from tests.conftest import assert_error
from tests.workorders.conftest import Flow

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64

CAPTURE = [
    {"name": "batch_scan", "label": "Batch", "type": "barcode", "formats": ["code_128", "qr_code"], "must_match": "batch_no"},
    {"name": "photos", "label": "Photos", "type": "photos", "required": True, "min": 1, "max": 3},
    {"name": "signature", "label": "Signature", "type": "signature"},
    {"name": "position", "label": "Where", "type": "location"},
]


@pytest.fixture
def flow(client, auth, demo):
    return Flow(client, auth, demo)


def _capture_template(flow, key="capture", form=None):
    """One capture step for staff.wh1, then a check by driver.li that reads what was captured."""
    return flow.template({"key": key, "name": "Capture", "steps": [
        {"key": "capture", "title": "Capture", "assignees": {"users": [flow.demo.uid("staff.wh1")]}, "form": form or CAPTURE},
        {"key": "check", "title": "Check", "after": ["capture"], "assignees": {"users": [flow.demo.uid("driver.li")]}}]})


def _upload(flow, wo_id, content=PNG, name="photo.png", login="staff.wh1") -> int:
    response = flow.client.post(f"/api/v1/work-orders/{wo_id}/attachments", headers=flow.h(login),
                                data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json["id"]


def _complete(flow, wo, data, login="staff.wh1"):
    (task,) = flow.open_tasks(wo["id"], "capture")
    return flow.act(task["id"], "complete", login, data=data)


def _post_template(flow, steps, form=None):
    body = {"key": "bad", "name": "Bad", "steps": steps, **({"form": form} if form is not None else {})}
    return flow.client.post("/api/v1/templates", json=body, headers=flow.h("admin"))


# ---------------------------------------------------------------- templates

def test_a_template_keeps_the_capture_fields_and_their_options(flow):
    created = _capture_template(flow)
    form = created["steps"][0]["form"]
    assert [f["type"] for f in form] == ["barcode", "photos", "signature", "location"]
    assert form[0]["formats"] == ["code_128", "qr_code"] and form[0]["must_match"] == "batch_no"
    assert (form[1]["min"], form[1]["max"]) == (1, 3)
    # Fields of other types keep their stored shape: no barcode options appear on them.
    assert "formats" not in form[1] and "must_match" not in form[3]
    # An edit (PUT) takes them too.
    body = {"name": "Capture", "steps": [{**created["steps"][0], "form": [{**CAPTURE[0], "must_match": "lot"}]}]}
    edited = flow.client.put("/api/v1/templates/capture", json=body, headers=flow.h("admin"))
    assert edited.status_code == 200, edited.json
    assert edited.json["steps"][0]["form"][0]["must_match"] == "lot"


def test_template_options_that_do_not_fit_are_named_by_exact_path(flow):
    form = [
        {"name": "photos", "type": "photos", "min": 4, "max": 2},
        {"name": "many", "type": "photos", "max": 50},
        {"name": "half", "type": "photos", "min": 1.5},
        {"name": "note", "type": "text", "formats": ["qr_code"], "must_match": "batch_no"},
        {"name": "scan", "type": "barcode", "formats": ["qr_code", "morse"], "must_match": "batch no"},
        {"name": "self", "type": "barcode", "must_match": "self"},
        {"name": "where", "type": "location", "min": 0},
        {"name": "sig", "type": "signature", "max": 1},
    ]
    step = {"key": "a", "title": "A", "assignees": {"users": [flow.demo.uid("staff.wh1")]}, "form": form}
    err = assert_error(_post_template(flow, [step]), 422)
    details = err["details"]
    assert details["steps.0.form.0.min"] == ["cannot be more than max"]
    assert details["steps.0.form.1.max"] == ["a whole number of photos from 1 to 20"]
    assert details["steps.0.form.2.min"] == ["a whole number of photos from 0 to 20"]
    assert details["steps.0.form.3.formats"] == ["only a barcode field takes formats"]
    assert details["steps.0.form.3.must_match"] == ["only a barcode field takes must_match"]
    assert list(details["steps.0.form.4.formats.1"]) and "steps.0.form.4.formats.0" not in details
    assert "steps.0.form.4.must_match" in details
    assert details["steps.0.form.5.must_match"] == ["a barcode cannot be checked against itself: name a reference or another field"]
    assert details["steps.0.form.6.min"] == ["only number, integer and photos fields take min and max"]
    assert details["steps.0.form.7.max"] == ["only number, integer and photos fields take min and max"]
    assert len(details) == 10, details


def test_the_opening_form_cannot_require_images_or_check_a_barcode(flow):
    step = {"key": "a", "title": "A", "assignees": {"users": [flow.demo.uid("staff.wh1")]}}
    form = [{"name": "photos", "type": "photos", "required": True}, {"name": "sig", "type": "signature", "required": True},
            {"name": "scan", "type": "barcode", "must_match": "batch_no"}, {"name": "where", "type": "location", "required": True}]
    err = assert_error(_post_template(flow, [step], form), 422, "invalid_template")
    assert set(err["details"]) == {"form.0.required", "form.1.required", "form.2.must_match"}, err
    assert err["details"]["form.0.required"] == [
        "a photos field cannot be required when the work order is opened; ask for it in a step's form"]


def test_conditions_on_capture_fields_use_the_operators_that_fit(flow):
    wh1 = flow.demo.uid("staff.wh1")
    steps = [{"key": "a", "title": "A", "assignees": {"users": [wh1]}, "form": CAPTURE},
             {"key": "b", "title": "B", "after": ["a"], "assignees": {"users": [wh1]},
              "when": {"all": [{"field": "a.batch_scan", "op": "eq", "value": "B-1"}, {"field": "a.photos", "op": "empty", "value": False}]}},
             {"key": "c", "title": "C", "after": ["a"], "assignees": {"users": [wh1]},
              "when": {"any": [{"field": "a.position", "op": "eq", "value": 1}, {"field": "a.batch_scan", "op": "eq", "value": 7}]}}]
    err = assert_error(_post_template(flow, steps), 422)
    assert set(err["details"]) == {"steps.2.when.any.0.op", "steps.2.when.any.1.value"}, err
    assert err["details"]["steps.2.when.any.1.value"] == ["must be a text"]


# ---------------------------------------------------------------- completions

def test_each_capture_type_is_accepted_and_shown_to_the_next_handler(flow):
    _capture_template(flow)
    wo = flow.create("capture", login="admin", batch_no="B-MILK-A01")
    first, second = _upload(flow, wo["id"]), _upload(flow, wo["id"], JPEG, "second.jpg")
    signature = _upload(flow, wo["id"], name="signature.png")
    data = {"batch_scan": "B-MILK-A01", "photos": [first, second], "signature": signature,
            "position": {"lat": 31.2304, "lng": 121.4737, "accuracy": 12.5}}
    done = _complete(flow, wo, data)
    assert done.status_code == 200, done.json
    assert done.json["data"] == data
    (check,) = flow.open_tasks(wo["id"], "check")
    answer = flow.client.get(f"/api/v1/tasks/{check['id']}", headers=flow.h("driver.li")).json
    case = answer["case"]
    # The task carries its work order (number, references, data) and the steps before it with their attachments.
    assert answer["work_order"]["refs"] == {"batch_no": "B-MILK-A01"} and answer["work_order"]["number"] == wo["number"]
    assert {d["name"] for d in answer["work_order"]["data"]} >= {"photos", "signature"}
    (previous,) = answer["previous"]
    assert previous["step"] == "capture" and previous["completed_by"]["login"] == "staff.wh1"
    assert [a["id"] for a in previous["attachments"]] == [first, second, signature]
    assert all(a["view_url"] and a["size"] > 0 and a["filename"] and a["content_type"].startswith("image/")
               for a in previous["attachments"])
    shown = {d["name"]: d for d in case["earlier"][0]["data"]}
    assert shown["batch_scan"]["value"] == "B-MILK-A01" and shown["batch_scan"]["type"] == "barcode"
    assert [p["id"] for p in shown["photos"]["value"]] == [first, second]
    assert [p["content_type"] for p in shown["photos"]["value"]] == ["image/png", "image/jpeg"]
    assert all(flow.client.get(p["view_url"]).status_code == 200 for p in shown["photos"]["value"])
    assert shown["signature"]["value"]["id"] == signature and shown["signature"]["value"]["view_url"]
    assert shown["position"]["value"] == {"lat": 31.2304, "lng": 121.4737, "accuracy": 12.5}
    # What the step added joins the work order's data, shown the same way.
    merged = {d["name"]: d for d in case["data"]}
    assert [p["id"] for p in merged["photos"]["value"]] == [first, second]


@pytest.mark.parametrize("data,paths", [
    ({"photos": "x"}, {"data.photos"}),
    ({"photos": []}, {"data.photos"}),
    ({"photos": [1, "x", True]}, {"data.photos.1", "data.photos.2"}),
    ({"photos": [1, 2, 3, 4]}, {"data.photos"}),
    ({"photos": [1, 1]}, {"data.photos"}),
    ({"photos": [1], "signature": "drawn"}, {"data.signature"}),
    ({"photos": [1], "batch_scan": 12345}, {"data.batch_scan"}),
    ({"photos": [1], "batch_scan": "B" * 2001}, {"data.batch_scan"}),
    ({"photos": [1], "position": "here"}, {"data.position"}),
    ({"photos": [1], "position": {"lat": 91, "lng": -181, "accuracy": -1}},
     {"data.position.lat", "data.position.lng", "data.position.accuracy"}),
    ({"photos": [1], "position": {"lat": "31.2", "lng": True}}, {"data.position.lat", "data.position.lng", "data.position.accuracy"}),
    ({"photos": [1], "position": {"lat": 31.2, "lng": 121.4, "accuracy": 5, "altitude": 4}}, {"data.position.altitude"}),
])
def test_values_that_do_not_fit_are_refused_by_exact_path(flow, data, paths):
    _capture_template(flow)
    wo = flow.create("capture", login="admin", batch_no="B-1")
    err = assert_error(_complete(flow, wo, data), 422, "validation_error")
    assert set(err["details"]) == paths, err
    assert all(isinstance(m, list) and all(isinstance(x, str) for x in m) for m in err["details"].values())


def test_photo_counts_say_how_many(flow):
    _capture_template(flow, form=[{"name": "photos", "type": "photos", "min": 2, "max": 3}])
    wo = flow.create("capture", login="admin")
    ids = [_upload(flow, wo["id"]) for _ in range(4)]
    assert assert_error(_complete(flow, wo, {"photos": ids[:1]}), 422)["details"] == {"data.photos": ["at least 2 photos"]}
    assert assert_error(_complete(flow, wo, {"photos": ids}), 422)["details"] == {"data.photos": ["at most 3 photos"]}
    assert _complete(flow, wo, {"photos": []}).status_code == 200  # not required: none at all is fine


def test_photos_and_signatures_must_be_images_of_this_work_order(flow):
    _capture_template(flow)
    mine, other = flow.create("capture", login="admin", batch_no="B-1"), flow.create("capture", login="admin")
    own, theirs = _upload(flow, mine["id"]), _upload(flow, other["id"])
    pdf = _upload(flow, mine["id"], PDF, "report.pdf")
    err = assert_error(_complete(flow, mine, {"photos": [own, theirs, 999_999], "signature": theirs}), 422, "validation_error")
    assert err["details"] == {"data.photos.1": ["must be an image uploaded to this work order"],
                              "data.photos.2": ["must be an image uploaded to this work order"],
                              "data.signature": ["must be an image uploaded to this work order"]}
    err = assert_error(_complete(flow, mine, {"photos": [pdf], "signature": pdf}), 422)
    assert err["details"] == {"data.photos.0": ["must be an image (a photo or a drawing), not a document"],
                              "data.signature": ["must be an image (a photo or a drawing), not a document"]}
    assert flow.open_tasks(mine["id"], "capture")[0]["status"] == "open"
    # A photo a colleague uploaded to this work order is this work order's photo.
    colleague = _upload(flow, mine["id"], login="admin")
    assert _complete(flow, mine, {"photos": [own, colleague]}).status_code == 200


def test_a_scanned_batch_must_match_the_work_order(flow):
    _capture_template(flow)
    wo = flow.create("capture", login="admin", batch_no="B-MILK-A01")
    photo = _upload(flow, wo["id"])
    err = assert_error(_complete(flow, wo, {"photos": [photo], "batch_scan": "B-MILK-A02"}), 422, "barcode_mismatch")
    assert err["details"] == {"data.batch_scan": ["does not match the work order's batch_no"]}
    assert "does not match the work order" in err["message"]
    assert flow.open_tasks(wo["id"], "capture")[0]["status"] == "open"
    done = _complete(flow, wo, {"photos": [photo], "batch_scan": "B-MILK-A01"})
    assert done.status_code == 200, done.json


def test_a_barcode_can_match_a_key_of_the_work_orders_data(flow):
    form = [{"name": "lot", "type": "text"}]
    flow.template({"key": "lots", "name": "Lots", "form": form, "steps": [
        {"key": "capture", "title": "Capture", "assignees": {"users": [flow.demo.uid("staff.wh1")]},
         "form": [{"name": "scan", "type": "barcode", "required": True, "must_match": "lot"}]}]})
    wo = flow.create("lots", login="admin", data={"lot": "LOT-7"})
    err = assert_error(_complete(flow, wo, {"scan": "LOT-8"}), 422, "barcode_mismatch")
    assert err["details"] == {"data.scan": ["does not match the work order's lot"]}
    # Other problems come first, named as usual; the scan is compared once the form is otherwise sound.
    err = assert_error(_complete(flow, wo, {"scan": ""}), 422, "validation_error")
    assert list(err["details"]) == ["data.scan"]
    assert _complete(flow, wo, {"scan": "LOT-7"}).status_code == 200


def test_a_work_order_without_the_value_keeps_the_scan_as_read(flow):
    _capture_template(flow)
    wo = flow.create("capture", login="admin")  # no batch_no: nothing to check the scan against
    done = _complete(flow, wo, {"photos": [_upload(flow, wo["id"])], "batch_scan": "B-ANY"})
    assert done.status_code == 200 and done.json["data"]["batch_scan"] == "B-ANY"
