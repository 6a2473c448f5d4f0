"""Work-order and task bodies."""
import marshmallow as ma
from webargs.fields import DelimitedList

from marshmallow import validate
from marshmallow.utils import get_value

from app.common.clock import utcnow
from app.common.fields import PersonReference
from app.flows.schemas import PRIORITIES, TemplateSchema
from app.org.schemas import PersonRefSchema, ShiftTimesSchema
from app.workorders.models import REFERENCES, SOURCES

LEVELS = ma.fields.List(ma.fields.String(validate=validate.Length(1, 100)), load_default=list, validate=validate.Length(max=3))


class WorkOrderCreateSchema(ma.Schema):
    template = ma.fields.String(required=True, validate=validate.Length(1, 64))
    title = ma.fields.String(required=True, validate=validate.Length(1, 300))
    description = ma.fields.String(load_default="", validate=validate.Length(0, 20_000))
    priority = ma.fields.String(load_default=None, allow_none=True, validate=validate.OneOf(PRIORITIES))
    source = ma.fields.String(load_default="app", validate=validate.OneOf(SOURCES))
    business = ma.fields.List(ma.fields.String(validate=validate.Length(1, 100)), load_default=list, validate=validate.Length(max=3))
    problem = ma.fields.List(ma.fields.String(validate=validate.Length(1, 100)), load_default=list, validate=validate.Length(max=3))
    product_sku = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    tags = ma.fields.List(ma.fields.String(validate=validate.Length(1, 100)), load_default=list, validate=validate.Length(max=20))
    emotion = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 32))
    order_no = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    customer_ref = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    batch_no = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    contact_count = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=1000))
    data = ma.fields.Dict(load_default=dict)


class WorkOrderSummarySchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String()
    title = ma.fields.String()
    description = ma.fields.String()
    priority = ma.fields.String()
    status = ma.fields.String()
    template = ma.fields.String(attribute="template_key")
    refs = ma.fields.Method("_refs", metadata={
        "description": "The work order's references it has: order_no, customer_ref, product_sku, batch_no"})

    def _refs(self, work_order) -> dict:
        return {k: v for k in REFERENCES if (v := get_value(work_order, k, None))}


class TaskSchema(ma.Schema):
    id = ma.fields.Integer()
    work_order_id = ma.fields.Integer()
    step = ma.fields.String()
    step_title = ma.fields.String()
    step_titles = ma.fields.Dict(metadata={"description": 'The step\'s title per language ({"zh-CN": …, "en": …}), where the template gives it'})
    outcome_labels = ma.fields.Dict(metadata={"description": 'How each outcome is said per language, where the template gives it'})
    mode = ma.fields.String()
    dispatch = ma.fields.String(allow_none=True, metadata={
        "description": "How the step hands its offer out: round_robin or least_loaded (assigned at once); null: by claim."})
    capacity = ma.fields.Integer(allow_none=True, metadata={
        "description": "With a dispatch: the most open tasks of this template the step gives one person."})
    status = ma.fields.String()
    priority = ma.fields.String()
    assignee_id = ma.fields.Integer(allow_none=True)
    candidates = ma.fields.List(ma.fields.Integer())
    assignee = ma.fields.Nested(PersonRefSchema, allow_none=True)
    candidate_people = ma.fields.List(ma.fields.Nested(PersonRefSchema))
    due_at = ma.fields.DateTime(allow_none=True)
    overdue = ma.fields.Boolean()
    escalation_level = ma.fields.Integer()
    instance = ma.fields.Integer(allow_none=True)
    instance_label = ma.fields.String(allow_none=True)
    outcomes = ma.fields.List(ma.fields.String())
    form = ma.fields.List(ma.fields.Dict())
    allow_return = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
    claimed_at = ma.fields.DateTime(allow_none=True)
    completed_at = ma.fields.DateTime(allow_none=True)
    completed_by_id = ma.fields.Integer(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    data = ma.fields.Dict()
    version = ma.fields.Integer()
    device_time_untrusted = ma.fields.Boolean()
    work_order = ma.fields.Nested(WorkOrderSummarySchema)


class InboxArgs(ma.Schema):
    q = ma.fields.String(load_default="", validate=validate.Length(0, 100), metadata={
        "description": "Search: work-order number, title, order, customer, batch or SKU (any part, any case)."})
    sort = ma.fields.String(load_default="priority", validate=validate.OneOf(["priority", "due", "newest"]), metadata={
        "description": "priority (default): overdue first, then the most urgent, then the soonest due; due: overdue "
                       "first, then the soonest due; newest: the latest offered first."})
    page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    group = ma.fields.String(load_default=None, validate=validate.Length(3, 200), metadata={
        "description": "Open one group of offers (its `key`, template:step): the pool page lists that group's offers."})


class InboxGroupSchema(ma.Schema):
    key = ma.fields.String(metadata={"description": "template:step, to open it with `group`"})
    template = ma.fields.String()
    step = ma.fields.String()
    title = ma.fields.String(metadata={"description": "The step's title"})
    count = ma.fields.Integer()
    overdue = ma.fields.Integer()
    soonest_due = ma.fields.DateTime(allow_none=True)


class InboxTotalsSchema(ma.Schema):
    mine = ma.fields.Integer()
    pool = ma.fields.Integer()


class InboxSchema(ma.Schema):
    mine = ma.fields.List(ma.fields.Nested(TaskSchema), metadata={"description": "A page of what waits on you alone."})
    pool = ma.fields.List(ma.fields.Nested(TaskSchema), metadata={
        "description": "A page of the offers you may claim, grouped ones left out (unless `group` opens one)."})
    totals = ma.fields.Nested(InboxTotalsSchema, metadata={"description": "All of each, whatever the page."})
    groups = ma.fields.List(ma.fields.Nested(InboxGroupSchema), metadata={
        "description": "Many similar offers (one step of one template, 20 or more) as one group each."})
    pool_shown = ma.fields.Integer(metadata={"description": "How many offers the pool pages run through."})


class TimelineEventSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    task_id = ma.fields.Integer(allow_none=True)
    actor_id = ma.fields.Integer(allow_none=True)
    actor = ma.fields.Nested(PersonRefSchema, allow_none=True)
    people = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(PersonRefSchema), metadata={
        "description": "The people the details name by id (to_user, from_user, reassigned_to, reassigned_from), by id."})
    at = ma.fields.DateTime()
    occurred_at = ma.fields.DateTime(allow_none=True)
    details = ma.fields.Dict()


