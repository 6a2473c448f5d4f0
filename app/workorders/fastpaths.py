"""The commands a phone sends all day, in a handful of prebuilt statements (PostgreSQL).

`service.create_work_order` (with the engine), `claims.claim_task` and `completion.complete_task` are the rules, for
every case. Most commands are the plainest case of them: a work order whose router starts one plain pool step; a
pool offer claimed (and given back: `claims.release_task`); a task handed on by its holder
(`handoffs.transfer_task`); the last task of a work order's last step finished with
an outcome and no form. For those, the same rules are planned once in Python from one read and written by one data-modifying
statement (a CTE) whose guards restate every assumption of the plan, under the work order's lock: if anything
differs (someone else was faster, a sibling task is still open, the task changed), the statement writes nothing and
answers no row, and the full rules then decide and say exactly why (404, 403, 409 stay what they were). The answer
is built from the rows the statements return, never by loading objects again: the same dict `presenters` builds,
dumped by the same schema. Template versions come from the per-process cache (app/flows/versions.py).

The SQL names the same states as the transitions table (`TASK_TRANSITIONS`, `WORK_ORDER_TRANSITIONS`), so a change
of the rules there changes them here.
"""
import json
from datetime import datetime, timezone
from types import SimpleNamespace

from sqlalchemy import Boolean, bindparam, select, text

from app.common.bulk import dialect, time_text
from app.common.models import JSONType, UTCDateTime
from app.common.offline import effective_time
from app.common.uow import commit
from app.extensions import db
from app.flows.conditions import Facts
from app.flows.forms import step_words
from app.flows.routing import PENDING, branches, route
from app.flows.timing import due_at as step_due_at
from app.flows.timing import timer_plan
from app.flows.versions import CURRENT_GUARD, XMIN, current_version, forget, running_version
from app.notify.service import Reader, notify_many
from app.org.duty import on_duty_at
from app.org.models import User
from app.workorders import presenters, service
from app.workorders.dispatch import dispatch_of
from app.workorders.engine import activated_details, offer_requests
from app.workorders.models import (
    TASK_TRANSITIONS, WORK_ORDER_TRANSITIONS, StepStatus, Task, TaskStatus, TimerStatus, WorkOrder,
)
from app.workorders.numbers import reserve_numbers
from app.workorders.planner import ActivatedTask, ActivationPlanner, opened_details, work_order_values


def _states(states) -> str:
    return ", ".join(f"'{s.value}'" for s in sorted(states))


_CLAIMABLE = _states(TASK_TRANSITIONS["claim"][0])
_STARTABLE = _states(WORK_ORDER_TRANSITIONS["start"][0])
_STARTED = WORK_ORDER_TRANSITIONS["start"][1].value
_LIVE = _states({TaskStatus.OPEN, TaskStatus.CLAIMED})
_SETTLED = _states({StepStatus.COMPLETED, StepStatus.SKIPPED})
_WORK_ORDER_COLUMNS = ("id", "number", "title", "description", "priority", "status", "template_key", "template_id",
                       "order_no", "customer_ref", "product_sku", "batch_no")
_RETURNED_TASK = ", ".join(f"tasks.{c}" for c in presenters.TASK_FIELDS)
_RETURNED_WORK_ORDER = ", ".join(f"work_orders.{c} AS wo_{c}" for c in _WORK_ORDER_COLUMNS)
# People as an answer names them, with what writing them a notification needs (language, zone, devices).
_PERSON = """json_build_object(
    'id', users.id, 'name', users.name, 'login', users.login, 'locale', users.locale, 'active', users.active,
    'quiet_hours', users.quiet_hours,
    'devices', ARRAY(SELECT push_subscriptions.id FROM push_subscriptions WHERE push_subscriptions.user_id = users.id))"""
# When a command happened: the server's time, the device's (as sent), and the one the rule keeps.
_WHEN = (bindparam("now", type_=UTCDateTime()), bindparam("at", type_=UTCDateTime()),
         bindparam("occurred_at", type_=UTCDateTime()), bindparam("untrusted", type_=Boolean()))


def _moments(table) -> tuple[str, ...]:
    return tuple(name for name, column in table.c.items() if isinstance(column.type, UTCDateTime))


_TASK_MOMENTS = tuple(name for name in _moments(Task.__table__) if name in presenters.TASK_FIELDS)
_WORK_ORDER_MOMENTS = _moments(WorkOrder.__table__)


