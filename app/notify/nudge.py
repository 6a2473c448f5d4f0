"""After a commit that queued pushes, nudge the dispatcher through SQS (in AWS); locally the worker polls."""
import logging

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def queue_after_commit(session: Session, queue_key: str, body: dict) -> None:
    """Hand a job to an SQS queue once the transaction that made it necessary has committed."""
    session.info.setdefault("baton.jobs", []).append((queue_key, body))


def _after_commit(session: Session) -> None:
    jobs = session.info.pop("baton.jobs", [])
    if not has_app_context():
        session.info.pop("baton.push_pending", None)
        return
    config = current_app.config
    for queue_key, body in jobs:
        if config.get(queue_key):
            from app.aws import send_job

            try:
                send_job(config, queue_key, body)
            except Exception:  # the scheduled sweep runs pending jobs anyway; a lost message only delays them
                log.warning("could not queue %s job", body.get("kind"), exc_info=True)
    if not session.info.pop("baton.push_pending", False):
        return
    if not config.get("DISPATCH_QUEUE_URL"):
        return
    from app.aws import send_job

    try:
        send_job(config, "DISPATCH_QUEUE_URL", {"kind": "dispatch"})
    except Exception:  # the scheduled sweep delivers anyway; a lost nudge only delays a push by a minute
        log.warning("could not nudge the push dispatcher", exc_info=True)


def _after_rollback(session: Session) -> None:
    session.info.pop("baton.push_pending", None)
    session.info.pop("baton.jobs", None)


def init_app() -> None:
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", lambda session, previous: _after_rollback(session))
