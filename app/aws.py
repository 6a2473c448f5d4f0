"""Small adapters over boto3 for the AWS services Baton uses: SQS (hand work to jobs) and EventBridge.

Locally (the embedded default) no queue is configured and the worker process does the same work by polling
the database, so nothing here is needed to run Baton on one machine.
"""
import json
import logging
from functools import lru_cache

log = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def _client(service: str, endpoint_url: str | None, region: str | None):
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url, region_name=region)


def client(service: str, config):
    """A boto3 client (cached per process: Lambda containers reuse it across invocations)."""
    return _client(service, config.get("AWS_ENDPOINT_URL"), config.get("AWS_REGION"))


def send_job(config, queue_key: str, body: dict, *, dedup_id: str | None = None) -> bool:
    """Send a job message to the queue named by config[queue_key]; False when no queue is configured."""
    url = config.get(queue_key)
    if not url:
        return False
    kwargs = {"QueueUrl": url, "MessageBody": json.dumps(body, separators=(",", ":"))}
    if url.endswith(".fifo"):
        kwargs.update(MessageGroupId=body.get("kind", "job"), MessageDeduplicationId=dedup_id or json.dumps(body, sort_keys=True)[:128])
    client("sqs", config).send_message(**kwargs)
    return True


def put_events(config, entries: list[dict]) -> list[dict]:
    """Publish events to the configured EventBridge bus in chunks of 10 (the API's limit); answers failed entries."""
    bus = config.get("EVENT_BUS_NAME")
    if not bus:
        return []
    failed = []
    eb = client("events", config)
    for start in range(0, len(entries), 10):
        chunk = entries[start:start + 10]
        response = eb.put_events(Entries=[{
            "Source": config.get("EVENT_SOURCE", "baton"),
            "DetailType": e["type"],
            "Detail": json.dumps(e["detail"], separators=(",", ":"), default=str),
            "EventBusName": bus,
        } for e in chunk])
        for entry, result in zip(chunk, response.get("Entries", [])):
            if result.get("ErrorCode"):
                failed.append({**entry, "error": result["ErrorCode"]})
    return failed