def _row(values: dict, moments: tuple[str, ...] = _TASK_MOMENTS) -> SimpleNamespace:
    """A row the statement answered as one JSON object (reading a row of forty typed columns costs more than
    parsing it), its moments made datetimes in UTC again."""
    for name in moments:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name]).astimezone(timezone.utc)
    return SimpleNamespace(**values)


def _json_object(pairs) -> str:
    """`json_build_object` of (key, SQL expression) pairs."""
    return "json_build_object(" + ", ".join(f"'{key}', {expression}" for key, expression in pairs) + ")"


def _reader(person: dict) -> Reader:
    return Reader(person["id"], person["locale"], person["quiet_hours"], person["devices"])


def _answer(row, work_order: presenters.WorkOrderSummary, template, people: list[dict], me: dict, now: datetime) -> dict:
    """The task as `presenters.present_many` shows it, from the rows the statements returned."""
    view = presenters.present_task(row, work_order, template, now, [p["id"] for p in people])
    named = {p["id"]: {"id": p["id"], "name": p["name"], "login": p["login"]} for p in people}
    view["assignee"] = named.get(row.assignee_id, me if row.assignee_id == me["id"] else None)
    view["candidate_people"] = list(named.values())
    return view


_PEOPLE = User.__table__


def _task_of(found) -> tuple[SimpleNamespace, object, presenters.WorkOrderSummary]:
    """The task a task command's statement answered (`task` and `work_order` as JSON objects), with its template
    version (from memory) and its work order as an answer shows it."""
    row = _row(found.task)
    template = running_version(row.template_id, row.template_xmin)
    return row, template, presenters.WorkOrderSummary(*(found.work_order[f"wo_{name}"] for name in _WORK_ORDER_COLUMNS))


def _me(user: User) -> dict:
    """Who acts, read before a commit expires `user`."""
    return {"id": user.id, "name": user.name, "login": user.login}


# --------------------------------------------------------------------------
# Claim: lock the work order of an offer to the claimer (always before the task, as every other writer does), take
# the task with the arbitrating UPDATE of `claims._TAKE`, close the offer answering its candidates, start the work
# order, write the timeline. Only a pool offer handed out by claiming (no dispatch, so no capacity), on no business
# calendar (no working time to count).
# --------------------------------------------------------------------------
_CLAIM = text(f"""
    WITH offer AS (
        SELECT work_orders.id AS work_order_id, flow_templates.id AS template_id, {XMIN} AS template_xmin
        FROM tasks
        JOIN work_orders ON work_orders.id = tasks.work_order_id
        JOIN flow_templates ON flow_templates.id = work_orders.template_id
        WHERE tasks.id = :task_id AND tasks.mode = 'pool' AND tasks.dispatch IS NULL AND tasks.calendar_id IS NULL
          AND EXISTS (SELECT 1 FROM task_candidates
                      WHERE task_candidates.task_id = tasks.id AND task_candidates.user_id = :user_id)
        FOR UPDATE OF work_orders
    ), taken AS (
        UPDATE tasks SET status = '{TaskStatus.CLAIMED.value}', assignee_id = :user_id, claimed_at = :now,
                         claimed_effective_at = CASE WHEN :at < tasks.created_at THEN :now ELSE :at END,
                         device_time_untrusted = tasks.device_time_untrusted OR :untrusted OR :at < tasks.created_at,
                         version = tasks.version + 1
        FROM offer
        WHERE tasks.id = :task_id AND tasks.work_order_id = offer.work_order_id AND tasks.status IN ({_CLAIMABLE})
          AND tasks.assignee_id IS NULL
        RETURNING {_RETURNED_TASK}, offer.template_id, offer.template_xmin,
                  NOT (:untrusted OR :at < tasks.created_at) AS trusted
    ), closed AS (
        UPDATE task_candidates SET is_open = false FROM taken WHERE task_candidates.task_id = taken.id
        RETURNING task_candidates.user_id
    ), started AS (
        UPDATE work_orders SET
            status = CASE WHEN work_orders.status IN ({_STARTABLE}) THEN '{_STARTED}' ELSE work_orders.status END,
            started_at = CASE WHEN work_orders.status IN ({_STARTABLE}) THEN :now ELSE work_orders.started_at END,
            updated_at = :now
        FROM taken WHERE work_orders.id = taken.work_order_id
        RETURNING {_RETURNED_WORK_ORDER}
    ), logged AS (
        INSERT INTO timeline_events (work_order_id, task_id, kind, actor_id, at, occurred_at, details)
        SELECT taken.work_order_id, taken.id, 'claimed', :user_id, :now, :occurred_at,
               jsonb_build_object('device_time_trusted', taken.trusted)
        FROM taken
    )
    SELECT row_to_json(taken) AS task, row_to_json(started) AS work_order,
           (SELECT json_agg({_PERSON} ORDER BY users.id) FROM closed JOIN users ON users.id = closed.user_id) AS people
    FROM taken CROSS JOIN started
""").bindparams(*_WHEN)


