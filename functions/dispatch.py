"""SQS: a nudge that the push outbox has rows; deliver them (idempotent: rows are leased and recorded)."""
from functions.runtime import app_context, sqs_batch


def handler(event, context):
    def handle(body):
        from flask import current_app

        from app.common.clock import utcnow
        from app.notify import providers
        from app.notify.dispatch import dispatch_pending

        dispatch_pending(now=utcnow(), provider=providers.from_config(current_app.config),
                         max_attempts=current_app.config["PUSH_MAX_ATTEMPTS"])

    return sqs_batch(event, handle, job="dispatch")


__all__ = ["handler", "app_context"]
