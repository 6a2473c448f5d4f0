"""A compiled dump answers exactly what its schema's dump answers, and refuses what it cannot do alike."""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import marshmallow as ma
import pytest

from app.common.clock import utcnow
from app.common.fastdump import Blueprint, compile_dump, compiled_schema
from app.org.models import User
from app.workorders.inbox import inbox as inbox_of
from app.workorders.schemas import InboxSchema, TaskSchema, WorkOrderCreatedSchema
from app.extensions import db

T = datetime(2026, 12, 6, 8, 30, tzinfo=timezone.utc)


class Person(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()


class Sample(ma.Schema):
    count = ma.fields.Integer()
    label = ma.fields.String(attribute="title")
    shown = ma.fields.Boolean(data_key="visible")
    at = ma.fields.DateTime(allow_none=True)
    when = ma.fields.AwareDateTime()
    data = ma.fields.Dict()
    tags = ma.fields.List(ma.fields.String())
    owner = ma.fields.Nested(Person, allow_none=True)
    people = ma.fields.List(ma.fields.Nested(Person))
    friends = ma.fields.Nested(Person, many=True)
    anything = ma.fields.Raw()
    ratio = ma.fields.Float(allow_none=True)
    shout = ma.fields.Method("_shout")

    def _shout(self, obj):
        title = obj.get("title") if isinstance(obj, dict) else getattr(obj, "title", None)
        return str(title).upper() if title else None


SAMPLES = [
    {},  # every attribute missing: every key left out, the Method still called
    {"count": 3, "title": "crate", "shown": 1, "at": T, "when": T + timedelta(hours=1), "data": {"a": [1]}, "tags": ["x", 7],
     "owner": {"id": "5", "name": "王伟"}, "people": [{"id": 1, "name": "A", "extra": 1}], "friends": [], "anything": {"k": 1},
     "ratio": 3},
    {"count": None, "title": None, "shown": None, "at": None, "data": None, "tags": None, "owner": None, "people": None,
     "ratio": None},
    {"shown": "false", "count": 2.9, "title": 12, "ratio": "0.25"},
]


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_compiled_dump_answers_what_the_schema_answers(sample):
    dump = compile_dump(Sample)
    assert dump(sample) == Sample().dump(sample)
    as_object = SimpleNamespace(**sample)
    assert dump(as_object) == Sample().dump(as_object)


def test_what_it_cannot_do_alike_is_refused_when_compiled():
    class Hooked(ma.Schema):
        id = ma.fields.Integer()

        @ma.post_dump
        def _wrap(self, data, **kwargs):
            return {"wrapped": data}

    class Dotted(ma.Schema):
        name = ma.fields.String(attribute="owner.name")

    class Custom(ma.Schema):
        value = ma.fields.Decimal()

    class Defaulted(ma.Schema):
        value = ma.fields.Integer(dump_default=0)

    compile_dump(Sample)  # compiled once per class: an instance showing only some fields is still refused
    for schema in (Hooked, Dotted, Custom, Defaulted, Sample(only=("count",)), Sample(many=True)):
        with pytest.raises(TypeError):
            compile_dump(schema)


class Branch(ma.Schema):
    name = ma.fields.String()
    children = ma.fields.List(ma.fields.Nested(lambda: Branch()))

    @ma.validates_schema
    def _named(self, data, **kwargs):  # a load hook: dumping never runs it
        if not data.get("name"):
            raise ma.ValidationError("a name")


def test_a_schema_nested_in_itself_compiles_and_dumps_the_whole_tree():
    tree = {"name": "root", "children": [{"name": "a", "children": [{"name": "a1", "children": []}]}, {"name": "b"}]}
    assert compile_dump(Branch)(tree) == Branch().dump(tree)


def test_a_blueprint_answers_with_the_compiled_dump_of_one_or_many():
    one, many = compiled_schema(Sample), compiled_schema(Sample(many=True))
    assert one.dump(SAMPLES[1]) == Sample().dump(SAMPLES[1]) and one.dump.compiled() is not None
    assert many.dump(SAMPLES) == Sample(many=True).dump(SAMPLES)
    assert one.dump(SAMPLES, many=True) == Sample().dump(SAMPLES, many=True)
    assert compiled_schema(Sample(only=("count",))) is None  # answered by the schema itself


def test_a_schema_that_does_not_compile_answers_with_its_own_dump():
    class Priced(ma.Schema):
        price = ma.fields.Decimal(as_string=True)

    fast = compiled_schema(Priced)
    assert fast.dump({"price": "1.50"}) == {"price": "1.50"} and fast.dump.compiled() is None


def test_a_schema_nested_by_a_name_declared_later_compiles_when_it_first_dumps():
    class Shelf(ma.Schema):
        crate = ma.fields.Nested("LaterCrate")

    fast = compiled_schema(Shelf)  # as a blueprint module declares it, before the name is known

    class LaterCrate(ma.Schema):
        label = ma.fields.String()

    assert fast.dump({"crate": {"label": "A1"}}) == {"crate": {"label": "A1"}} and fast.dump.compiled() is not None


def test_every_api_blueprint_compiles_its_answers(app):
    api_blueprints = [bp for name, bp in app.blueprints.items() if bp.url_prefix == "/api/v1"]
    assert api_blueprints and all(isinstance(bp, Blueprint) for bp in api_blueprints)


@pytest.mark.parametrize("schema", [InboxSchema, TaskSchema, WorkOrderCreatedSchema])
def test_the_answers_phones_fetch_all_day_compile(schema):
    compile_dump(schema)


def test_a_real_inbox_dumps_as_its_schema_does(client, auth, demo):
    """Offers, own tasks, a group, candidates and assignees named: the HTTP answer is the schema's dump."""
    lead = auth.headers("lead.cs")
    for i in range(3):
        assert client.post("/api/v1/work-orders", json={"template": "complaint", "title": f"Crate {i}", "order_no": f"SO-{i}"},
                           headers=lead).status_code == 201
    agent = auth.headers("cs.agent1")
    first = client.get("/api/v1/tasks/inbox", headers=agent).json["pool"][0]
    assert client.post(f"/api/v1/tasks/{first['id']}/claim", json={}, headers=agent).status_code == 200
    response = client.get("/api/v1/tasks/inbox", headers=agent)
    answer = response.json
    assert response.status_code == 200 and answer["mine"] and answer["pool"]
    user = db.session.scalar(db.select(User).where(User.login == "cs.agent1"))
    expected = InboxSchema().dump(inbox_of(user=user, now=utcnow()))
    for part in ("mine", "pool"):  # `overdue` is worked out at the moment of each call
        for task in answer[part] + expected[part]:
            task.pop("overdue")
    expected = json.loads(json.dumps(expected, default=str))
    for part in ("mine", "pool"):
        for got, want in zip(answer[part], expected[part]):
            assert got == want, {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    assert answer == expected


def test_answers_first_dumped_by_many_threads_at_once_are_all_whole():
    """Answers compile on their first request, in whichever threads serve it: a schema another thread is compiling
    is waited for, never taken for a schema nested in itself."""
    class Leaf(ma.Schema):
        name = ma.fields.String()

    def slow_leaf():  # resolving the nested schema takes a moment: the other threads arrive meanwhile
        time.sleep(0.05)
        return Leaf()

    class Trunk(ma.Schema):
        leaf = ma.fields.Nested(slow_leaf)

    threads = 6
    fast = [compiled_schema(Trunk) for _ in range(threads)]
    barrier = threading.Barrier(threads)

    def first_dump(k):
        barrier.wait(timeout=10)
        return fast[k].dump({"leaf": {"name": "A1"}})

    with ThreadPoolExecutor(threads) as pool:
        assert list(pool.map(first_dump, range(threads))) == [{"leaf": {"name": "A1"}}] * threads
