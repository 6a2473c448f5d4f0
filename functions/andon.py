"""SQS: recall fan-out jobs. Body {"kind": "recall", "andon_id": N}; idempotent per andon and order."""
from functions.runtime import sqs_batch


def handler(event, context):
    def handle(body):
        from flask import current_app

        from app.common.clock import utcnow
        from app.quality.recall import run_recall_fanout

        if body.get("kind") != "recall" or not isinstance(body.get("andon_id"), int):
            raise ValueError(f"not a recall job: {body!r}")
        lane = body.get("lane")
        run_recall_fanout(andon_id=body["andon_id"], now=utcnow(), tz=current_app.config["BUSINESS_TIMEZONE"],
                          lane=lane if isinstance(lane, int) else None)

    return sqs_batch(event, handle, job="recall")