class WorkOrderSchema(ma.Schema):
    id = ma.fields.Integer()
    overdue = ma.fields.Method("_overdue")
    number = ma.fields.String()
    template = ma.fields.String(attribute="template_key")
    template_version = ma.fields.Integer()
    title = ma.fields.String()
    description = ma.fields.String()
    priority = ma.fields.String()
    status = ma.fields.String()
    source = ma.fields.String()
    business = ma.fields.Method("_business")
    problem = ma.fields.Method("_problem")
    product_sku = ma.fields.String(allow_none=True)
    tags = ma.fields.List(ma.fields.String())
    emotion = ma.fields.String(allow_none=True)
    order_no = ma.fields.String(allow_none=True)
    customer_ref = ma.fields.String(allow_none=True)
    batch_no = ma.fields.String(allow_none=True)
    data = ma.fields.Dict()
    department_id = ma.fields.Integer(allow_none=True)
    due_at = ma.fields.DateTime(allow_none=True)
    created_by_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    started_at = ma.fields.DateTime(allow_none=True)
    resolved_at = ma.fields.DateTime(allow_none=True)
    cancelled_at = ma.fields.DateTime(allow_none=True)
    contact_count = ma.fields.Integer()
    return_count = ma.fields.Integer()
    escalation_level = ma.fields.Integer()

    def _overdue(self, obj):
        return bool(obj.due_at and obj.status in ("open", "in_progress") and obj.due_at < utcnow())

    def _business(self, obj):
        return [v for v in (obj.business_1, obj.business_2, obj.business_3) if v]

    def _problem(self, obj):
        return [v for v in (obj.problem_1, obj.problem_2, obj.problem_3) if v]


class WorkOrderCreatedSchema(WorkOrderSchema):
    tasks = ma.fields.List(ma.fields.Nested(TaskSchema), metadata={
        "description": "The first 100 tasks you may see, in the order they were opened; "
                       "GET /work-orders/{id}/tasks pages through all of them."})
    tasks_total = ma.fields.Integer(metadata={"description": "How many tasks of this work order you may see."})


class StepStateSchema(ma.Schema):
    key = ma.fields.String()
    title = ma.fields.String()
    instance = ma.fields.String(allow_none=True, metadata={"description": "The instance's label, for a for_each step that opened."})
    status = ma.fields.String(metadata={"description": "pending, active, completed or skipped"})
    reason = ma.fields.Dict(allow_none=True, metadata={
        "description": "Why the router started or skipped it: {by: when, when, held}, {by: default, taken} or "
                       "{by: no_branch_taken, after}; null for a step without conditions."})
    due_at = ma.fields.DateTime(allow_none=True, metadata={"description": "A running step's earliest due time."})
    due_explained = ma.fields.String(allow_none=True, metadata={
        "description": "Why it is due then, in your language and time zone (SLA, calendar, periods not counted)."})


