"""Bodies and answers of the metrics endpoints."""
from datetime import date

import marshmallow as ma
from marshmallow import validate

from app.common.fields import StrictBoolean
from app.metrics.effort import DEFAULT_WEIGHTS
from app.metrics.grouping import GROUP_BY
from app.metrics.models import Channel

MAX_VOLUME_ITEMS = 10_000
MAX_COUNT = 10**12
MAX_PERIOD_DAYS = 731
# Days outside these bounds are typing mistakes, and beyond them time-zone arithmetic overflows.
DAYS = validate.Range(date(1970, 1, 1), date(2999, 12, 31))
EXPORT_SECTIONS = ("groups", "steps", "pareto", "tags", "backlog", "escalations", "scores")


# ---- evaluation ---------------------------------------------------------------------------------

class EvaluationInSchema(ma.Schema):
    resolved = StrictBoolean(allow_none=False, metadata={"description": "The customer's answer: was the problem resolved?"})
    score = ma.fields.Integer(strict=True, validate=validate.Range(1, 4), metadata={
        "description": "QA resolution score: 1 perfunctory, 2 messenger only, 3 resolved, 4 delighted"})
    note = ma.fields.String(allow_none=True, validate=validate.Length(max=2000))

    @ma.validates_schema
    def _something_to_record(self, data, **kwargs):
        if "resolved" not in data and "score" not in data:
            raise ma.ValidationError("Give the customer's answer (resolved), the QA score, or both.", field_name="_schema")