def claim(user: User, task_id: int, now: datetime, occurred_at: datetime | None, max_skew: int) -> dict | None:
    """`claims.claim_task` for a pool offer handed out by claiming, answered as the API shows the task: the claim in
    one statement, the "taken" notifications and their push outbox in one more. None when the full rules must decide
    (nothing was written then; the work order's lock is held, as the full rules take it first anyway).

    The device's time is judged by the one rule (`effective_time`); its last condition, not before the offer was
    made, is the statement's, as only it reads when the task was created."""
    me = _me(user)
    at, trusted = effective_time(occurred_at=occurred_at, received_at=now, not_before=None, max_skew_seconds=max_skew)
    found = db.session.execute(_CLAIM, {"task_id": task_id, "user_id": me["id"], "now": now, "at": at,
                                        "untrusted": not trusted, "occurred_at": occurred_at}).first()
    if found is None:
        return None
    row, template, work_order = _task_of(found)
    people = found.people or []
    others = [p for p in people if p["id"] != me["id"] and p["active"]]
    notify_many([{"user_ids": [p["id"] for p in others], "kind": "task.taken", "about": {"task_id": row.id},
                  "params": {"who": me["name"], "number": work_order.number, **step_words(template.step(row.step))},
                  "priority": "P4"}], now, readers=[_reader(p) for p in others])
    commit()
    return _answer(row, work_order, template, people, me, now)


# --------------------------------------------------------------------------
# Release: a pool task handed out by claiming given back by who holds it (`claims.release_task`): the work order
# locked first, the task open again with nobody holding it, its offer open again to every candidate, the timeline.
# A dispatched step's release also queues a hand-out (`handout.nudge`): those take the full rules.
# --------------------------------------------------------------------------
_RELEASABLE = _states(TASK_TRANSITIONS["release"][0])
_RELEASED = TASK_TRANSITIONS["release"][1].value


def _held(condition: str) -> str:
    """The CTE `held`: the work order of the caller's task `:task_id` (held by `:user_id`, and `condition`), locked
    as every writer locks it, with its template version and the columns an answer shows."""
    return f"""held AS (
        SELECT flow_templates.id AS template_id, {XMIN} AS template_xmin, {_RETURNED_WORK_ORDER}
        FROM tasks
        JOIN work_orders ON work_orders.id = tasks.work_order_id
        JOIN flow_templates ON flow_templates.id = work_orders.template_id
        WHERE tasks.id = :task_id AND tasks.assignee_id = :user_id AND {condition}
        FOR UPDATE OF work_orders
    )"""


_RELEASE = text(f"""
    WITH {_held("tasks.mode = 'pool' AND tasks.dispatch IS NULL")}, released AS (
        UPDATE tasks SET status = '{_RELEASED}', assignee_id = NULL, claimed_at = NULL, version = tasks.version + 1
        FROM held
        WHERE tasks.id = :task_id AND tasks.work_order_id = held.wo_id AND tasks.status IN ({_RELEASABLE})
          AND tasks.assignee_id = :user_id AND tasks.mode = 'pool' AND tasks.dispatch IS NULL
        RETURNING {_RETURNED_TASK}, held.template_id, held.template_xmin
    ), reopened AS (
        UPDATE task_candidates SET is_open = true FROM released WHERE task_candidates.task_id = released.id
        RETURNING task_candidates.user_id
    ), logged AS (
        INSERT INTO timeline_events (work_order_id, task_id, kind, actor_id, at, occurred_at, details)
        SELECT released.work_order_id, released.id, 'released', :user_id, :now, NULL,
               jsonb_build_object('reason', CAST(:reason AS text))
        FROM released
    )
    SELECT row_to_json(released) AS task, row_to_json(held) AS work_order,
           (SELECT json_agg({_PERSON} ORDER BY users.id) FROM reopened JOIN users ON users.id = reopened.user_id) AS people
    FROM released CROSS JOIN held
""").bindparams(bindparam("now", type_=UTCDateTime()))


