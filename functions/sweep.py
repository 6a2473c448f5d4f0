"""EventBridge schedule (every minute): fire due timers, deliver pending pushes and sales events, housekeeping."""
import logging

from functions.runtime import app_context

log = logging.getLogger("baton.jobs")


def handler(event, context):
    with app_context() as app:
        from app.common.clock import utcnow
        from app.jobs import run_all_once

        summary = run_all_once(now=utcnow(), config=app.config)
    log.info("sweep done", extra={"job": "sweep", "summary": summary})
    return summary
