"""Work orders, their steps and tasks, candidates, the timeline and attachments (docs/design.md §4)."""
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Float, JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.common.models import JSONType, UTCDateTime, utcnow
from app.extensions import db


class WorkOrderStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class TaskStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # a branch not taken (app/flows/routing.py)


# The one table of allowed task transitions: action -> (from states, to state).
TASK_TRANSITIONS: dict[str, tuple[frozenset[TaskStatus], TaskStatus]] = {
    "claim": (frozenset({TaskStatus.OPEN}), TaskStatus.CLAIMED),
    "release": (frozenset({TaskStatus.CLAIMED}), TaskStatus.OPEN),
    "complete": (frozenset({TaskStatus.OPEN, TaskStatus.CLAIMED}), TaskStatus.COMPLETED),
    "transfer": (frozenset({TaskStatus.OPEN, TaskStatus.CLAIMED}), TaskStatus.CLAIMED),
    "return": (frozenset({TaskStatus.OPEN, TaskStatus.CLAIMED}), TaskStatus.CANCELLED),
    "cancel": (frozenset({TaskStatus.OPEN, TaskStatus.CLAIMED}), TaskStatus.CANCELLED),
    # An escalation level that hands the task to the manager reached (`reassign_at_level`).
    "reassign": (frozenset({TaskStatus.OPEN, TaskStatus.CLAIMED}), TaskStatus.CLAIMED),
}

# The one table of allowed work-order transitions.
WORK_ORDER_TRANSITIONS: dict[str, tuple[frozenset[WorkOrderStatus], WorkOrderStatus]] = {
    "start": (frozenset({WorkOrderStatus.OPEN}), WorkOrderStatus.IN_PROGRESS),
    "resolve": (frozenset({WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS}), WorkOrderStatus.RESOLVED),
    "cancel": (frozenset({WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS}), WorkOrderStatus.CANCELLED),
}

def task_transition(status: str, action: str) -> TaskStatus | None:
    """The state `action` takes a task in `status` to, by the one table; None when it may not."""
    allowed, target = TASK_TRANSITIONS[action]
    return target if status in allowed else None


def work_order_transition(status: str, action: str) -> WorkOrderStatus | None:
    """The state `action` takes a work order in `status` to, by the one table; None when it may not."""
    allowed, target = WORK_ORDER_TRANSITIONS[action]
    return target if status in allowed else None


# Work orders that are still running: every state a transition may leave.
RUNNING_WORK_ORDER = WORK_ORDER_TRANSITIONS["cancel"][0]

#: A work order's references to the business's own records, as answers name them (`work_order.refs`).
REFERENCES = ("order_no", "customer_ref", "product_sku", "batch_no")
SOURCES = ("cs_desk", "phone", "online", "app", "qr", "andon", "recall", "integration")


