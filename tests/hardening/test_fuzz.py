"""Property-based fuzzing of the whole API from its own OpenAPI document (docs/design.md §9).

Schemathesis generates valid and invalid requests for every documented operation and sends them
through the WSGI app (no network), signed in as each kind of caller. Each answer must:
no 5xx on any input; a status the document allows; a body matching the documented schema; and
every 4xx in the error format {"error": {"code", "message", "details"}}. Beside it, every operation is sent, as
each caller, what the generator does not produce: lone surrogates, JSON nested 1,000 deep, oversized chunked bodies.

`make test` runs a bounded, deterministic pass on SQLite; `make fuzz` sets BATON_FUZZ_EXAMPLES
(and BATON_FUZZ_SEED) for a long, random one.
"""
import io
import json
import os

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select, update

from app import create_app
from app.extensions import db
from tests.conftest import FAST_HASH
from tests.hardening import world as worlds

EXAMPLES = int(os.environ.get("BATON_FUZZ_EXAMPLES", "6"))
# The bounded pass is deterministic so that it cannot flake; `make fuzz` asks for random data (or a given seed).
RANDOM = os.environ.get("BATON_FUZZ_RANDOM") == "1"
SEED = int(os.environ["BATON_FUZZ_SEED"]) if os.environ.get("BATON_FUZZ_SEED") else (None if RANDOM else 20261101)

ROLES = ("admin", "lead.cs", "staff.wh1", "quality.qa", "api-key")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Also insist that every schema-violating request is refused. marshmallow accepts some values JSON Schema does not
# (0/1 for booleans, "5" for integers), so this reports leniency, not faults: opt in with BATON_FUZZ_STRICT=1.
if os.environ.get("BATON_FUZZ_STRICT") == "1":
    CHECKS.append(negative_data_rejection)

CONFIG = schemathesis.Config.from_dict({
    **({"seed": SEED} if SEED is not None else {}),
    "generation": {
        "max-examples": EXAMPLES,
        "deterministic": not RANDOM,
        "database": "none",  # nothing written under .hypothesis/ in the repository
        "mode": "all",  # valid and invalid data
    },
    # The coverage phase alone sends hundreds of boundary cases per operation: `make fuzz` only.
    "phases": {"coverage": {"enabled": EXAMPLES > 50}, "stateful": {"enabled": False}},
    "suppress-health-check": ["all"],
})


class FuzzWorld:
    """The seeded world plus a way to keep each role's credentials working whatever the fuzzer did."""

    def __init__(self, app, world):
        self.app = app
        self.world = world
        from app.org.models import User

        self.users = {login: db.session.scalar(select(User).where(User.login == login)) for login in ROLES if login != "api-key"}
        self.roles = {login: list(user.roles) for login, user in self.users.items()}
        self._fresh: dict[str, dict] = {}

    def headers(self, role: str) -> dict:
        """Fresh credentials: the fuzzer may have deactivated a person, changed their roles or revoked the key.

        Only a write can have done that: after reads, the credentials checked last are used again."""
        if role in self._fresh:
            return self._fresh[role]
        self._fresh.clear()
        self._fresh[role] = self._renew(role)
        return self._fresh[role]

    def wrote(self) -> None:
        self._fresh.clear()

    def _renew(self, role: str) -> dict:
        from app.auth.models import ApiKey
        from app.auth.service import issue_token
        from app.org.models import User, UserRole

        db.session.rollback()
        if role == "api-key":
            db.session.execute(update(ApiKey).where(ApiKey.id == self.world.key_ids["all"]).values(revoked_at=None))
            db.session.commit()
            return self.world.api_key("all")
        user = db.session.scalar(select(User).where(User.login == role))
        if not user.active:
            user.active = True
        if sorted(user.roles) != sorted(self.roles[role]):
            user.role_rows = [UserRole(role=r) for r in self.roles[role]]
        db.session.commit()
        return {"Authorization": f"Bearer {issue_token(user=user, secret_key=self.app.config['SECRET_KEY'])}"}


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'fuzz.db'}",
        "TESTING": True,
        "SECRET_KEY": "fuzz-secret-key-that-is-long-enough-1234567890",
        "ATTACHMENT_DIR": str(folder / "uploads"),
        # Sign-in throttling would turn later logins into 429s: still checked, but not the point here.
        "LOGIN_FREE_ATTEMPTS": 10_000,
        "LOGIN_MAX_FAILURES_PER_LOGIN": 10_000,
        "LOGIN_MAX_FAILURES_PER_ADDRESS": 10_000,
        **FAST_HASH,
    })
    with app.app_context():
        db.create_all()
        world = worlds.build(app.test_client())
        yield FuzzWorld(app, world)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=ROLES)
def role(request):
    return request.param


@pytest.fixture
def fuzz_schema(fuzz_world, role):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_world.app, config=CONFIG)


schema = schemathesis.pytest.from_fixture("fuzz_schema")


def assert_error_format(response) -> None:
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/json"), (response.status_code, content_type)
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, body
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["details"], dict), body


