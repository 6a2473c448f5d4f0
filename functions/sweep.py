"""EventBridge schedule (every minute): fire due timers, deliver pending pushes and sales events, housekeeping,
then catch up the metrics read model (a bounded batch per invocation)."""
import logging
import time

from functions.runtime import app_context

log = logging.getLogger("baton.jobs")
# Share of the invocation's remaining time the timer sweep may use: the pushes and housekeeping run after it.
SWEEP_SHARE = 0.6


def handler(event, context):
    with app_context() as app:
        from app.common import database
        from app.common.clock import utcnow
        from app.jobs import run_all_once

        deadline = None
        if context is not None:  # a due-timer backlog is worked off across invocations, never cut off mid-batch
            deadline = time.monotonic() + SWEEP_SHARE * context.get_remaining_time_in_millis() / 1000
        try:
            summary = run_all_once(now=utcnow(), config=app.config, deadline=deadline)
        except Exception as error:
            kind = database.failure_kind(error)
            if kind is None:
                raise
            # The schedule is the back-off: the next sweep runs in a minute and picks up everything this one left
            # (each job is idempotent). Raising would add Lambda's own retries of this sweep on top of it.
            from app.extensions import db

            database.rollback_quietly(db.session)
            summary = {"database": kind, "error": database.describe(error)}
            log.warning("sweep skipped: database unavailable", extra={"job": "sweep", "summary": summary})
            return summary
    log.info("sweep done", extra={"job": "sweep", "summary": summary})
    return summary