class WorkOrderCounter(db.Model):
    """Per-day sequence behind WO-YYYYMMDD-NNNN, bumped with one atomic upsert."""

    __tablename__ = "work_order_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Tag(db.Model):
    """A tag a work order may carry, optionally mapped to the department responsible for it (seed 002)."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))


class WorkOrder(db.Model):
    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("flow_templates.id"), index=True)
    template_key: Mapped[str] = mapped_column(String(64), index=True)
    template_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(2), default="P3", index=True)
    status: Mapped[str] = mapped_column(String(16), default=WorkOrderStatus.OPEN, index=True)
    source: Mapped[str] = mapped_column(String(16), default="app", index=True)
    business_1: Mapped[str | None] = mapped_column(String(100))
    business_2: Mapped[str | None] = mapped_column(String(100))
    business_3: Mapped[str | None] = mapped_column(String(100))
    problem_1: Mapped[str | None] = mapped_column(String(100))
    problem_2: Mapped[str | None] = mapped_column(String(100))
    problem_3: Mapped[str | None] = mapped_column(String(100))
    product_sku: Mapped[str | None] = mapped_column(String(64), index=True)
    tags: Mapped[list] = mapped_column(JSONType, default=list)
    emotion: Mapped[str | None] = mapped_column(String(32))
    order_no: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    batch_no: Mapped[str | None] = mapped_column(String(64), index=True)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contact_count: Mapped[int] = mapped_column(Integer, default=1)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)

    steps: Mapped[list["WorkOrderStep"]] = relationship(back_populates="work_order", order_by="WorkOrderStep.id")
    tasks: Mapped[list["Task"]] = relationship(back_populates="work_order", order_by="Task.id")

    __table_args__ = (
        Index("ix_work_orders_status_created", "status", "created_at"),
        Index("ix_work_orders_problem", "problem_1", "problem_2", "problem_3"),
        Index("ix_work_orders_business", "business_1", "business_2", "business_3"),
    )


class WorkOrderDepartment(db.Model):
    """Departments taking part in a work order (owner and every handler's), for leads' visibility."""

    __tablename__ = "work_order_departments"

    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True, index=True)


class WorkOrderTag(db.Model):
    __tablename__ = "work_order_tags"

    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class WorkOrderStep(db.Model):
    """The state of one template step inside one work order."""

    __tablename__ = "work_order_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"))
    key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=StepStatus.PENDING)
    # Bumped every time the step is (re-)opened; tasks belong to one activation.
    activation: Mapped[int] = mapped_column(Integer, default=0)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_handler_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Why the router started or skipped it (flows.routing.Decision.reason); None for a step without conditions.
    route: Mapped[dict | None] = mapped_column(JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"))

    work_order: Mapped[WorkOrder] = relationship(back_populates="steps")

    __table_args__ = (UniqueConstraint("work_order_id", "key"),)


# A dispatched pool offer nobody holds: what the hand-out job looks for.
WAITING = "dispatch IS NOT NULL AND status = 'open' AND assignee_id IS NULL"


class Task(db.Model):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"))
    step_id: Mapped[int] = mapped_column(ForeignKey("work_order_steps.id"))
    step: Mapped[str] = mapped_column(String(64))
    activation: Mapped[int] = mapped_column(Integer, default=1)
    instance: Mapped[int | None] = mapped_column(Integer)
    instance_label: Mapped[str | None] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(8))
    # The work order's template key: a step's `capacity` counts a person's open tasks of that template (every version).
    template_key: Mapped[str] = mapped_column(String(64))
    # How a pool offer of its step is handed out when not by claim (`round_robin`, `least_loaded`; docs/design.md §16).
    dispatch: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.OPEN)
    priority: Mapped[str] = mapped_column(String(2), default="P3")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The business calendar its due time and timers run on (None: the wall clock); re-planned when it changes.
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id"), index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Device time of completion when it was plausible (docs/design.md §4 "offline truth"), else receipt time.
    completed_effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # On a business calendar: the working time from being offered to the claim and to completion (metrics report
    # durations in wall and in working time; for a task on the wall clock the two are the same, so these stay None).
    claim_working_seconds: Mapped[float | None] = mapped_column(Float)
    complete_working_seconds: Mapped[float | None] = mapped_column(Float)
    device_time_untrusted: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)

    work_order: Mapped[WorkOrder] = relationship(back_populates="tasks")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # A person's tasks by status; with the template, a dispatch counts everyone's open load from the index alone.
        Index("ix_tasks_assignee_status", "assignee_id", "status", "template_key"),
        Index("ix_tasks_work_order", "work_order_id", "step"),
        # Offers waiting for a dispatch to hand them out (everyone at capacity, or given back): usually none.
        Index("ix_tasks_dispatch_waiting", "template_key", "step", postgresql_where=text(WAITING), sqlite_where=text(WAITING)),
        Index("ix_tasks_step_activation", "step_id", "activation"),
        Index("ix_tasks_status_due", "status", "due_at"),
    )


class TaskCandidate(db.Model):
    """The stored user set a task is offered to; `is_open` mirrors the task so the inbox reads only live rows."""

    __tablename__ = "task_candidates"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_task_candidates_user_open", "user_id", "is_open", "task_id"),)


class TimelineEvent(db.Model):
    """Append-only: every change to a work order, with actor, time and details."""

    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    details: Mapped[dict] = mapped_column(JSONType, default=dict)

    __table_args__ = (Index("ix_timeline_events_work_order", "work_order_id", "id"), Index("ix_timeline_events_kind_at", "kind", "at"))


class DispatchPointer(db.Model):
    """Where a template's hand-out stands (docs/design.md §16).

    Every dispatch decision for a template first locks its row (an upsert), so decisions about the same people's
    load are taken one after another: two work orders created at once cannot both give the 20th task to the same
    person. `last_given` holds, per step, the last person round robin gave a task to, so the turn survives restarts;
    `seated` the digests of the big candidate sets every member of which has a seat of the template (newest first).
    """

    __tablename__ = "dispatch_pointers"

    template_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_given: Mapped[dict] = mapped_column(JSONType, default=dict)
    seated: Mapped[list] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonLoad(db.Model):
    """How many open tasks (claimed, not completed) a person holds, of any template: kept by the database itself
    (`app.workorders.loads`), in the same transaction as every change of a task's holder or status."""

    __tablename__ = "person_loads"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    open: Mapped[int] = mapped_column(Integer, default=0)


class DispatchSeat(db.Model):
    """A person's place at one template's dispatch (docs/design.md §16): their open tasks of the template (`held`,
    what a capacity counts), their open tasks of any template (`load`, a copy of `person_loads.open`) and when a
    dispatch of the template last gave them a task (`given_at`; `NEVER_GIVEN` for never).

    Kept by the database (`app.workorders.loads`). Least loaded reads a template's seats in the order of
    `ix_dispatch_seats_order`, (load, given_at, user), which is its own order: a decision reads the first few seats
    of its candidates, not all of them. A seat exists for whoever holds a task of the template, and for every member
    of a big candidate set once a desk seated it.
    """

    __tablename__ = "dispatch_seats"

    template_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    held: Mapped[int] = mapped_column(Integer, default=0)
    load: Mapped[int] = mapped_column(Integer, default=0)
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_dispatch_seats_order", "template_key", "load", "given_at", "user_id"),
        Index("ix_dispatch_seats_user", "user_id"),
    )