def release(user: User, task_id: int, now: datetime, reason: str | None) -> dict | None:
    """`claims.release_task` for a pool task handed out by claiming, answered as the API shows the task, in one
    statement; None when the full rules must decide (nothing was written then; the work order's lock is held)."""
    me = _me(user)
    found = db.session.execute(_RELEASE, {"task_id": task_id, "user_id": me["id"], "now": now, "reason": reason}).first()
    if found is None:
        return None
    row, template, work_order = _task_of(found)
    commit()
    return _answer(row, work_order, template, found.people or [], me, now)


# --------------------------------------------------------------------------
# Transfer: a task handed on by who holds it to someone active and on duty (`handoffs.transfer_task`): the work
# order locked first, the task claimed by the new holder, the new holder a candidate (closed, as the offer is), their
# department taking part, the timeline; then they are told. A lead moving someone else's task, or a person named by
# login, takes the full rules.
# --------------------------------------------------------------------------
_TRANSFERABLE = _states(TASK_TRANSITIONS["transfer"][0])
_TRANSFERRED = TASK_TRANSITIONS["transfer"][1].value
_TRANSFER = text(f"""
    WITH {_held("true")}, moved AS (
        UPDATE tasks SET assignee_id = :to_user, status = '{_TRANSFERRED}', claimed_at = :now, version = tasks.version + 1
        FROM held
        WHERE tasks.id = :task_id AND tasks.work_order_id = held.wo_id AND tasks.status IN ({_TRANSFERABLE})
          AND tasks.assignee_id = :user_id
        RETURNING {_RETURNED_TASK}, held.template_id, held.template_xmin
    ), closed AS (
        UPDATE task_candidates SET is_open = false FROM moved WHERE task_candidates.task_id = moved.id
        RETURNING task_candidates.user_id
    ), added AS (
        INSERT INTO task_candidates (task_id, user_id, is_open, added_at)
        SELECT moved.id, :to_user, false, :now FROM moved
        WHERE NOT EXISTS (SELECT 1 FROM task_candidates
                          WHERE task_candidates.task_id = moved.id AND task_candidates.user_id = :to_user)
        RETURNING task_candidates.user_id
    ), joined AS (
        INSERT INTO work_order_departments (work_order_id, department_id)
        SELECT moved.work_order_id, CAST(:to_department AS integer) FROM moved WHERE CAST(:to_department AS integer) IS NOT NULL
        ON CONFLICT DO NOTHING
    ), logged AS (
        INSERT INTO timeline_events (work_order_id, task_id, kind, actor_id, at, occurred_at, details)
        SELECT moved.work_order_id, moved.id, 'transferred', :user_id, :now, NULL,
               jsonb_build_object('from_user', CAST(:user_id AS integer), 'to_user', CAST(:to_user AS integer),
                                  'reason', CAST(:reason AS text))
        FROM moved
    )
    SELECT row_to_json(moved) AS task, row_to_json(held) AS work_order,
           (SELECT json_agg({_PERSON} ORDER BY users.id)
            FROM (SELECT user_id FROM closed UNION SELECT user_id FROM added) AS offered
            JOIN users ON users.id = offered.user_id) AS people
    FROM moved CROSS JOIN held
""").bindparams(bindparam("now", type_=UTCDateTime()))


def transfer(user: User, task_id: int, to_user: int | str, now: datetime, reason: str | None) -> dict | None:
    """`handoffs.transfer_task` by the task's holder to someone named by id, answered as the API shows the task: the
    new holder read (active, on duty by the one rule), the transfer in one statement, their notification. None when
    the full rules must decide (nothing was written then)."""
    if not isinstance(to_user, int) or to_user == user.id:
        return None
    target = db.session.execute(select(_PEOPLE.c.active, _PEOPLE.c.department_id, on_duty_at(now, _PEOPLE).label("on_duty"))
                                .where(_PEOPLE.c.id == to_user)).first()
    if target is None or not target.active or not target.on_duty:
        return None  # the full rules say who is unknown, inactive or off duty
    me = _me(user)
    found = db.session.execute(_TRANSFER, {"task_id": task_id, "user_id": me["id"], "to_user": to_user, "now": now,
                                           "to_department": target.department_id, "reason": reason}).first()
    if found is None:
        return None
    row, template, work_order = _task_of(found)
    people = found.people or []
    notify_many([{"user_ids": [to_user], "kind": "task.transferred", "about": {"task_id": row.id},
                  "params": {"number": work_order.number, **step_words(template.step(row.step)), "title": work_order.title},
                  "priority": work_order.priority}], now, readers=[_reader(p) for p in people if p["id"] == to_user])
    commit()
    return _answer(row, work_order, template, people, me, now)


