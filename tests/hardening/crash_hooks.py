"""gunicorn configuration for the crash tests (`gunicorn -c tests/hardening/crash_hooks.py`): nothing in app/ changes.

Each worker listens to SQLAlchemy's session events; a request carrying `X-Baton-Crash: before_commit` (or
`after_commit`) makes the worker SIGKILL itself at that point of its first commit: after every statement of the
use case has run inside the open transaction, or just after the commit, before the answer is written.
Without this configuration file the header means nothing.
"""
import os
import signal

HEADER = "X-Baton-Crash"


def post_worker_init(worker):
    from flask import has_request_context, request
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    def crash_at(point):
        def listener(session):
            if not has_request_context() or request.headers.get(HEADER) != point:
                return
            if point == "before_commit":
                session.flush()  # every write of the use case is in the open transaction
            os.kill(os.getpid(), signal.SIGKILL)

        return listener

    for point in ("before_commit", "after_commit"):
        event.listen(Session, point, crash_at(point))