class DispatchSet(db.Model):
    """A big candidate set, stored once under the digest of its members (`digest`), so a walk through a template's
    seats tests membership with an index probe per seat it reads instead of receiving the whole set every decision."""

    __tablename__ = "dispatch_sets"

    digest: Mapped[str] = mapped_column(String(24), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class TaskLoadChange(db.Model):
    """A change of a person's open load (and of a seat's turn) not applied yet: written by the triggers on `tasks` and
    by the desk, applied and deleted by the database, on PostgreSQL when the transaction commits (all of a
    transaction's changes at once, people in id order, so two transactions never wait on each other's people), on
    SQLite at once. Empty outside a transaction."""

    __tablename__ = "task_load_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    template_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(Integer)
    delta: Mapped[int] = mapped_column(Integer, default=0)
    given_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_task_load_changes_txid", "txid"),)


class Attachment(db.Model):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(300))
    # "stored" once the bytes are in storage; S3 uploads stay "pending" until confirmed.
    status: Mapped[str] = mapped_column(String(16), default="stored")
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Classification(db.Model):
    """A known path in the business or problem tree (up to 3 levels), offered by the pickers."""

    __tablename__ = "classifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree: Mapped[str] = mapped_column(String(16))
    level_1: Mapped[str] = mapped_column(String(100))
    level_2: Mapped[str] = mapped_column(String(100), default="")
    level_3: Mapped[str] = mapped_column(String(100), default="")

    __table_args__ = (UniqueConstraint("tree", "level_1", "level_2", "level_3"),)


class TimerStatus(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    STALE = "stale"


class Timer(db.Model):
    """A durable timer of a task: a reminder, or one escalation level (docs/design.md §6); the sweep fires it."""

    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer, default=0)
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending -> fired | stale. Completing, cancelling or returning the task makes its pending timers stale;
    # whom a firing reaches is worked out when it fires, from the task as it is then.
    status: Mapped[str] = mapped_column(String(8), default=TimerStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict | None] = mapped_column(JSONType)

    __table_args__ = (
        # The sweep reads only what is due: cost follows the due set, not everything pending.
        Index("ix_timers_status_fire_at", "status", "fire_at"),
        Index("ix_timers_task", "task_id"),
    )


class QrEntryPoint(db.Model):
    """A printed QR code that opens a prefilled new work order: a shelf, a vehicle, a store counter (docs/design.md §15).

    `code` is random and unguessable: the printed code is the admin's grant to start `template_key` with `prefill`
    (title, description, priority, location, product_sku, batch_no, tags, data), whoever scans it.
    """
    __tablename__ = "qr_entry_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    template_key: Mapped[str] = mapped_column(String(64))
    prefill: Mapped[dict] = mapped_column(JSONType, default=dict)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


from app.workorders import loads as _loads  # noqa: E402  (the triggers that keep person_loads and dispatch_seats)

_loads.install(db.metadata)
