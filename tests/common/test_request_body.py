"""Bodies no view could handle are refused before any view runs: lone surrogates, deep nesting, huge numbers,
oversized or broken chunked bodies; and ids beyond 32 bits name nothing, wherever they are sent."""
import io
import json

import pytest
from gunicorn.http.errors import InvalidChunkSize
from sqlalchemy import func, select

from app.extensions import db
from app.org.models import Group
from tests.conftest import assert_error

V1 = "/api/v1"
MAX_ID = 2**31 - 1
# Parsing happens before storage; one backend is enough where nothing reaches the database.
http_only = pytest.mark.parametrize("backend", ["sqlite"])


def _post_raw(client, path, raw: str, headers=None):
    return client.post(path, data=raw.encode(), content_type="application/json", headers=headers or {})


def _groups():
    return db.session.scalar(select(func.count()).select_from(Group))


def test_a_lone_surrogate_anywhere_in_a_json_body_is_422_naming_the_field(client, auth, demo):
    # Before signing in: the login endpoint encoded the surrogate and failed with a 500.
    err = assert_error(_post_raw(client, f"{V1}/auth/login", '{"login": "\\ud800", "password": "x"}'), 422, "validation_error")
    assert list(err["details"]) == ["login"]
    admin = auth.headers("admin")
    err = assert_error(_post_raw(client, f"{V1}/groups", '{"name": "ok", "description": "a\\uDFFFb"}', admin), 422)
    assert list(err["details"]) == ["description"]
    err = assert_error(_post_raw(client, f"{V1}/templates", '{"key": "t1", "name": "T", "steps": [{"key": "a", "title": "x"},'
                                                          ' {"key": "b", "title": "\\udbff"}]}', admin), 422)
    assert err["details"] == {"steps": {"1": {"title": [err["details"]["steps"]["1"]["title"][0]]}}}
    err = assert_error(_post_raw(client, f"{V1}/groups", '{"name": "ok", "\\ud800": 1}', admin), 422)
    assert list(err["details"]) == ["\\ud800"]  # a key is named as it was escaped
    err = assert_error(_post_raw(client, f"{V1}/groups", '"\\ud800"', admin), 422)
    assert list(err["details"]) == ["_schema"]
    # A surrogate pair is a character (clients that escape everything send emoji so); an escaped backslash is text.
    assert _post_raw(client, f"{V1}/groups", '{"name": "pair \\ud83d\\ude00"}', admin).status_code == 201
    assert _post_raw(client, f"{V1}/groups", '{"name": "not one \\\\ud800"}', admin).status_code == 201
    assert sorted(db.session.scalars(select(Group.name))) == ["not one \\ud800", "pair \U0001F600"]


@http_only
def test_surrogates_in_paths_and_query_strings_never_reach_a_view(client, auth, demo):
    admin = auth.headers("admin")
    for query in ("%ED%A0%80", "%uD800", "%F0%9F%98%80"):  # UTF-8 of U+D800 (invalid), IIS's escape, a real emoji
        r = client.get(f"{V1}/users?q={query}", headers=admin)
        assert r.status_code == 200, (query, r.status_code)
        assert_error(client.get(f"{V1}/templates/{query}", headers=admin), 404, "not_found")
        assert_error(client.get(f"{V1}/products/{query}", headers=admin), 404)


