"""The scheduled sweep also catches up the metrics read model: a bounded batch per invocation."""
from sqlalchemy import func, select

from app.extensions import db
from app.metrics.models import WorkOrderFact
from functions import sweep
from tests.functions.conftest import SCHEDULED_EVENT
from tests.metrics.conftest import build_week
from tests.workorders.conftest import flow  # noqa: F401  (shared fixture)


def test_the_sweep_works_off_the_read_model_backlog_across_invocations(handler_app, flow, client, demo, monkeypatch):  # noqa: F811
    build_week(flow, client, demo)  # five closed work orders, none in the read model yet
    db.session.commit()
    monkeypatch.setitem(handler_app.config, "METRICS_FACTS_BATCH_SIZE", 3)
    first = sweep.handler(SCHEDULED_EVENT, None)
    assert (first["metric_facts_built"], first["metric_facts_left_for_next_pass"]) == (3, True)
    second = sweep.handler(SCHEDULED_EVENT, None)
    assert (second["metric_facts_built"], second["metric_facts_left_for_next_pass"]) == (2, False)
    assert sweep.handler(SCHEDULED_EVENT, None)["metric_facts_built"] == 0  # delivered again: nothing new
    assert db.session.scalar(select(func.count()).select_from(WorkOrderFact)) == 5
