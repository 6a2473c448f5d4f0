"""Template bodies: steps, assignee specs, escalation, forms."""
import marshmallow as ma
from marshmallow import validate

from app.common.fields import StrictBoolean
from app.flows.forms import FormFieldSchema, per_language
from app.flows.graph import measure_duration

MODES = ("pool", "joint", "each")
DISPATCHES = ("claim", "round_robin", "least_loaded")
MAX_CAPACITY = 10_000
PRIORITIES = ("P1", "P2", "P3", "P4")
KEY = [validate.Length(1, 64), validate.Regexp(r"^[a-z0-9][a-z0-9_.-]*$", error="use lower-case letters, digits, '_', '.', '-'")]


class Duration(ma.fields.String):
    """An ISO 8601 duration string, checked on load and kept as given (its maximum is checked with the template)."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(max=40), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            measure_duration(text)
        except ValueError as exc:
            raise ma.ValidationError(str(exc))
        return text.strip().upper()


class SlaCalendar(ma.fields.Field):
    """Which clock a step's SLA runs on: "24x7" (the wall clock, also when absent), "business" (the calendar of the
    work order's department) or a calendar's id."""

    NAMED = ("24x7", "business")

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value in self.NAMED:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        raise ma.ValidationError('must be "24x7", "business" or a calendar id')


class RoleRefSchema(ma.Schema):
    role = ma.fields.String(required=True, validate=validate.OneOf(["staff", "lead", "quality", "admin"]))
    department = ma.fields.Integer(load_default=None, allow_none=True)


class AssigneeSpecSchema(ma.Schema):
    users = ma.fields.List(ma.fields.Integer(strict=True), load_default=list, validate=validate.Length(max=10_000))
    groups = ma.fields.List(ma.fields.Integer(strict=True), load_default=list, validate=validate.Length(max=1_000))
    departments = ma.fields.List(ma.fields.Integer(strict=True), load_default=list, validate=validate.Length(max=1_000))
    roles = ma.fields.List(ma.fields.Nested(RoleRefSchema), load_default=list, validate=validate.Length(max=100))
    from_data = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))


def spec_is_empty(spec: dict | None) -> bool:
    return not spec or not any(spec.get(k) for k in ("users", "groups", "departments", "roles", "from_data"))


class EscalationSchema(ma.Schema):
    interval = Duration(load_default=None, allow_none=True)
    max_level = ma.fields.Integer(load_default=3, validate=validate.Range(min=1, max=10))
    reassign_at_level = ma.fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=10))


class StepSchema(ma.Schema):
    key = ma.fields.String(required=True, validate=KEY)
    title = ma.fields.String(required=True, validate=validate.Length(1, 200))
    titles = per_language(metadata={"description": 'The title per language ({"zh-CN": …, "en": …}); `title` is said where a language '
                                                   "has none."})
    outcome_labels = ma.fields.Dict(keys=ma.fields.String(validate=validate.Length(1, 64)), values=per_language(64), metadata={
        "description": 'How each outcome is said per language: {"<outcome>": {"zh-CN": …, "en": …}}; the outcome itself is what '
                       "is stored and what conditions name."})
    after = ma.fields.List(ma.fields.String(validate=validate.Length(1, 64)), load_default=list, validate=validate.Length(max=50))
    assignees = ma.fields.Nested(AssigneeSpecSchema, load_default=None, allow_none=True)
    mode = ma.fields.String(load_default="pool", validate=validate.OneOf(MODES))
    sla = Duration(load_default=None, allow_none=True)
    remind_before = Duration(load_default=None, allow_none=True)
    sla_calendar = SlaCalendar(load_default=None, allow_none=True, metadata={
        "description": 'The clock of the SLA, reminder and escalations: "24x7" (default), "business" (the work order\'s '
                       "department's calendar) or a calendar id; with a calendar they count working time.",
        "oneOf": [{"type": "string", "enum": ["24x7", "business"]}, {"type": "integer", "minimum": 1}]})
    escalation = ma.fields.Nested(EscalationSchema, load_default=None, allow_none=True)
    outcomes = ma.fields.List(ma.fields.String(validate=validate.Length(1, 64)), load_default=lambda: ["done"], validate=validate.Length(1, 20))
    form = ma.fields.List(ma.fields.Nested(FormFieldSchema), load_default=list, validate=validate.Length(max=100))
    allow_return = StrictBoolean(load_default=False)
    for_each = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    when = ma.fields.Dict(load_default=None, allow_none=True, metadata={
        "description": "A condition over earlier outcomes and data (outcome, field, all, any, not); checked with the "
                       "template, by exact path. The step is skipped when it does not hold."})
    default = StrictBoolean(load_default=False, metadata={
        "description": "Start this step when none of its siblings' conditions hold (the other cases)."})
    dispatch = ma.fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DISPATCHES), metadata={
        "description": 'How a pool offer is handed out: "claim" (default: the first to claim it), "round_robin" '
                       '(each candidate on duty in turn) or "least_loaded" (the candidate on duty with the fewest open '
                       "tasks; of equals, who waited longest). Handed out at once, as a claim by that person."})
    capacity = ma.fields.Integer(strict=True, load_default=None, allow_none=True,
                                 validate=validate.Range(min=1, max=MAX_CAPACITY), metadata={
        "description": "With round_robin or least_loaded: nobody is given more than this many open tasks of the "
                       "template; beyond it the offer waits in the pool until someone has room."})
    handover_at_shift_end = StrictBoolean(load_default=False, metadata={
        "description": "A pool step: when its holder's shift ends (a shift with handover), a claimed task not started "
                       "yet goes back to the pool with a handover note."})

    @ma.validates_schema
    def _checks(self, data, **kwargs):
        if spec_is_empty(data.get("assignees")) and not data.get("for_each"):
            raise ma.ValidationError("name at least one of users, groups, departments, roles or from_data", "assignees")
        if data.get("sla_calendar") not in (None, "24x7") and not data.get("sla"):
            raise ma.ValidationError("a calendar needs an sla", "sla_calendar")
        if data.get("remind_before") and not data.get("sla"):
            raise ma.ValidationError("a reminder needs an sla", "remind_before")
        if data.get("remind_before") and data.get("sla") and measure_duration(data["remind_before"]) >= measure_duration(data["sla"]):
            raise ma.ValidationError("must be shorter than the sla", "remind_before")
        if len(set(data["outcomes"])) != len(data["outcomes"]):
            raise ma.ValidationError("outcomes must be distinct", "outcomes")
        unknown = sorted(set(data.get("outcome_labels") or {}) - set(data["outcomes"]))
        if unknown:
            raise ma.ValidationError(f"no such outcome: {', '.join(unknown)}", "outcome_labels")
        if data.get("dispatch") not in (None, "claim") and data["mode"] != "pool":
            raise ma.ValidationError("only a pool step's offer is handed out; use mode pool", "dispatch")
        if data.get("capacity") is not None and data.get("dispatch") not in ("round_robin", "least_loaded"):
            raise ma.ValidationError("a capacity needs dispatch round_robin or least_loaded", "capacity")
        if data.get("handover_at_shift_end") and data["mode"] != "pool":
            raise ma.ValidationError("only a pool step's tasks go back to the pool at a shift's end; use mode pool",
                                     "handover_at_shift_end")
        esc = data.get("escalation")
        if esc and esc.get("reassign_at_level") and esc["reassign_at_level"] > esc["max_level"]:
            raise ma.ValidationError("reassign_at_level cannot exceed max_level", "escalation")


class ClassificationSchema(ma.Schema):
    business = ma.fields.List(ma.fields.String(validate=validate.Length(1, 100)), load_default=list, validate=validate.Length(max=3))
    problem = ma.fields.List(ma.fields.String(validate=validate.Length(1, 100)), load_default=list, validate=validate.Length(max=3))


class TemplateSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    key = ma.fields.String(required=True, validate=KEY)
    name = ma.fields.String(required=True, validate=validate.Length(1, 200))
    description = ma.fields.String(load_default="", validate=validate.Length(0, 2000))
    version = ma.fields.Integer(dump_only=True)
    priority = ma.fields.String(load_default="P3", validate=validate.OneOf(PRIORITIES))
    classification = ma.fields.Nested(ClassificationSchema, load_default=dict)
    owner_department_id = ma.fields.Integer(load_default=None, allow_none=True)
    form = ma.fields.List(ma.fields.Nested(FormFieldSchema), load_default=list, validate=validate.Length(max=100))
    steps = ma.fields.List(ma.fields.Nested(StepSchema), required=True, validate=validate.Length(1, 100))
    is_current = ma.fields.Boolean(dump_only=True)
    active = ma.fields.Boolean(dump_only=True, metadata={
        "description": "False once deactivated (PATCH /templates/{key}): no new work order opens on it."})
    system = ma.fields.Boolean(dump_only=True, metadata={
        "description": "A flow Baton starts by itself (andon quarantine, recall, restock): installed with the database; "
                       "edit it to route it to your departments."})
    created_at = ma.fields.DateTime(dump_only=True)
    left_running = ma.fields.Integer(dump_only=True, metadata={
        "description": "In the answer to an edit only: how many running work orders stay on the version before (0 when "
                       "the version was edited in place)."})


class TemplateUpdateSchema(TemplateSchema):
    key = ma.fields.String(load_default=None, allow_none=True, metadata={"description": "Optional; must match the URL."})


class TemplateListArgs(ma.Schema):
    include_inactive = ma.fields.Boolean(load_default=False)


class TemplateVersionArgs(ma.Schema):
    version = ma.fields.Integer(validate=validate.Range(min=1))


class TemplateStateSchema(ma.Schema):
    active = StrictBoolean(required=True, metadata={"description": "false deactivates the template, true activates it again."})


class TemplateCheckSchema(ma.Schema):
    valid = ma.fields.Boolean(dump_only=True)


class TemplateDiffArgs(ma.Schema):
    from_ = ma.fields.Integer(data_key="from", load_default=None, validate=validate.Range(min=1),
                              metadata={"description": "The older version (default: the one before `to`)."})
    to = ma.fields.Integer(load_default=None, validate=validate.Range(min=1), metadata={"description": "Default: the current version."})


class _ChangeSchema(ma.Schema):
    field = ma.fields.String()
    from_ = ma.fields.Raw(data_key="from", attribute="from", allow_none=True)
    to = ma.fields.Raw(allow_none=True)


class _StepChangesSchema(ma.Schema):
    added = ma.fields.List(ma.fields.Dict(), metadata={"description": "{key, title} of each step only the newer version has"})
    removed = ma.fields.List(ma.fields.Dict(), metadata={"description": "{key, title} of each step only the older version has"})
    changed = ma.fields.List(ma.fields.Dict(), metadata={"description": "{key, title, fields: [{field, from, to}]}"})
    reordered = ma.fields.Boolean(metadata={"description": "Whether the steps both versions have are listed in another order"})


class _FormChangesSchema(ma.Schema):
    added = ma.fields.List(ma.fields.Dict(), metadata={"description": "{name, label}"})
    removed = ma.fields.List(ma.fields.Dict(), metadata={"description": "{name, label}"})
    changed = ma.fields.List(ma.fields.Dict(), metadata={"description": "{name, label, fields: [{field, from, to}]}"})


class TemplateDiffSchema(ma.Schema):
    key = ma.fields.String()
    from_ = ma.fields.Integer(data_key="from", attribute="from")
    to = ma.fields.Integer()
    same = ma.fields.Boolean()
    settings = ma.fields.List(ma.fields.Nested(_ChangeSchema), metadata={"description": "name, description, priority, classification, owner"})
    form = ma.fields.Nested(_FormChangesSchema)
    steps = ma.fields.Nested(_StepChangesSchema)