# --------------------------------------------------------------------------
# Complete: the last live task of a work order's last unsettled step, held by whoever finishes it, with an outcome
# and no form, on no business calendar and no dispatch: the task completed, its step completed, the
# work order resolved and its creator told (`completion.complete_task`, then `engine.advance` and `engine.resolve`).
# --------------------------------------------------------------------------
_LIVE_SIBLINGS = f"""(SELECT count(*) FROM tasks AS other
            WHERE other.step_id = tasks.step_id AND other.activation = tasks.activation AND other.id <> tasks.id
              AND other.status IN ({_LIVE}))"""
_UNSETTLED_STEPS = f"""(SELECT count(*) FROM work_order_steps
            WHERE work_order_steps.work_order_id = work_orders.id AND work_order_steps.id <> tasks.step_id
              AND work_order_steps.status NOT IN ({_SETTLED}))"""
_FINISHING_TASK = _json_object([
    *((c, f"tasks.{c}") for c in presenters.TASK_FIELDS), ("step_id", "tasks.step_id"), ("template_id", "flow_templates.id"),
    ("template_xmin", XMIN), ("live_siblings", _LIVE_SIBLINGS), ("unsettled_steps", _UNSETTLED_STEPS),
])
_FINISHING = text(f"""
    SELECT {_FINISHING_TASK} AS task,
           {_json_object((c, f"work_orders.{c}") for c in _WORK_ORDER_COLUMNS)} AS work_order,
           (SELECT json_agg({_PERSON} ORDER BY users.id)
            FROM task_candidates JOIN users ON users.id = task_candidates.user_id
            WHERE task_candidates.task_id = tasks.id) AS people,
           (SELECT {_PERSON} FROM users WHERE users.id = work_orders.created_by_id) AS creator
    FROM tasks
    JOIN work_orders ON work_orders.id = tasks.work_order_id
    JOIN flow_templates ON flow_templates.id = work_orders.template_id
    WHERE tasks.id = :task_id AND tasks.assignee_id = :user_id AND tasks.status = '{TaskStatus.CLAIMED.value}'
      AND tasks.dispatch IS NULL AND tasks.calendar_id IS NULL
      AND work_orders.status IN ({_states(WORK_ORDER_TRANSITIONS["resolve"][0])})
    FOR UPDATE OF work_orders
""")
# The read above may have waited for the lock, and rows joined to a locked one are read as they were before the wait:
# this statement runs on a fresh snapshot, under the lock, and writes only if all the plan assumed still holds.
_FINISH = text(f"""
    WITH done AS (
        UPDATE tasks SET status = '{TaskStatus.COMPLETED.value}', completed_at = :now, completed_effective_at = :at,
                         device_time_untrusted = tasks.device_time_untrusted OR :untrusted, completed_by_id = :user_id, outcome = :outcome, note = :note, data = '{{}}',
                         version = tasks.version + 1
        WHERE tasks.id = :task_id AND tasks.version = :version AND tasks.status = '{TaskStatus.CLAIMED.value}'
          AND tasks.assignee_id = :user_id
          AND NOT EXISTS (SELECT 1 FROM tasks AS other
                          WHERE other.step_id = tasks.step_id AND other.activation = tasks.activation
                            AND other.id <> tasks.id AND other.status IN ({_LIVE}))
          AND NOT EXISTS (SELECT 1 FROM work_order_steps
                          WHERE work_order_steps.work_order_id = tasks.work_order_id
                            AND work_order_steps.id <> tasks.step_id AND work_order_steps.status NOT IN ({_SETTLED}))
          AND EXISTS (SELECT 1 FROM work_order_steps
                      WHERE work_order_steps.id = tasks.step_id AND work_order_steps.status = '{StepStatus.ACTIVE.value}'
                        AND work_order_steps.activation = tasks.activation)
        RETURNING {_RETURNED_TASK}, tasks.step_id
    ), step_done AS (
        UPDATE work_order_steps SET last_handler_id = :user_id, status = '{StepStatus.COMPLETED.value}', completed_at = :now
        FROM done WHERE work_order_steps.id = done.step_id
    ), offer_closed AS (
        UPDATE task_candidates SET is_open = false FROM done WHERE task_candidates.task_id = done.id
    ), disarmed AS (
        UPDATE timers SET status = '{TimerStatus.STALE.value}'
        FROM done WHERE timers.task_id = done.id AND timers.status = '{TimerStatus.PENDING.value}'
    ), resolved AS (
        UPDATE work_orders SET
            status = '{WORK_ORDER_TRANSITIONS["resolve"][1].value}', resolved_at = :now, updated_at = :now,
            started_at = CASE WHEN work_orders.status IN ({_STARTABLE}) THEN :now ELSE work_orders.started_at END
        FROM done WHERE work_orders.id = done.work_order_id
        RETURNING work_orders.status
    ), logged AS (
        INSERT INTO timeline_events (work_order_id, task_id, kind, actor_id, at, occurred_at, details)
        SELECT done.work_order_id, event.task_id, event.kind, :user_id, :now, event.occurred_at, event.details
        FROM done, (VALUES (1, :task_id, 'completed', CAST(:completed AS jsonb), :occurred_at),
                           (2, NULL, 'step_completed', CAST(:step_completed AS jsonb), NULL),
                           (3, NULL, 'resolved', CAST('{{}}' AS jsonb), NULL)) AS event(n, task_id, kind, details, occurred_at)
        ORDER BY event.n
    )
    SELECT row_to_json(done) AS task, resolved.status AS wo_status FROM done CROSS JOIN resolved
""").bindparams(*_WHEN, bindparam("completed", type_=JSONType), bindparam("step_completed", type_=JSONType))