class WorkOrderDetailSchema(WorkOrderCreatedSchema):
    timeline = ma.fields.List(ma.fields.Nested(TimelineEventSchema))
    attachments = ma.fields.List(ma.fields.Nested("AttachmentRefSchema"), metadata={
        "description": "Its photos and files, oldest first, each with a link to view it."})
    steps = ma.fields.List(ma.fields.Nested(StepStateSchema), metadata={
        "description": "Every step of the template version, in order, with its status (branches taken, skipped, "
                       "not yet reached)."})
    # Named, not imported: the evaluation is metrics' (a package above this one), which adds it to the detail.
    evaluation = ma.fields.Nested("EvaluationSchema", allow_none=True,
                                  metadata={"description": "The customer's answer and QA score, once evaluated."})


class WorkOrderListArgs(ma.Schema):
    status = ma.fields.String(validate=validate.OneOf(["open", "in_progress", "resolved", "cancelled"]))
    source = ma.fields.String(validate=validate.OneOf(SOURCES))
    priority = ma.fields.String(validate=validate.OneOf(PRIORITIES))
    template = ma.fields.String(validate=validate.Length(1, 64))
    batch_no = ma.fields.String(validate=validate.Length(1, 64))
    order_no = ma.fields.String(validate=validate.Length(1, 64))
    customer_ref = ma.fields.String(validate=validate.Length(1, 64))
    product_sku = ma.fields.String(validate=validate.Length(1, 64))
    emotion = ma.fields.String(validate=validate.Length(1, 32))
    tag = ma.fields.String(validate=validate.Length(1, 100))
    department_id = ma.fields.Integer()
    business = DelimitedList(ma.fields.String(validate=validate.Length(1, 100)), validate=validate.Length(max=3))
    problem = DelimitedList(ma.fields.String(validate=validate.Length(1, 100)), validate=validate.Length(max=3))
    created_from = ma.fields.AwareDateTime(default_timezone=None)
    created_to = ma.fields.AwareDateTime(default_timezone=None)
    overdue = ma.fields.Boolean()
    q = ma.fields.String(validate=validate.Length(1, 100))


class OccurredAtMixin(ma.Schema):
    occurred_at = ma.fields.AwareDateTime(load_default=None, allow_none=True, metadata={"description": "Device time of the action (offline)."})


class ClaimSchema(OccurredAtMixin):
    pass


class ReleaseSchema(ma.Schema):
    reason = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 2000))


class CompleteSchema(OccurredAtMixin):
    outcome = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    note = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 20_000))
    data = ma.fields.Dict(load_default=dict)
    version = ma.fields.Integer(load_default=None, allow_none=True)


class ReturnSchema(OccurredAtMixin):
    reason = ma.fields.String(required=True, validate=validate.Length(1, 2000))
    to_step = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))


class TransferSchema(ma.Schema):
    to_user = PersonReference(required=True)
    reason = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 2000))


class CandidatesSchema(ma.Schema):
    add = ma.fields.List(ma.fields.Integer(strict=True), load_default=list, validate=validate.Length(max=1000))
    remove = ma.fields.List(ma.fields.Integer(strict=True), load_default=list, validate=validate.Length(max=1000))

    @ma.validates_schema
    def _something(self, data, **kwargs):
        if not data["add"] and not data["remove"]:
            raise ma.ValidationError("name someone to add or remove", "add")


class CancelSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=validate.Length(1, 2000))


class CommentSchema(OccurredAtMixin):
    body = ma.fields.String(required=True, validate=validate.Length(1, 20_000))


class AttachmentViewArgs(ma.Schema):
    t = ma.fields.String(required=True, validate=validate.Length(1, 500), metadata={"description": "The signed link's token."})


class AttachmentRefSchema(ma.Schema):
    """An attachment where an answer names one: what to show, and a short-lived link to show it."""

    id = ma.fields.Integer()
    filename = ma.fields.String()
    content_type = ma.fields.String()
    size = ma.fields.Integer()
    task_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()
    view_url = ma.fields.String(metadata={"description": "Shows it to you for 15 minutes, without a header (for <img>)."})


