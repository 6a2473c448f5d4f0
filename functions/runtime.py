"""What every handler shares: the app built once per container, JSON logs, and SQS partial batch failures."""
import json
import logging
import sys
import time
from contextlib import contextmanager

_app = None


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {"level": record.levelname, "logger": record.name, "message": record.getMessage(), "time": round(time.time(), 3)}
        if isinstance(record.args, dict):
            entry.update(record.args)
        for key in ("job", "summary", "message_id", "error"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _configure_logging():
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def get_app():
    """The Flask app, built on the first invocation of this container and reused after."""
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
        _configure_logging()
    return _app


@contextmanager
def app_context():
    app = get_app()
    with app.app_context():
        try:
            yield app
        finally:
            from app.extensions import db

            db.session.remove()


log = logging.getLogger("baton.jobs")


def sqs_batch(event: dict, handle, job: str) -> dict:
    """Handle each SQS record; failed ones are reported in batchItemFailures so only they are retried.

    When the database is unavailable (or busy, or rolled the transaction back) the batch stops at once: that record and every one not yet handled are
    reported, SQS hands them back after the queue's visibility timeout (the back-off), and the records already
    handled are not redelivered. Trying the rest would only wait out one connect timeout per record.
    """
    from app.common import database

    records = event.get("Records", [])
    failures = []
    with app_context():
        from app.extensions import db

        for position, record in enumerate(records):
            try:
                body = json.loads(record["body"])
                handle(body)
            except Exception as exc:  # one bad message must not fail (and redeliver) the whole batch
                database.rollback_quietly(db.session)
                kind = database.failure_kind(exc)
                if kind is not None:
                    failures.extend({"itemIdentifier": r["messageId"]} for r in records[position:])
                    log.warning(f"job batch stopped: database {kind}", extra={
                        "job": job, "message_id": record.get("messageId"), "error": f"{kind}: {database.describe(exc)}"})
                    break
                failures.append({"itemIdentifier": record["messageId"]})
                log.exception("job message failed", extra={"job": job, "message_id": record.get("messageId"), "error": str(exc)})
    log.info("job batch done", extra={"job": job, "summary": {"records": len(records), "failed": len(failures)}})
    return {"batchItemFailures": failures}