@http_only
def test_json_nested_deeper_than_the_limit_is_400_before_parsing(client, auth, demo, app):
    admin = auth.headers("admin")
    limit = app.config["MAX_JSON_DEPTH"]
    for raw in ('{"name": "x", "description": ' + "[" * 1000 + "]" * 1000 + "}", "[" * 100_000 + "]" * 100_000,
                '{"a":' * 5000 + "1" + "}" * 5000, "[" * 100_000):  # the last one also unterminated
        err = assert_error(_post_raw(client, f"{V1}/groups", raw, admin), 400, "malformed_json")
        assert err["details"] == {"max_depth": limit}
    err = assert_error(_post_raw(client, f"{V1}/auth/login", "[" * 2000 + "]" * 2000), 400, "malformed_json")
    # At the limit the body is parsed, and the schema answers; past it, it is not.
    at_limit = '{"name": "x", "description": ' + "[" * (limit - 1) + "]" * (limit - 1) + "}"
    err = assert_error(_post_raw(client, f"{V1}/groups", at_limit, admin), 422, "validation_error")
    assert "description" in err["details"]
    past = '{"name": "x", "description": ' + "[" * limit + "]" * limit + "}"
    assert_error(_post_raw(client, f"{V1}/groups", past, admin), 400, "malformed_json")
    # Brackets inside strings are text, whatever the escapes around them; outside, they count.
    r = client.post(f"{V1}/groups", json={"name": "[{" * 100, "description": '\\"' + "]}" * 500 + '\\'}, headers=admin)
    assert r.status_code == 201, r.json
    hidden = '{"name": "x\\\\", "description": ' + "[" * 100 + "]" * 100 + "}"  # the string ends at its escaped backslash
    assert_error(_post_raw(client, f"{V1}/groups", hidden, admin), 400, "malformed_json")
    assert _groups() == 1


@http_only
def test_json_in_utf16_cannot_slip_past_the_depth_and_surrogate_checks(client, auth, demo):
    admin = auth.headers("admin")
    # In UTF-16 the escaped quote's backslash and quote are two bytes apart: a byte-level scan would take the quote
    # for the end of the string, and the 5,000 brackets after it for text.
    deep = ('["\\"", ' + "[" * 5000 + "]" * 5000 + "]").encode("utf-16")
    wo = client.post(f"{V1}/work-orders/1/attachments", data=deep, content_type="application/json", headers=admin)
    assert_error(wo, 400, "malformed_json")
    surrogate = '{"name": "\\ud800 g", "members": []}'.encode("utf-16-le")
    assert_error(client.post(f"{V1}/groups", data=surrogate, content_type="application/json", headers=admin), 400, "malformed_json")
    assert _groups() == 0


def test_a_number_longer_than_python_parses_is_400(client, auth, demo):
    admin = auth.headers("admin")
    err = assert_error(_post_raw(client, f"{V1}/groups", '{"name": "g", "members": [' + "9" * 5000 + "]}", admin), 400)
    assert err["code"] == "malformed_json"
    # The same digits as text are just text: parsed, and judged by the schema (2,000 characters at most).
    err = assert_error(client.post(f"{V1}/groups", json={"name": "g", "description": "9" * 5000}, headers=admin), 422)
    assert list(err["details"]) == ["description"]


@http_only
def test_json_bodies_are_limited_to_max_json_bytes(client, auth, demo, app, monkeypatch):
    admin = auth.headers("admin")
    monkeypatch.setitem(app.config, "MAX_JSON_BYTES", 2000)
    assert_error(client.post(f"{V1}/groups", json={"name": "big", "description": "x" * 3000}, headers=admin), 413,
                 "payload_too_large")
    assert client.post(f"{V1}/groups", json={"name": "small", "description": "x" * 1000}, headers=admin).status_code == 201


class _BrokenChunks(io.RawIOBase):
    """What gunicorn's chunked body reader does with a bad chunk size: raise while the app reads."""

    def readable(self):
        return True

    def readinto(self, buffer):
        raise InvalidChunkSize(b"ZZ")


