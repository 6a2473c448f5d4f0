"""Run one andon's recall fan-out in its own process, optionally SIGKILLing itself inside the Nth batch.

    python -m tests.hardening.recall_runner DATABASE_URL ANDON_ID BATCH_SIZE [CRASH_IN_BATCH]

With CRASH_IN_BATCH = n, the process kills itself after the nth batch's work orders, tasks and links have been
written in the open transaction, just before that batch commits (what a Lambda timeout or an OOM kill does).
"""
import os
import signal
import sys


def main() -> None:
    url, andon_id, batch_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    crash_in_batch = int(sys.argv[4]) if len(sys.argv) > 4 else None

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from app import create_app
    from app.common.clock import utcnow
    from app.quality.recall import run_recall_fanout

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "recall-runner-secret-key-long-enough-123456"})
    commits = {"n": 0}

    @event.listens_for(Session, "before_commit")
    def _crash(session):
        commits["n"] += 1
        if crash_in_batch is not None and commits["n"] == crash_in_batch:
            session.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    with app.app_context():
        result = run_recall_fanout(andon_id=andon_id, now=utcnow(), tz=app.config["BUSINESS_TIMEZONE"], batch_size=batch_size)
    print(result)


if __name__ == "__main__":
    main()
