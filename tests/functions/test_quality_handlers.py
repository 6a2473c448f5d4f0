"""The recall and inventory jobs as Lambda handlers, and sales events shipped to EventBridge (moto over HTTP)."""
import json

from sqlalchemy import func, select

from app.extensions import db
from app.jobs import run_all_once
from app.common.clock import utcnow
from functions import andon as andon_handler
from functions import inventory as inventory_handler
from tests.functions.conftest import sqs_event
from tests.quality.conftest import Quality, T0, catalogue, iso, q  # noqa: F401  (fixtures)


def test_pulling_a_recall_queues_the_fanout_and_the_handler_runs_it_once(app, aws, handler_app, catalogue, monkeypatch):
    from app.quality.models import AndonRecall

    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="baton-jobs")["QueueUrl"]
    monkeypatch.setitem(app.config, "JOBS_QUEUE_URL", url)
    pulled = catalogue.pull(scope="batch", batch_no="BA-1", action="recall", reason="listeria")
    messages = []
    for _ in range(3):
        messages += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in messages]
    assert bodies and all(b["kind"] == "recall" and b["andon_id"] == pulled["id"] for b in bodies)
    event = sqs_event(*[m["Body"] for m in messages], '{"kind": "recall", "andon_id": "x"}')
    result = andon_handler.handler(event, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": f"m-{len(messages)}"}]}
    created = db.session.scalar(select(func.count()).select_from(AndonRecall).where(AndonRecall.andon_id == pulled["id"]))
    assert created == pulled["affected_orders"] > 0
    # Delivered twice (SQS is at least once): the handler succeeds and nothing more is created.
    db.session.rollback()  # on SQLite this test's read transaction would hold the write lock the handler needs
    assert andon_handler.handler(sqs_event(*[m["Body"] for m in messages]), None) == {"batchItemFailures": []}
    assert db.session.scalar(select(func.count()).select_from(AndonRecall).where(AndonRecall.andon_id == pulled["id"])) == created


def test_inventory_messages_pause_a_short_product_and_a_bad_message_fails_alone(handler_app, catalogue):
    good = json.dumps({"events": [{"sku": "SKU-B", "warehouse": "WH-BJ-01", "on_hand": 3, "available": 3, "threshold": 50,
                                   "unfulfillable_orders": 4, "at": iso(T0.replace(day=20))}]})
    bad = json.dumps({"events": [{"sku": "SKU-B", "warehouse": "NOWHERE", "on_hand": "lots"}]})
    result = inventory_handler.handler(sqs_event(good, bad), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    product = catalogue.product("SKU-B")
    assert product["sale_status"] == "paused" and "stock_shortage" in product["reasons"]


def test_sales_events_go_to_eventbridge_with_their_id(app, aws, catalogue, monkeypatch):
    events, sqs = aws("events"), aws("sqs")
    events.create_event_bus(Name="baton-sales")
    queue = sqs.create_queue(QueueName="sales")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName="baton-sales", EventPattern=json.dumps({"source": ["baton.quality"]}))
    events.put_targets(Rule="all", EventBusName="baton-sales", Targets=[{"Id": "q", "Arn": arn}])
    monkeypatch.setitem(app.config, "EVENT_BUS_NAME", "baton-sales")
    catalogue.pull(scope="product", sku="SKU-A", action="pause", reason="taste")
    summary = run_all_once(now=utcnow(), config=app.config)
    assert summary["sales_events_delivered"] >= 1
    received = []
    for _ in range(3):
        received += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    kinds = {json.loads(m["Body"])["detail-type"] for m in received}
    assert "product.paused" in kinds
    assert all("event_id" in json.loads(m["Body"])["detail"] for m in received)