def complete(user: User, task_id: int, outcome: str | None, note: str | None, data: dict | None,
             expected_version: int | None, now: datetime, occurred_at: datetime | None, max_skew: int) -> dict | None:
    """`completion.complete_task` for the last task of a work order, answered as the API shows the task: a read
    under the work order's lock, one guarded write, the creator's notification. None when the full rules must decide
    (nothing was written then)."""
    me = _me(user)
    found = db.session.execute(_FINISHING, {"task_id": task_id, "user_id": me["id"]}).first()
    if found is None:
        return None
    row = _row(found.task)
    if row.live_siblings or row.unsettled_steps:
        return None
    template = running_version(row.template_id, row.template_xmin)
    step = template.step(row.step)
    outcomes = step.get("outcomes") or ["done"]
    outcome = outcome or outcomes[0]
    if step.get("form") or data or outcome not in outcomes or expected_version not in (None, row.version):
        return None  # a form to check, a refusal to explain: the full rules
    at, trusted = effective_time(occurred_at=occurred_at, received_at=now, not_before=row.created_at, max_skew_seconds=max_skew)
    finished = db.session.execute(_FINISH, {
        "task_id": task_id, "user_id": me["id"], "version": row.version, "now": now, "outcome": outcome, "note": note,
        "at": at, "untrusted": not trusted, "occurred_at": occurred_at,
        "completed": {"outcome": outcome, "note": note, "data": {}, "device_time_trusted": trusted},
        "step_completed": {"step": row.step},
    }).first()
    if finished is None:
        return None
    work_order = presenters.WorkOrderSummary(*(
        finished.wo_status if name == "status" else found.work_order[name] for name in _WORK_ORDER_COLUMNS))
    creator = found.creator
    if creator is not None and creator["active"]:
        notify_many([{"user_ids": [creator["id"]], "kind": "work_order.resolved", "about": {"work_order_id": work_order.id},
                      "params": {"number": work_order.number, "title": work_order.title}, "priority": work_order.priority}],
                    now, readers=[_reader(creator)])
    commit()
    return _answer(_row(finished.task), work_order, template, found.people or [], me, now)