def _chunked(client, path, stream, headers):
    """A request as a WSGI server hands over a chunked body: no Content-Length, wsgi.input_terminated."""
    return client.post(path, content_type="application/json", headers=headers, environ_overrides={
        "wsgi.input": stream, "wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})


@http_only
def test_chunked_bodies_over_the_limit_are_413_and_broken_ones_400(client, auth, demo, app, monkeypatch):
    admin = auth.headers("admin")
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    body = json.dumps({"name": "big", "description": "x" * 5000}).encode()
    assert_error(_chunked(client, f"{V1}/groups", io.BytesIO(body), admin), 413, "payload_too_large")  # was 400 malformed_json
    assert_error(_chunked(client, f"{V1}/auth/login", io.BytesIO(body), {}), 413, "payload_too_large")
    err = assert_error(_chunked(client, f"{V1}/groups", _BrokenChunks(), admin), 400, "malformed_body")  # was a 500
    assert "framing" in err["message"]
    exactly = json.dumps({"name": "exact", "description": "y" * 100}).encode()
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", len(exactly))
    assert _chunked(client, f"{V1}/groups", io.BytesIO(exactly), admin).status_code == 201  # at the limit is fine
    assert [g for g in db.session.scalars(select(Group.name))] == ["exact"]


def test_ids_beyond_32_bits_in_a_path_are_404_like_any_missing_id(client, auth, demo):
    admin = auth.headers("admin")
    for big in (MAX_ID + 1, 99_999_999_999, 10**20, "9" * 5000):
        for method, path in (("get", f"/work-orders/{big}"), ("get", f"/users/{big}"), ("patch", f"/departments/{big}"),
                             ("post", f"/tasks/{big}/claim"), ("post", f"/work-orders/{big}/cancel"),
                             ("delete", f"/api-keys/{big}"), ("get", f"/andon/{big}")):
            r = getattr(client, method)(V1 + path, json={} if method != "get" else None, headers=admin)
            assert_error(r, 404, "not_found")
    assert_error(client.get(f"{V1}/work-orders/{MAX_ID}", headers=admin), 404, "not_found")  # in range, missing


def test_ids_beyond_32_bits_in_a_body_or_query_are_422_naming_the_field(client, auth, demo):
    admin = auth.headers("admin")
    staff = demo.uid("staff.wh1")
    for big in (MAX_ID + 1, 99_999_999_999, -(2**31) - 1):
        err = assert_error(client.post(f"{V1}/groups", json={"name": "g", "members": [staff, big]}, headers=admin), 422)
        assert list(err["details"]) == ["members.1"] and err["details"]["members.1"]
        body = {"code": "X1", "name": "x", "parent_id": big}
        err = assert_error(client.post(f"{V1}/departments", json=body, headers=admin), 422)
        assert list(err["details"]) == ["parent_id"]
        err = assert_error(client.patch(f"{V1}/me", json={"delegate_id": big}, headers=admin), 422)
        assert list(err["details"]) == ["delegate_id"]
        err = assert_error(client.get(f"{V1}/users?department_id={big}", headers=admin), 422)
        assert list(err["details"]) == ["department_id"]
        body = {"key": "big_ids", "name": "Big ids", "steps": [{"key": "a", "title": "A", "assignees": {"users": [big]}}]}
        err = assert_error(client.post(f"{V1}/templates", json=body, headers=admin), 422)
        assert list(err["details"]) == ["steps.0.assignees.users.0"] and err["details"]["steps.0.assignees.users.0"]
    assert _groups() == 0
    # Text that only looks like an integer to str.isdigit(), or spells a big one with underscores.
    for odd in ("+-5", "²", "2_147_483_648", "9" * 40):
        r = client.get(f"{V1}/work-orders", query_string={"department_id": odd}, headers=admin)
        err = assert_error(r, 422)
        assert list(err["details"]) == ["department_id"], (odd, err)
    # In range is an ordinary id: a missing one is the service's own answer.
    r = client.get(f"{V1}/users?department_id={MAX_ID}", headers=admin)
    assert r.status_code == 200 and r.json["items"] == []


@http_only
def test_the_openapi_document_says_ids_are_32_bit(client):
    spec = client.get(f"{V1}/openapi.json").json
    parameter = next(p for p in spec["paths"][f"{V1}/work-orders/{{work_order_id}}"]["get"].get("parameters", [])
                     + spec["paths"][f"{V1}/work-orders/{{work_order_id}}"].get("parameters", []) if p["in"] == "path")
    assert parameter["schema"] == {"type": "integer", "minimum": 0, "maximum": MAX_ID}
