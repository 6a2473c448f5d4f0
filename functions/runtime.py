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
    """Handle each SQS record; failed ones are reported in batchItemFailures so only they are retried."""
    failures = []
    with app_context():
        from app.extensions import db

        for record in event.get("Records", []):
            try:
                body = json.loads(record["body"])
                handle(body)
            except Exception as exc:  # one bad message must not fail (and redeliver) the whole batch
                db.session.rollback()
                failures.append({"itemIdentifier": record["messageId"]})
                log.exception("job message failed", extra={"job": job, "message_id": record.get("messageId"), "error": str(exc)})
    log.info("job batch done", extra={"job": job, "summary": {"records": len(event.get("Records", [])), "failed": len(failures)}})
    return {"batchItemFailures": failures}