# --------------------------------------------------------------------------
# Create: a work order whose router starts one step and skips none, a pool step handed out by claiming whose
# handlers do not depend on the work order (no for_each, no from_data), counted on the wall clock; no tags. The
# engine's planner decides who is offered it and when it is due (`planner.ActivationPlanner`, `flows.timing`), as it
# does for `service.create_work_order` and the bulk writer; the number is taken from the day's counter in a moment's
# transaction of its own (so creations never wait for each other's commits); one statement writes the plan
# (`engine.start` and `_store_tasks` row for row): the work order, its steps, the task, its candidates, its timers,
# its departments and the timeline; a last statement tells the candidates. The template is the version this process
# knows as current (app/flows/versions.py): the statement writes nothing unless it still is, and the engine then
# opens the work order with the number already taken.
# --------------------------------------------------------------------------
_WORK_ORDER_VALUES = tuple(name for name in WorkOrder.__table__.c.keys() if name != "id")
# The work order's columns arrive as one JSON object (one parameter instead of thirty, each typed by the table's own
# row type), and the statement is kept under 4 KB and 50 parameters: psycopg remembers how it converted the
# statements below those sizes and converts longer ones again on every execution (~0.13 ms here).
_CREATE = text(" ".join(f"""
    WITH current AS ({CURRENT_GUARD}),
    wo AS (
        INSERT INTO work_orders ({", ".join(_WORK_ORDER_VALUES)})
        SELECT {", ".join(_WORK_ORDER_VALUES)} FROM current, jsonb_populate_record(NULL::work_orders, CAST(:values AS jsonb))
        RETURNING *
    ), steps AS (
        INSERT INTO work_order_steps (work_order_id, key, status, activation, activated_at, completed_at, last_handler_id, route)
        SELECT wo.id, step.key,
               CASE WHEN step.key = :root THEN '{StepStatus.ACTIVE.value}' ELSE '{StepStatus.PENDING.value}' END,
               CASE WHEN step.key = :root THEN 1 ELSE 0 END, CASE WHEN step.key = :root THEN :now END, NULL, NULL,
               CASE WHEN step.key = :root THEN :route END
        FROM wo, unnest(CAST(:step_keys AS text[])) WITH ORDINALITY AS step(key, n)
        ORDER BY step.n
        RETURNING work_order_steps.id, work_order_steps.key
    ), task AS (
        INSERT INTO tasks (work_order_id, step_id, step, activation, mode, template_key, status, priority, due_at,
                           escalation_level, created_at, device_time_untrusted, data, version)
        SELECT wo.id, steps.id, steps.key, 1, :mode, wo.template_key, '{TaskStatus.OPEN.value}', wo.priority, wo.due_at,
               0, :now, false, '{{}}', 1
        FROM wo JOIN steps ON steps.key = :root
        RETURNING *
    ), offered AS (
        INSERT INTO task_candidates (task_id, user_id, is_open, added_at)
        SELECT task.id, member, true, :now FROM task, unnest(CAST(:members AS integer[])) AS member
    ), armed AS (
        INSERT INTO timers (task_id, kind, level, fire_at, status, created_at)
        SELECT task.id, timer.kind, timer.level, timer.fire_at, '{TimerStatus.PENDING.value}', :now
        FROM task, unnest(CAST(:timer_kinds AS text[]), CAST(:timer_levels AS integer[]),
                          CAST(:timer_fire_ats AS timestamptz[])) AS timer(kind, level, fire_at)
    ), departments AS (
        INSERT INTO work_order_departments (work_order_id, department_id)
        SELECT wo.id, taking_part.department_id FROM wo, (
            SELECT unnest(CAST(:departments AS integer[])) AS department_id
            UNION SELECT users.department_id FROM users
            WHERE users.id = ANY(CAST(:members AS integer[])) AND users.department_id IS NOT NULL
        ) AS taking_part
    ), logged AS (
        INSERT INTO timeline_events (work_order_id, task_id, kind, actor_id, at, occurred_at, details)
        SELECT event.work_order_id, event.task_id, event.kind, :actor_id, :now, NULL, event.details FROM (
            SELECT 1 AS n, wo.id AS work_order_id, NULL::integer AS task_id, 'created' AS kind, :created AS details FROM wo
            UNION ALL
            SELECT 2, task.work_order_id, task.id, 'activated', :activated FROM task
        ) AS event ORDER BY event.n
    )
    SELECT row_to_json(wo) AS work_order, row_to_json(task) AS task,
           (SELECT json_agg({_PERSON} ORDER BY users.id) FROM users
            WHERE users.id = ANY(CAST(:members AS integer[]))) AS people
    FROM wo CROSS JOIN task
""".split())).bindparams(
    bindparam("now", type_=UTCDateTime()),
    bindparam("route", type_=JSONType), bindparam("created", type_=JSONType), bindparam("activated", type_=JSONType),
)


