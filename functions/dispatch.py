"""SQS: a nudge that the push or channel outbox has rows; deliver them (idempotent: rows are leased and recorded)."""
from functions.runtime import app_context, sqs_batch


def handler(event, context):
    def handle(body):
        from flask import current_app

        from app.common.clock import utcnow
        from app.notify import providers
        from app.notify.dispatch import dispatch_pending
        from app.notify.reach import dispatch_channels

        config = current_app.config
        dispatch_pending(now=utcnow(), provider=providers.from_config(config), max_attempts=config["PUSH_MAX_ATTEMPTS"])
        if any(c != "webpush" for c in config.get("CHANNELS") or ()):
            dispatch_channels(now=utcnow(), config=config, max_attempts=config.get("CHANNEL_MAX_ATTEMPTS", 8))

    return sqs_batch(event, handle, job="dispatch")


__all__ = ["handler", "app_context"]
