"""Evaluations, daily service volumes and metric settings (docs/design.md §8)."""
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.common.models import JSONType, UTCDateTime, utcnow
from app.extensions import db


class Channel(StrEnum):
    """Where a day's requests entered (every request enters through self-service or IVR), plus order volume."""

    SELF_SERVICE = "self_service"
    IVR = "ivr"
    MANUAL = "manual"
    ORDERS = "orders"


class Evaluation(db.Model):
    """One per work order: the customer's answer and the QA resolution score, corrected in place.

    `wait_seconds` and `handling_seconds` are the effort inputs B1 and B2, taken from the tasks' offline-truth
    times when the (resolved, hence final) work order is evaluated, so the summary need not re-read every task.
    """

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), unique=True)
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    score: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    customer_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scored_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_by_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    handling_seconds: Mapped[float | None] = mapped_column(Float)
    corrections: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (CheckConstraint("score IS NULL OR (score >= 1 AND score <= 4)", name="score_range"),)


class ServiceVolume(db.Model):
    """A day's request count on one channel (or the day's order volume), as posted by an integration.

    `misrouted` counts requests that entered by mistake (误入); they are kept for the record and excluded
    from every rate.
    """

    __tablename__ = "service_volumes"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    misrouted: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("misrouted >= 0 AND misrouted <= count", name="misrouted_within_count"),)


class MetricSetting(db.Model):
    """Admin-tunable metric settings by key (the effort weights live under `effort_weights`)."""

    __tablename__ = "metric_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class DepartmentSet(db.Model):
    """A set of departments taking part together in closed work orders, so that facts carry one small number.

    `departments` lists the ids in ascending order, comma-separated ("" when none takes part). A lead
    sees a fact when its set shares a department with their subtree: the handful of sets is matched
    once per summary, then the facts are filtered by `department_set_id` with no join. The sets hold
    department ids, not subtrees, so moving a department in the tree needs no rebuild.
    """

    __tablename__ = "metric_department_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    departments: Mapped[str] = mapped_column(Text, unique=True)


class WorkOrderFact(db.Model):
    """The read model of one closed (resolved or cancelled) work order: what the summary needs, in one narrow row.

    `day` is the business day (in BUSINESS_TIMEZONE) the work order was opened on, worked out once
    here so that summaries need no time-zone arithmetic over millions of rows.

    Closed work orders do not change any more, so their row is built once (see `facts`); the
    evaluation, which may be corrected later, is copied in whenever it changes. Open work orders
    are always read live from the work-order tables.
    """

    __tablename__ = "metric_work_order_facts"

    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)  # the business day it was opened on
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    template_key: Mapped[str] = mapped_column(String(64))
    department_id: Mapped[int | None] = mapped_column(Integer)
    business_1: Mapped[str | None] = mapped_column(String(100))
    business_2: Mapped[str | None] = mapped_column(String(100))
    business_3: Mapped[str | None] = mapped_column(String(100))
    problem_1: Mapped[str | None] = mapped_column(String(100))
    problem_2: Mapped[str | None] = mapped_column(String(100))
    problem_3: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contact_count: Mapped[int] = mapped_column(Integer)
    return_count: Mapped[int] = mapped_column(Integer)
    escalation_level: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    score: Mapped[int | None] = mapped_column(Integer)
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    handling_seconds: Mapped[float | None] = mapped_column(Float)
    tasks_on_time: Mapped[int] = mapped_column(Integer)
    tasks_late: Mapped[int] = mapped_column(Integer)
    department_set_id: Mapped[int] = mapped_column(Integer)  # the departments taking part (DepartmentSet), for leads


class TaskFact(db.Model):
    """The read model of one task of a closed work order (per-step figures, durations, escalation levels)."""

    __tablename__ = "metric_task_facts"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)  # the business day its work order was opened on
    template_key: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    escalation_level: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_seconds: Mapped[float | None] = mapped_column(Float)
    complete_seconds: Mapped[float | None] = mapped_column(Float)
    # The same durations in working time on the task's business calendar (equal to the above on the wall clock).
    claim_working_seconds: Mapped[float | None] = mapped_column(Float)
    complete_working_seconds: Mapped[float | None] = mapped_column(Float)
    # The work order's attributes a summary can be grouped by (copied, so grouped percentiles need no join).
    source: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int | None] = mapped_column(Integer)
    business_1: Mapped[str | None] = mapped_column(String(100))
    business_2: Mapped[str | None] = mapped_column(String(100))
    business_3: Mapped[str | None] = mapped_column(String(100))
    problem_1: Mapped[str | None] = mapped_column(String(100))
    problem_2: Mapped[str | None] = mapped_column(String(100))
    problem_3: Mapped[str | None] = mapped_column(String(100))
    department_set_id: Mapped[int] = mapped_column(Integer)  # its work order's (DepartmentSet), for leads


class TagFact(db.Model):
    """A tag of a closed work order (the tag's department is looked up when reading: it may be remapped)."""

    __tablename__ = "metric_tag_facts"

    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    # How many tags the work order carries: only those with several need de-duplicating per department.
    tags_on_work_order: Mapped[int] = mapped_column(Integer, default=1)
    department_set_id: Mapped[int] = mapped_column(Integer)  # its work order's (DepartmentSet), for leads


class StepDay(db.Model):
    """Tasks of closed work orders added up per business day (of the work order's opening), step and escalation level.

    Kept beside the task facts so that per-step figures for a year read a few thousand rows instead of
    millions. Kept per set of departments taking part too, so that a lead's (the sets sharing a department
    with their subtree) read them as well; everyone's adds up every set.
    """

    __tablename__ = "metric_step_days"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD in the business time zone
    template_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    escalation_level: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_set_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    every: Mapped[int] = mapped_column(BigInteger, default=0)  # cancelled tasks included (for escalations)
    tasks: Mapped[int] = mapped_column(BigInteger, default=0)
    completed: Mapped[int] = mapped_column(BigInteger, default=0)
    on_time: Mapped[int] = mapped_column(BigInteger, default=0)
    late: Mapped[int] = mapped_column(BigInteger, default=0)