class EvaluationSchema(ma.Schema):
    work_order_id = ma.fields.Integer()
    resolved = ma.fields.Boolean(allow_none=True)
    score = ma.fields.Integer(allow_none=True)
    note = ma.fields.String()
    customer_answered_at = ma.fields.DateTime(allow_none=True)
    scored_at = ma.fields.DateTime(allow_none=True)
    scored_by_id = ma.fields.Integer(allow_none=True)
    updated_by_id = ma.fields.Integer(allow_none=True)
    updated_by_key_id = ma.fields.Integer(allow_none=True)
    corrections = ma.fields.Integer()
    wait_seconds = ma.fields.Float(allow_none=True)
    handling_seconds = ma.fields.Float(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


# ---- service volumes ----------------------------------------------------------------------------

class VolumeItemSchema(ma.Schema):
    day = ma.fields.Date(required=True, validate=DAYS)
    channel = ma.fields.String(required=True, validate=validate.OneOf([c.value for c in Channel]))
    count = ma.fields.Integer(required=True, strict=True, validate=validate.Range(0, MAX_COUNT))
    misrouted = ma.fields.Integer(load_default=0, strict=True, validate=validate.Range(0, MAX_COUNT), metadata={
        "description": "Requests of this channel that entered by mistake; stored and excluded from every rate"})

    @ma.validates_schema
    def _misrouted_within_count(self, data, **kwargs):
        if data.get("channel") == Channel.ORDERS and data.get("misrouted"):
            raise ma.ValidationError("Orders are not requests; they cannot be misrouted.", field_name="misrouted")
        if data.get("misrouted", 0) > data.get("count", 0):
            raise ma.ValidationError("Cannot exceed count.", field_name="misrouted")


class VolumesInSchema(ma.Schema):
    volumes = ma.fields.List(ma.fields.Nested(VolumeItemSchema), required=True,
                             validate=validate.Length(1, MAX_VOLUME_ITEMS))


class VolumesResultSchema(ma.Schema):
    accepted = ma.fields.Integer()
    created = ma.fields.Integer()
    updated = ma.fields.Integer()


# ---- summary arguments --------------------------------------------------------------------------

class SummaryArgs(ma.Schema):
    start = ma.fields.Date(data_key="from", load_default=None, validate=DAYS, metadata={"description": "First day (business time zone); default 29 days before `to`"})
    end = ma.fields.Date(data_key="to", load_default=None, validate=DAYS, metadata={"description": "Last day, inclusive; default today"})
    group_by = ma.fields.String(load_default=None, validate=validate.OneOf(GROUP_BY))
    pareto_level = ma.fields.Integer(load_default=3, validate=validate.Range(1, 3),
                                     metadata={"description": "Depth of the problem path the Pareto counts by"})

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise ma.ValidationError("Must not be after `to`.", field_name="from")
            if (end - start).days + 1 > MAX_PERIOD_DAYS:
                raise ma.ValidationError(f"A period covers at most {MAX_PERIOD_DAYS} days.", field_name="from")


class ExportArgs(SummaryArgs):
    section = ma.fields.String(load_default="groups", validate=validate.OneOf(EXPORT_SECTIONS), metadata={
        "description": "Which table: groups (the period's row, then one per group), steps, pareto, tags, backlog, escalations, scores"})


# ---- effort weights -----------------------------------------------------------------------------

def _weight():
    return ma.fields.Float(required=True, allow_nan=False, validate=validate.Range(0, 1000))


EffortWeightsSchema = ma.Schema.from_dict({name: _weight() for name in DEFAULT_WEIGHTS}, name="EffortWeightsSchema")


class EffortWeightsViewSchema(ma.Schema):
    weights = ma.fields.Nested(EffortWeightsSchema)
    defaults = ma.fields.Nested(EffortWeightsSchema)
    descriptions = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    formula = ma.fields.String()
    updated_at = ma.fields.DateTime(allow_none=True)
    updated_by_id = ma.fields.Integer(allow_none=True)


# ---- summary answer -----------------------------------------------------------------------------

class DurationSchema(ma.Schema):
    median = ma.fields.Float(allow_none=True, metadata={"description": "seconds"})
    p90 = ma.fields.Float(allow_none=True, metadata={"description": "seconds"})
    count = ma.fields.Integer(metadata={"description": "durations the figures rest on (the sample's, when estimated)"})
    estimated = ma.fields.Boolean(metadata={"description": "true when estimated from a sample (more than 200,000 tasks)"})


class HeadlineFields(ma.Schema):
    service_rate = ma.fields.Float(allow_none=True)
    manual_service_rate = ma.fields.Float(allow_none=True)
    work_order_rate = ma.fields.Float(allow_none=True)
    resolved_share = ma.fields.Float(allow_none=True)
    resolution_score_mean = ma.fields.Float(allow_none=True)
    effort_overall = ma.fields.Float(allow_none=True)
    on_time_rate = ma.fields.Float(allow_none=True)


class GroupMetricsSchema(HeadlineFields):
    key = ma.fields.Raw(allow_none=True, metadata={"description": "day/week (its Monday)/month, department id, template, source, or a category path"})
    label = ma.fields.String()
    orders = ma.fields.Integer(allow_none=True)
    requests = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), allow_none=True)
    work_orders = ma.fields.Integer()
    customer_work_orders = ma.fields.Integer()
    open = ma.fields.Integer()
    resolved = ma.fields.Integer()
    cancelled = ma.fields.Integer()
    evaluated = ma.fields.Integer()
    answered = ma.fields.Integer()
    scored = ma.fields.Integer()
    effort_resolved_mean = ma.fields.Float(allow_none=True)
    effort_unresolved_mean = ma.fields.Float(allow_none=True)
    returns = ma.fields.Integer()
    escalated = ma.fields.Integer()
    tasks_on_time = ma.fields.Integer()
    tasks_late = ma.fields.Integer()
    time_to_claim = ma.fields.Nested(DurationSchema)
    time_to_complete = ma.fields.Nested(DurationSchema)
    working_time_to_claim = ma.fields.Nested(DurationSchema, metadata={
        "description": "Time to claim in working time on each task's business calendar (wall time for tasks on the wall clock)."})
    working_time_to_complete = ma.fields.Nested(DurationSchema, metadata={
        "description": "Time to complete in working time on each task's business calendar (wall time on the wall clock)."})


class MetricsPeriodSchema(ma.Schema):
    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
    timezone = ma.fields.String()
    days = ma.fields.Integer()


class MetricsScopeSchema(ma.Schema):
    all_departments = ma.fields.Boolean()
    department_ids = ma.fields.List(ma.fields.Integer())


class PeriodVolumesSchema(ma.Schema):
    orders = ma.fields.Integer()
    orders_source = ma.fields.String(metadata={"description": "volumes, orders, mixed or none"})
    self_service = ma.fields.Integer()
    ivr = ma.fields.Integer()
    manual = ma.fields.Integer()
    misrouted = ma.fields.Integer()


class WorkOrderCountsSchema(ma.Schema):
    total = ma.fields.Integer()
    customer = ma.fields.Integer()
    open = ma.fields.Integer()
    in_progress = ma.fields.Integer()
    resolved = ma.fields.Integer()
    cancelled = ma.fields.Integer()


class EvaluationCountsSchema(ma.Schema):
    evaluated = ma.fields.Integer()
    answered = ma.fields.Integer()
    answered_resolved = ma.fields.Integer()
    scored = ma.fields.Integer()
    score_distribution = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class EffortSideSchema(ma.Schema):
    work_orders = ma.fields.Integer()
    mean = ma.fields.Float(allow_none=True)


