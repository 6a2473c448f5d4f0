"""SQS: the jobs queue. {"kind": "recall", "andon_id": N}: a recall fan-out (idempotent per andon and order);
{"kind": "hand_out", "template_key": K}: hand out the template's dispatched offers waiting for room (each given once)."""
from functions.runtime import sqs_batch


def handler(event, context):
    def handle(body):
        from flask import current_app

        from app.common.clock import utcnow
        from app.quality.recall import run_recall_fanout
        from app.workorders.handout import hand_out_waiting

        if body.get("kind") == "hand_out" and isinstance(body.get("template_key"), str):
            hand_out_waiting(now=utcnow(), template_key=body["template_key"])
            return
        if body.get("kind") != "recall" or not isinstance(body.get("andon_id"), int):
            raise ValueError(f"not a recall job: {body!r}")
        lane = body.get("lane")
        run_recall_fanout(andon_id=body["andon_id"], now=utcnow(), tz=current_app.config["BUSINESS_TIMEZONE"],
                          lane=lane if isinstance(lane, int) else None)

    return sqs_batch(event, handle, job="jobs")