@schema.parametrize()
def test_api_keeps_its_contract_on_any_input(case, role, fuzz_world):
    headers = fuzz_world.headers(role)
    # The fuzzer's own credentials would replace ours; theirs are checked by the permission matrix.
    for name in ("Authorization", "X-API-Key"):
        (case.headers or {}).pop(name, None)
    response = case.call(headers=headers)
    if case.method.upper() not in ("GET", "HEAD", "OPTIONS"):
        fuzz_world.wrote()
    case.validate_response(response, checks=CHECKS, headers=headers)
    if 400 <= response.status_code < 500:
        assert_error_format(response)


# Hostile inputs the generator does not produce, sent to every operation of the OpenAPI document as each role: a lone
# UTF-16 surrogate in every string of the body (and of the query and path of every read), JSON nested 1,000 deep, and
# a chunked body over the size limit. Each is refused with a 4xx in the error format, before any view runs.
HOSTILE = ("surrogates", "deep", "chunked")
LONE_SURROGATE = "\\ud800"  # as a JSON escape: the only way a lone surrogate reaches the server
SURROGATE_IN_URL = "%ED%A0%80"  # its UTF-8 bytes (not valid UTF-8), percent-encoded
PATH_IDS = {"work_order_id": "work_order", "task_id": "task", "user_id": "spare_user", "department_id": "department",
            "group_id": "group", "attachment_id": "attachment", "andon_id": "andon", "key_id": "spare_key", "calendar_id": "calendar",
            "key": "template", "sku": "sku", "batch_no": "batch_no"}


def _operations(app):
    """(method, path template, parameters, request body schema) for every documented operation."""
    spec = app.test_client().get("/api/v1/openapi.json").json

    def resolve(schema):
        while schema and "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema or {}

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            body = (operation.get("requestBody") or {}).get("content", {}).get("application/json", {})
            yield method.upper(), path, item.get("parameters", []) + operation.get("parameters", []), resolve(body.get("schema"))


def _url(path: str, parameters: list, ids: dict, *, surrogates: bool = False) -> str:
    for parameter in (p for p in parameters if p["in"] == "path"):
        text = parameter.get("schema", {}).get("type") == "string"
        value = SURROGATE_IN_URL if surrogates and text else ids.get(PATH_IDS.get(parameter["name"]), 1)
        path = path.replace("{" + parameter["name"] + "}", str(value))
    if surrogates:
        query = [p["name"] for p in parameters if p["in"] == "query"]
        path += "?" + "&".join(f"{name}={SURROGATE_IN_URL}" for name in query) if query else ""
    return path


def _hostile_body(attack: str, schema: dict) -> bytes:
    fields = list(schema.get("properties") or {}) or ["field"]
    if attack == "surrogates":
        return ("{" + ", ".join(f'"{name}": "a{LONE_SURROGATE}"' for name in fields) + "}").encode()
    if attack == "deep":
        return ('{"' + fields[0] + '": ' + "[" * 1000 + "]" * 1000 + "}").encode()
    return json.dumps({fields[0]: "x" * 8192}).encode()  # chunked, over the 4 KiB limit set below


@pytest.mark.parametrize("attack", HOSTILE)
def test_every_operation_refuses_hostile_input_as_every_role(fuzz_world, role, attack, monkeypatch):
    app = fuzz_world.app
    client = app.test_client()
    headers = fuzz_world.headers(role)
    if attack == "chunked":
        monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    expected = {"surrogates": (422, "validation_error"), "deep": (400, "malformed_json"), "chunked": (413, "payload_too_large")}
    wrong = []
    for method, path, parameters, schema in _operations(app):
        url = _url(path, parameters, fuzz_world.world.ids)
        raw = _hostile_body(attack, schema)
        if attack == "chunked":  # as a server hands over Transfer-Encoding: chunked: no length, a terminated stream
            response = client.open(url, method=method, headers=headers, content_type="application/json", environ_overrides={
                "wsgi.input": io.BytesIO(raw), "wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})
        else:
            response = client.open(url, method=method, headers=headers, data=raw, content_type="application/json")
        if response.status_code >= 500 or not 400 <= response.status_code < 500:
            wrong.append((method, url, response.status_code, response.get_data(as_text=True)[:200]))
            continue
        assert_error_format(_Answer(response))
        if (response.status_code, response.json["error"]["code"]) != expected[attack]:
            wrong.append((method, url, response.status_code, response.json["error"]))
        elif attack == "surrogates" and not response.json["error"]["details"]:
            wrong.append((method, url, "no field named", response.json["error"]))
        if attack == "surrogates" and method == "GET":  # and in every string of a read's path and query
            response = client.get(_url(path, parameters, fuzz_world.world.ids, surrogates=True), headers=headers)
            if response.status_code >= 500:
                wrong.append((method, path, "query/path", response.status_code, response.get_data(as_text=True)[:200]))
            elif response.status_code >= 400:
                assert_error_format(_Answer(response))
    assert not wrong, wrong


class _Answer:
    """A Flask test response seen through the interface assert_error_format reads (schemathesis' response)."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.headers = {"content-type": [response.headers.get("Content-Type", "")]}
        self._json = response.get_json(silent=True)

    def json(self):
        return self._json