class EffortSchema(ma.Schema):
    overall = ma.fields.Float(allow_none=True)
    resolved_share = ma.fields.Float(allow_none=True, metadata={"description": "of scored work orders, the share scored 3 or 4"})
    scored = ma.fields.Integer()
    resolved = ma.fields.Nested(EffortSideSchema)
    unresolved = ma.fields.Nested(EffortSideSchema)
    weights = ma.fields.Nested(EffortWeightsSchema)


class TaskCountsFields(ma.Schema):
    tasks = ma.fields.Integer()
    completed = ma.fields.Integer()
    on_time = ma.fields.Integer()
    late = ma.fields.Integer()
    overdue_open = ma.fields.Integer()
    on_time_rate = ma.fields.Float(allow_none=True)
    time_to_claim = ma.fields.Nested(DurationSchema)
    time_to_complete = ma.fields.Nested(DurationSchema)
    working_time_to_claim = ma.fields.Nested(DurationSchema, metadata={
        "description": "Time to claim in working time on each task's business calendar (wall time for tasks on the wall clock)."})
    working_time_to_complete = ma.fields.Nested(DurationSchema, metadata={
        "description": "Time to complete in working time on each task's business calendar (wall time on the wall clock)."})


class StepMetricsSchema(TaskCountsFields):
    template = ma.fields.String()
    step = ma.fields.String()


class EscalationLevelSchema(ma.Schema):
    level = ma.fields.Integer()
    reached = ma.fields.Integer()
    highest = ma.fields.Integer()


class EscalationsSchema(ma.Schema):
    work_orders = ma.fields.Integer()
    tasks = ma.fields.Integer()
    by_level = ma.fields.List(ma.fields.Nested(EscalationLevelSchema))


class ReturnsSchema(ma.Schema):
    returns = ma.fields.Integer()
    work_orders_returned = ma.fields.Integer()
    return_rate = ma.fields.Float(allow_none=True)


class BacklogBucketSchema(ma.Schema):
    bucket = ma.fields.String()
    from_hours = ma.fields.Integer()
    to_hours = ma.fields.Integer(allow_none=True)
    work_orders = ma.fields.Integer()


class BacklogSchema(ma.Schema):
    open = ma.fields.Integer()
    overdue = ma.fields.Integer()
    oldest_age_hours = ma.fields.Float(allow_none=True)
    buckets = ma.fields.List(ma.fields.Nested(BacklogBucketSchema))


class ParetoItemSchema(ma.Schema):
    category = ma.fields.List(ma.fields.String(allow_none=True))
    label = ma.fields.String()
    work_orders = ma.fields.Integer()
    share = ma.fields.Float()
    cumulative_share = ma.fields.Float()
    vital = ma.fields.Boolean()


class ParetoSchema(ma.Schema):
    level = ma.fields.Integer()
    threshold = ma.fields.Float()
    total = ma.fields.Integer()
    vital_few = ma.fields.Integer()
    items = ma.fields.List(ma.fields.Nested(ParetoItemSchema))


class TagCountSchema(ma.Schema):
    tag = ma.fields.String()
    work_orders = ma.fields.Integer()


class TagDepartmentSchema(ma.Schema):
    department_id = ma.fields.Integer(allow_none=True)
    department = ma.fields.String()
    work_orders = ma.fields.Integer()
    tags = ma.fields.List(ma.fields.Nested(TagCountSchema))


class SummarySchema(HeadlineFields):
    period = ma.fields.Nested(MetricsPeriodSchema)
    group_by = ma.fields.String(allow_none=True)
    scope = ma.fields.Nested(MetricsScopeSchema)
    generated_at = ma.fields.DateTime()
    facts_as_of = ma.fields.DateTime(allow_none=True, metadata={"description": (
        "Closed work orders are counted up to this time: a background job writes those closed since its last pass "
        "(every minute in AWS); work closed after this is not yet counted, neither as open nor as closed. Null while "
        "the read model is being built (a new install, an upgrade, a change of time zone).")})
    volumes = ma.fields.Nested(PeriodVolumesSchema)
    work_orders = ma.fields.Nested(WorkOrderCountsSchema)
    evaluations = ma.fields.Nested(EvaluationCountsSchema)
    effort = ma.fields.Nested(EffortSchema)
    sla = ma.fields.Nested(TaskCountsFields)
    steps = ma.fields.List(ma.fields.Nested(StepMetricsSchema))
    escalations = ma.fields.Nested(EscalationsSchema)
    returns = ma.fields.Nested(ReturnsSchema)
    backlog = ma.fields.Nested(BacklogSchema)
    pareto = ma.fields.Nested(ParetoSchema)
    tags_by_department = ma.fields.List(ma.fields.Nested(TagDepartmentSchema))
    groups = ma.fields.List(ma.fields.Nested(GroupMetricsSchema))
