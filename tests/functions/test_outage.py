"""Lambda handlers while the database is unreachable: they back off through their trigger instead of raising.

An SQS handler reports the records it could not handle in batchItemFailures (SQS redelivers them after the
visibility timeout; handled ones are not redelivered). The scheduled sweep answers a summary saying the database
was unavailable (the next minute's sweep is its retry; raising would add Lambda's async retries on top).
"""
import pytest

import functions.runtime as runtime
from functions import andon, dispatch, sweep
from tests.common.test_outage import unreachable_url
from tests.conftest import BACKENDS, FAST_HASH
from tests.functions.conftest import SCHEDULED_EVENT, sqs_event


@pytest.fixture(params=BACKENDS)
def unreachable_container(request, monkeypatch, tmp_path):
    """The container's app (built once per container) points at a database nothing answers for."""
    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": unreachable_url(request.param, tmp_path), "SECRET_KEY": "u" * 48,
                      "PUSH_PROVIDER": "log", **FAST_HASH})
    monkeypatch.setattr(runtime, "_app", app)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_an_sqs_batch_reports_every_record_when_the_database_is_unreachable(unreachable_container, caplog):
    result = dispatch.handler(sqs_event('{"kind": "dispatch"}', '{"kind": "dispatch"}', '{"kind": "dispatch"}'), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": f"m-{i}"} for i in range(3)]}
    # One warning for the batch, no traceback per record.
    assert [r.message for r in caplog.records if r.name == "baton.jobs" and r.levelname == "WARNING"] == [
        "job batch stopped: database unavailable"]
    assert not [r for r in caplog.records if r.exc_info]


def test_a_bad_message_before_the_outage_still_fails_alone(unreachable_container):
    # m-0 is not a recall job (its own failure); m-1 meets the outage, which stops the batch: m-1 and m-2 come back.
    event = sqs_event('{"kind": "nope"}', '{"kind": "recall", "andon_id": 1}', '{"kind": "recall", "andon_id": 2}')
    result = andon.handler(event, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}


def test_the_sweep_says_the_database_was_unavailable_instead_of_raising(unreachable_container):
    summary = sweep.handler(SCHEDULED_EVENT, None)
    assert summary["database"] == "unavailable" and summary["error"]