def _plain_start(template, data: dict):
    """The one step the router starts for a new work order with `data`, when it starts one and skips none."""
    pending = {s["key"]: PENDING for s in template.steps}
    decisions = route(template.steps, pending, Facts(data=data) if branches(template.steps) else None)
    if len(decisions) != 1 or not decisions[0].start:
        return None
    step = template.step(decisions[0].key)
    plain = step["mode"] == "pool" and not dispatch_of(step) and not step.get("for_each") \
        and not (step.get("assignees") or {}).get("from_data")
    return (step, decisions[0].reason) if plain else None


def create_and_present(*, body: dict, user: User, department_id: int | None, now: datetime, tz: str):
    """`service.create_work_order`, answered as `presenters.work_order_view` shows it to its creator: in a few
    statements when it can be (`create`, PostgreSQL)."""
    if dialect() == "postgresql":
        view = create(body, user, department_id, now, tz)
        if view is not None:
            return view
    work_order = service.create_work_order(body=body, created_by=user, department_id=department_id, now=now, tz=tz)
    return presenters.work_order_view(user=user, work_order=work_order, now=now, with_timeline=False)


def create(body: dict, user: User, department_id: int | None, now: datetime, tz: str, source_default: str = "app"):
    """`service.create_work_order` for the plainest work orders, answered as `presenters.work_order_view` shows them
    to their creator; None when the engine must open it (nothing written then)."""
    if body.get("tags"):
        return None
    known = current_version(body["template"])
    if known is None:
        return None  # no such template, or retired: the full rules say so
    template, xmin = known
    data = service.checked_data(template, body)
    start = _plain_start(template, data)
    if start is None:
        return None
    step, reason = start
    me = _me(user)
    source = body.get("source") or source_default
    values = work_order_values(template=template, body={**body, "data": data}, source=source, department_id=department_id,
                               created_by_id=me["id"], now=now)
    planner = ActivationPlanner(now=now)
    if planner.clock(step, values["department_id"]) is not None:
        return None  # counted on a business calendar: the engine's writer
    owner = SimpleNamespace(data=data, department_id=values["department_id"], created_by_id=me["id"])
    (planned,) = planner.plan(work_order=owner, step=step)
    due = step_due_at(step, now, None)
    timers = timer_plan(step=step, due_at=due, now=now, clock=None)
    (number,) = reserve_numbers(now=now, tz=tz, count=1)  # in a moment's transaction of its own: see numbers.py
    found = db.session.execute(_CREATE, {  # the work order's moments in its JSON as `rows_table` carries them
        "values": json.dumps({**values, "number": number, "due_at": due}, default=time_text),
        "template_id": template.id, "template_xmin": xmin,
        "now": now, "root": step["key"], "route": reason, "step_keys": [s["key"] for s in template.steps],
        "mode": step["mode"], "members": planned.members, "timer_kinds": [t[0] for t in timers],
        "timer_levels": [t[1] for t in timers], "timer_fire_ats": [t[2] for t in timers],
        "departments": sorted({d for d in (values["department_id"], template.owner_department_id) if d}),
        "actor_id": me["id"], "created": opened_details(template, source),
        "activated": activated_details(step, planned, due.isoformat() if due else None, reason),
    }).first()
    if found is None:  # a new version, or retired, since this process looked: the engine reads it afresh
        forget(template.key)
        user = db.session.get(User, me["id"])
        opened = service.create_work_order(body=body, created_by=user, department_id=department_id, now=now, tz=tz,
                                           source_default=source_default, number=number)
        return presenters.work_order_view(user=user, work_order=opened, now=now, with_timeline=False)
    work_order = _row(found.work_order, _WORK_ORDER_MOMENTS)
    row = _row(found.task)
    people = found.people or []
    requests = offer_requests([ActivatedTask(row.id, None, planned.members)], work_order, step)
    notify_many(requests, now, readers=[_reader(p) for p in people if p["active"]])
    commit()
    summary = presenters.WorkOrderSummary(*(getattr(work_order, name) for name in _WORK_ORDER_COLUMNS))
    task = _answer(row, summary, template, people, me, now)
    return presenters.WorkOrderView(work_order, tasks=[task], tasks_total=1)
