"""Lambda handlers called with real AWS event shapes; AWS calls go to a moto server over HTTP."""
import json
from datetime import timedelta

import requests
from sqlalchemy import func, select

from app.common.clock import utcnow
from app.workorders.models import Timer
from app.extensions import db
from app.notify.models import PushDelivery
from app.workorders.storage import S3Storage
from functions import dispatch, sweep
from tests.functions.conftest import SCHEDULED_EVENT, sqs_event
from tests.workorders.conftest import Flow


class _LambdaContext:
    """The part of the Lambda context object the handlers read."""

    def __init__(self, remaining_ms: int):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_sweep_handler_fires_due_timers_from_a_scheduled_event(handler_app, client, auth, demo, monkeypatch):
    flow = Flow(client, auth, demo)
    wo = flow.create("complaint")
    task_id = wo["tasks"][0]["id"]
    later = utcnow() + timedelta(hours=2)
    monkeypatch.setattr("app.common.clock.utcnow", lambda: later)
    summary = sweep.handler(SCHEDULED_EVENT, _LambdaContext(remaining_ms=30_000))
    assert summary["timers_fired"] == 4  # the reminder and levels 1-3 (due 30 min, interval 30 min)
    assert summary["timers_left_for_next_sweep"] is False
    assert sweep.handler(SCHEDULED_EVENT, None)["timers_fired"] == 0  # delivered twice: no second escalation
    assert db.session.scalar(select(func.count()).select_from(Timer).where(Timer.task_id == task_id, Timer.status == "fired")) == 4


def test_dispatch_handler_reports_only_the_bad_message_as_failed(handler_app, app, client, auth, demo, monkeypatch):
    from app.notify.providers import RecordingProvider

    recorder = RecordingProvider()
    monkeypatch.setitem(app.config, "PUSH_PROVIDER_INSTANCE", recorder)
    monkeypatch.setitem(app.config, "PUSH_PROVIDER", "webpush")
    flow = Flow(client, auth, demo)
    endpoint = "https://push.example/abc"
    key = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
    assert client.post("/api/v1/push/subscriptions", json={"endpoint": endpoint, "keys": {"p256dh": key, "auth": "tBHItJI5svbpez7KI4CCXg"}},
                       headers=flow.h("cs.agent1")).status_code == 201
    flow.create("complaint")
    result = dispatch.handler(sqs_event('{"kind": "dispatch"}', "not json"), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert len(recorder.sent) == 1 and recorder.sent[0].subscription["endpoint"] == endpoint
    assert db.session.scalar(select(func.count()).select_from(PushDelivery).where(PushDelivery.status == "sent")) == 1


def test_commit_that_queues_pushes_nudges_the_dispatch_queue(app, aws, client, auth, demo, monkeypatch):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="baton-dispatch")["QueueUrl"]
    monkeypatch.setitem(app.config, "DISPATCH_QUEUE_URL", url)
    flow = Flow(client, auth, demo)
    key = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
    client.post("/api/v1/push/subscriptions", json={"endpoint": "https://push.example/x", "keys": {"p256dh": key, "auth": "tBHItJI5svbpez7KI4CCXg"}},
                headers=flow.h("cs.agent1"))
    flow.create("complaint")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"]) for m in messages] == [{"kind": "dispatch"}]


def test_events_reach_eventbridge(app, aws, monkeypatch):
    from app.aws import put_events

    events, sqs = aws("events"), aws("sqs")
    events.create_event_bus(Name="baton-sales")
    queue = sqs.create_queue(QueueName="sales-channel")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="to-sales", EventBusName="baton-sales", EventPattern=json.dumps({"source": ["baton.quality"]}))
    events.put_targets(Rule="to-sales", EventBusName="baton-sales", Targets=[{"Id": "q", "Arn": arn}])
    monkeypatch.setitem(app.config, "EVENT_BUS_NAME", "baton-sales")
    failed = put_events(app.config, [{"type": "product.paused", "detail": {"sku": f"SKU-{i}"}} for i in range(12)])
    assert failed == []
    received = []
    for _ in range(5):
        received += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    skus = sorted(json.loads(m["Body"])["detail"]["sku"] for m in received)
    assert skus == sorted(f"SKU-{i}" for i in range(12))
    assert {json.loads(m["Body"])["detail-type"] for m in received} == {"product.paused"}


def test_s3_attachments_presigned_upload_confirm_and_download(app, aws, client, auth, demo, monkeypatch):
    s3 = aws("s3")
    s3.create_bucket(Bucket="baton-attachments")
    monkeypatch.setitem(app.config, "ATTACHMENT_STORAGE", "s3")
    monkeypatch.setitem(app.config, "S3_BUCKET", "baton-attachments")
    flow = Flow(client, auth, demo)
    wo = flow.create("complaint")
    jpeg = b"\xff\xd8\xff\xe0" + b"0" * 2000
    h = flow.h("cs.agent1")
    r = client.post(f"/api/v1/work-orders/{wo['id']}/attachments", json={"filename": "milk.jpg", "content_type": "image/jpeg", "size": len(jpeg)},
                    headers=h)
    assert r.status_code == 201, r.json
    attachment, upload = r.json, r.json["upload"]
    assert attachment["status"] == "pending"
    # Confirming before the upload says it is missing.
    assert client.post(f"/api/v1/attachments/{attachment['id']}/confirm", headers=h).json["error"]["code"] == "upload_missing"
    posted = requests.post(upload["url"], data=upload["fields"], files={"file": ("milk.jpg", jpeg, "image/jpeg")}, timeout=10)
    assert posted.status_code in (200, 201, 204), posted.text
    confirmed = client.post(f"/api/v1/attachments/{attachment['id']}/confirm", headers=h)
    assert confirmed.status_code == 200 and confirmed.json["status"] == "stored" and confirmed.json["size"] == len(jpeg)
    download = client.get(f"/api/v1/attachments/{attachment['id']}", headers=h)
    assert download.status_code == 302
    assert requests.get(download.headers["Location"], timeout=10).content == jpeg
    # Too big is refused before any URL is handed out.
    too_big = client.post(f"/api/v1/work-orders/{wo['id']}/attachments", json={"filename": "x.jpg", "content_type": "image/jpeg",
                                                                               "size": 50 * 1024 * 1024}, headers=h)
    assert too_big.status_code == 422 and too_big.json["error"]["code"] == "file_too_large"


def test_s3_storage_refuses_an_upload_that_is_not_what_it_claimed(app, aws):
    s3 = aws("s3")
    s3.create_bucket(Bucket="baton-b2")
    storage = S3Storage("baton-b2", endpoint_url=app.config["AWS_ENDPOINT_URL"])
    s3.put_object(Bucket="baton-b2", Key="k", Body=b"<html>not a photo</html>")
    size, head = storage.head("k")
    from app.workorders.storage import sniff

    assert size == 24 and sniff(head) is None
    assert storage.head("missing") is None
