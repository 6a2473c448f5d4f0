"""A real moto server over HTTP (never patched boto3 functions)."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    port = _free_port()
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url + "/moto-api/", timeout=0.5)
            break
        except requests.RequestException:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("moto_server did not start")
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def aws(moto_endpoint, monkeypatch, app):
    """boto3 pointed at the moto server, with throwaway credentials, and the app configured to use it."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(key, value)
    requests.post(moto_endpoint + "/moto-api/reset", timeout=5)
    monkeypatch.setitem(app.config, "AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setitem(app.config, "AWS_REGION", "us-east-1")
    from app import aws as adapters

    adapters._client.cache_clear()
    yield lambda service: boto3.client(service, endpoint_url=moto_endpoint, region_name="us-east-1")
    adapters._client.cache_clear()


@pytest.fixture
def handler_app(app, monkeypatch):
    """Handlers build the app once per container; here the container's app is the test app."""
    import functions.runtime as runtime

    monkeypatch.setattr(runtime, "_app", app)
    return app


def sqs_event(*bodies, queue_arn="arn:aws:sqs:us-east-1:123456789012:baton-jobs"):
    """An SQS batch exactly as Lambda delivers it."""
    return {"Records": [{
        "messageId": f"m-{i}", "receiptHandle": f"rh-{i}", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000", "SenderId": "AIDA", "ApproximateFirstReceiveTimestamp": "1700000000001"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1",
    } for i, body in enumerate(bodies)]}


SCHEDULED_EVENT = {
    "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event", "source": "aws.events",
    "account": "123456789012", "time": "2026-11-23T12:00:00Z", "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/baton-sweep"], "detail": {},
}