class AttachmentSchema(ma.Schema):
    id = ma.fields.Integer()
    work_order_id = ma.fields.Integer()
    task_id = ma.fields.Integer(allow_none=True)
    filename = ma.fields.String()
    content_type = ma.fields.String()
    size = ma.fields.Integer()
    status = ma.fields.String()
    url = ma.fields.String()
    upload = ma.fields.Dict(allow_none=True)
    created_at = ma.fields.DateTime()


class AttachmentRequestSchema(ma.Schema):
    """For presigned uploads (S3): announce the file first, then PUT/POST it to the returned URL."""

    filename = ma.fields.String(required=True, validate=validate.Length(1, 255))
    content_type = ma.fields.String(required=True, validate=validate.Length(1, 100))
    size = ma.fields.Integer(required=True, validate=validate.Range(min=1))
    task_id = ma.fields.Integer(load_default=None, allow_none=True)


class AttachmentFormSchema(ma.Schema):
    task_id = ma.fields.Integer(load_default=None, allow_none=True)


class ClassificationNodeSchema(ma.Schema):
    name = ma.fields.String()
    children = ma.fields.List(ma.fields.Nested(lambda: ClassificationNodeSchema()))


class ClassificationTreesSchema(ma.Schema):
    business = ma.fields.List(ma.fields.Nested(ClassificationNodeSchema))
    problem = ma.fields.List(ma.fields.Nested(ClassificationNodeSchema))


class ClassificationPathSchema(ma.Schema):
    tree = ma.fields.String(required=True, validate=validate.OneOf(["business", "problem"]))
    path = ma.fields.List(ma.fields.String(validate=validate.Length(1, 100)), required=True, validate=validate.Length(1, 3))


class DryRunSchema(ma.Schema):
    data = ma.fields.Dict(load_default=dict, metadata={"description": "Sample data of the work order (its form's fields)."})
    outcomes = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), load_default=dict,
                              metadata={"description": "The outcome to assume per step key (else its first outcome)."})
    step_data = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Dict(), load_default=dict,
                               metadata={"description": "The completion data to assume per step key."})
    start_at = ma.fields.AwareDateTime(load_default=None, allow_none=True, metadata={"description": "Default: now."})
    department_id = ma.fields.Integer(load_default=None, allow_none=True)
    version = ma.fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    template = ma.fields.Nested(TemplateSchema, load_default=None, allow_none=True, metadata={
        "description": "A draft to try instead of a stored version (the designer's Simulate): checked as publishing "
                       "checks it (422 under template.…); its key must be the one in the address, which need not exist yet."})


class DryRunStepSchema(ma.Schema):
    key = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.String(metadata={"description": "started, skipped or not_reached"})
    reason = ma.fields.Dict(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    candidates = ma.fields.List(ma.fields.Integer(), metadata={"description": "Who would be offered it (ids), stand-ins included."})
    started_at = ma.fields.DateTime(allow_none=True)
    due_at = ma.fields.DateTime(allow_none=True)
    due_explained = ma.fields.String(allow_none=True, metadata={"description": "Why it is due then, in your language."})


class DryRunPersonSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()


class DryRunResultSchema(ma.Schema):
    template = ma.fields.String()
    version = ma.fields.Integer(allow_none=True, metadata={"description": "null for a draft"})
    steps = ma.fields.List(ma.fields.Nested(DryRunStepSchema))
    people = ma.fields.List(ma.fields.Nested(DryRunPersonSchema), metadata={"description": "The name of each candidate named above."})


class AssigneeCountResultSchema(ma.Schema):
    named = ma.fields.Integer(metadata={"description": "Active people the selection names today"})
    on_duty = ma.fields.Integer(metadata={"description": "Of them, on duty now (their switch and their shifts)"})
    handlers = ma.fields.Integer(metadata={"description": "Who a task opened now would be offered: stand-ins for those away"})
    people = ma.fields.List(ma.fields.Dict(), metadata={"description": "The first 20 named: {id, name, on_duty}"})


class CaseValueSchema(ma.Schema):
    name = ma.fields.String()
    label = ma.fields.String(allow_none=True, metadata={"description": "The form's label, when the form declares it"})
    type = ma.fields.String(allow_none=True)
    value = ma.fields.Raw(metadata={"description": "The value; for an attachment or signature field {id, filename, content_type, "
                                                   "view_url}, for a photos field a list of those, for a location "
                                                   "{lat, lng, accuracy}, for a barcode the text read"})


class EarlierStepSchema(ma.Schema):
    step = ma.fields.String()
    title = ma.fields.String()
    instance = ma.fields.String(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    completed_by = ma.fields.Nested(PersonRefSchema, allow_none=True)
    completed_at = ma.fields.DateTime(allow_none=True)
    data = ma.fields.List(ma.fields.Nested(CaseValueSchema))


class CaseSchema(ma.Schema):
    refs = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), metadata={
        "description": "order_no, customer_ref, product_sku, batch_no: those the work order has"})
    data = ma.fields.List(ma.fields.Nested(CaseValueSchema), metadata={"description": "The work order's data"})
    earlier = ma.fields.List(ma.fields.Nested(EarlierStepSchema), metadata={
        "description": "What the steps before this one found, in the order they were completed"})


class WorkOrderCaseSchema(WorkOrderSummarySchema):
    data = ma.fields.List(ma.fields.Nested(CaseValueSchema), metadata={
        "description": "The work order's data, each value with its form's label and type"})


class PreviousStepSchema(EarlierStepSchema):
    attachments = ma.fields.List(ma.fields.Nested(AttachmentRefSchema), metadata={
        "description": "The photos, signatures and files the step's form holds"})


class TaskDetailSchema(TaskSchema):
    work_order = ma.fields.Nested(WorkOrderCaseSchema, metadata={
        "description": "The work order: number, title, references and data (the handler may see them: the work is theirs)"})
    previous = ma.fields.List(ma.fields.Nested(PreviousStepSchema), metadata={
        "description": "The steps completed before this one (its ancestors in the graph), oldest first: outcome, note, "
                       "data and attachments"})
    case = ma.fields.Nested(CaseSchema, metadata={"description": "What the handler needs to know of the case (the same "
                                                                 "as work_order.refs, work_order.data and previous)"})
    due_explained = ma.fields.String(allow_none=True, metadata={
        "description": "Why it is due when it is, in your language and time zone: the SLA, the calendar it runs on "
                       "(working hours, holidays, make-up days) and the non-working periods it skipped."})
    calendar = ma.fields.Dict(allow_none=True, metadata={
        "description": "The business calendar its due time runs on ({id, name}); null: the wall clock."})


class TeamBoardArgs(ma.Schema):
    department_id = ma.fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1), metadata={
        "description": "A department (and those below it) the reader leads; by default all they lead (admins: all)."})


class TeamLoadSchema(ma.Schema):
    template = ma.fields.String()
    name = ma.fields.String()
    open = ma.fields.Integer()
    capacity = ma.fields.Integer(allow_none=True, metadata={"description": "The most a dispatched step of it gives one person"})


DUTY_REASONS = ("shift", "switch", "switched_off", "off_shift")


class TeamMemberSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    on_duty = ma.fields.Boolean(metadata={"description": "On duty now by the one rule: their switch, and their shifts if they have any"})
    switch = ma.fields.Boolean(metadata={"description": "Their own on/off switch"})
    duty_reason = ma.fields.String(validate=validate.OneOf(DUTY_REASONS), metadata={
        "description": "Why: `shift` (on duty inside a shift), `switch` (no shifts, switched on), `switched_off` "
                       "(their switch is off), `off_shift` (they have shifts, none now)"})
    shift = ma.fields.Nested(ShiftTimesSchema, allow_none=True, metadata={
        "description": "The shifts covering now, back to back ones joined (`ends_at`: until when); null when none"})
    next_shift = ma.fields.Nested(ShiftTimesSchema, allow_none=True, metadata={
        "description": "The next shift starting after the current ones end (or after now), within 7 days; null when none"})
    department = ma.fields.Nested(PersonRefSchema)
    open = ma.fields.Integer(metadata={"description": "Tasks they hold, not completed"})
    overdue = ma.fields.Integer()
    by_template = ma.fields.List(ma.fields.Nested(TeamLoadSchema))


class TeamWaitingSchema(ma.Schema):
    template = ma.fields.String()
    name = ma.fields.String()
    step = ma.fields.String()
    step_title = ma.fields.String()
    count = ma.fields.Integer(metadata={"description": "Offers waiting for someone of the team below the capacity"})
    capacity = ma.fields.Integer(allow_none=True)


class TeamBoardSchema(ma.Schema):
    people = ma.fields.List(ma.fields.Nested(TeamMemberSchema))
    on_duty = ma.fields.Integer()
    open = ma.fields.Integer()
    waiting = ma.fields.List(ma.fields.Nested(TeamWaitingSchema))
    truncated = ma.fields.Boolean(metadata={"description": "More people than a board shows (500)"})
