"""Organisation request and response bodies."""

from datetime import timezone

import marshmallow as ma
from marshmallow import validate

from app.common.fields import PersonReference, StrictBoolean, known_timezone
from app.org.models import LOCALES, Permission, Role

ROLE_VALUES = [r.value for r in Role]
PHONE = r"^\+?[0-9][0-9 \-]{4,30}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_PHONE = [validate.Length(max=32), validate.Regexp(PHONE, error="not a phone number such as +86 138 0000 0000")]
_EMAIL = [validate.Length(max=254), validate.Regexp(EMAIL, error="not an email address")]
_CHANNEL_ID = [validate.Length(max=64), validate.Regexp(r"^\S*$", error="at most 64 characters, no spaces")]
PERMISSION_VALUES = [p.value for p in Permission]


class PersonRefSchema(ma.Schema):
    """A person wherever an answer names one (an assignee, a candidate, an actor, who pulled an andon)."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    login = ma.fields.String()


class DepartmentSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    code = ma.fields.String(required=True, validate=[validate.Length(1, 64), validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")])
    name = ma.fields.String(required=True, validate=validate.Length(1, 200))
    kind = ma.fields.String(load_default="", validate=validate.Length(0, 64))
    parent_id = ma.fields.Integer(allow_none=True, load_default=None)
    head_id = ma.fields.Integer(allow_none=True, load_default=None)
    calendar_id = ma.fields.Integer(allow_none=True, load_default=None, metadata={
        "description": "The calendar of its working hours (business-time SLAs); null inherits the parent's, 24x7 at the root."})
    active = ma.fields.Boolean(dump_only=True)


class DepartmentPatchSchema(ma.Schema):
    code = ma.fields.String(validate=[validate.Length(1, 64), validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")])
    name = ma.fields.String(validate=validate.Length(1, 200))
    kind = ma.fields.String(validate=validate.Length(0, 64))
    parent_id = ma.fields.Integer(allow_none=True)
    head_id = ma.fields.Integer(allow_none=True)
    calendar_id = ma.fields.Integer(allow_none=True)
    active = StrictBoolean()


class QuietHoursSchema(ma.Schema):
    start = ma.fields.String(required=True, validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))
    end = ma.fields.String(required=True, validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))
    timezone = ma.fields.String(load_default="Asia/Shanghai", validate=[validate.Length(1, 64), known_timezone])


class UserSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    login = ma.fields.String(required=True, validate=[validate.Length(1, 64), validate.Regexp(r"^\S+$")])
    # Length, characters and guessability: one rule, `app.org.passwords.password_problems`, applied by the service.
    password = ma.fields.String(required=True, load_only=True)
    name = ma.fields.String(required=True, validate=validate.Length(1, 200))
    department_id = ma.fields.Integer(allow_none=True, load_default=None)
    manager_id = ma.fields.Integer(allow_none=True, load_default=None)
    roles = ma.fields.List(ma.fields.String(validate=validate.OneOf(ROLE_VALUES)), load_default=lambda: ["staff"])
    permissions = ma.fields.List(ma.fields.String(validate=validate.OneOf(PERMISSION_VALUES)), load_default=list)
    locale = ma.fields.String(load_default="zh-CN", validate=validate.OneOf(LOCALES))
    phone = ma.fields.String(load_default=None, allow_none=True, validate=_PHONE)
    email = ma.fields.String(load_default=None, allow_none=True, validate=_EMAIL)
    # The person's user id in the company's DingTalk, WeCom and Feishu apps (docs/design.md §14).
    dingtalk_userid = ma.fields.String(load_default=None, allow_none=True, validate=_CHANNEL_ID)
    wecom_userid = ma.fields.String(load_default=None, allow_none=True, validate=_CHANNEL_ID)
    feishu_user_id = ma.fields.String(load_default=None, allow_none=True, validate=_CHANNEL_ID)
    active = ma.fields.Boolean(dump_only=True)
    handed_back = ma.fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "After a deactivation: how many of their tasks were handed back (to the pool, or to whoever "
                       "stands in for them)."})
    on_duty = ma.fields.Boolean(dump_only=True)
    delegate_id = ma.fields.Integer(dump_only=True, allow_none=True)
    quiet_hours = ma.fields.Nested(QuietHoursSchema, dump_only=True, allow_none=True)


class UserPatchSchema(ma.Schema):
    password = ma.fields.String(load_only=True)
    name = ma.fields.String(validate=validate.Length(1, 200))
    department_id = ma.fields.Integer(allow_none=True)
    manager_id = ma.fields.Integer(allow_none=True)
    roles = ma.fields.List(ma.fields.String(validate=validate.OneOf(ROLE_VALUES)))
    permissions = ma.fields.List(ma.fields.String(validate=validate.OneOf(PERMISSION_VALUES)))
    locale = ma.fields.String(validate=validate.OneOf(LOCALES))
    phone = ma.fields.String(allow_none=True, validate=_PHONE)
    email = ma.fields.String(allow_none=True, validate=_EMAIL)
    active = StrictBoolean()
    dingtalk_userid = ma.fields.String(allow_none=True, validate=_CHANNEL_ID)
    wecom_userid = ma.fields.String(allow_none=True, validate=_CHANNEL_ID)
    feishu_user_id = ma.fields.String(allow_none=True, validate=_CHANNEL_ID)


class ShiftTimesSchema(ma.Schema):
    starts_at = ma.fields.DateTime()
    ends_at = ma.fields.DateTime()


class MeSchema(UserSchema):
    """The signed-in person, with the stand-in they named by name (people are shown by name, never by id)."""

    delegate = ma.fields.Nested(PersonRefSchema, dump_only=True, allow_none=True)
    on_duty_now = ma.fields.Boolean(dump_only=True, metadata={
        "description": "On duty at this moment: their switch, and for someone with shifts a shift covering now."})
    shift = ma.fields.Nested(ShiftTimesSchema, dump_only=True, allow_none=True, metadata={
        "description": "Their shift covering now, else their next one within 7 days; null when none."})


class MePatchSchema(ma.Schema):
    on_duty = StrictBoolean()
    delegate_id = PersonReference(allow_none=True, metadata={"description": "Your stand-in while away: an id or a login; null for none"})
    locale = ma.fields.String(validate=validate.OneOf(LOCALES))
    quiet_hours = ma.fields.Nested(QuietHoursSchema, allow_none=True)
    # One's own identities on the channels (docs/design.md §14): an admin, the import or the person sets them.
    phone = ma.fields.String(allow_none=True, validate=_PHONE)
    dingtalk_userid = ma.fields.String(allow_none=True, validate=_CHANNEL_ID)
    wecom_userid = ma.fields.String(allow_none=True, validate=_CHANNEL_ID)
    feishu_user_id = ma.fields.String(allow_none=True, validate=_CHANNEL_ID)


class UserListArgs(ma.Schema):
    department_id = ma.fields.Integer()
    role = ma.fields.String(validate=validate.OneOf(ROLE_VALUES))
    active = ma.fields.Boolean()  # a query-string flag: "true"/"false"
    q = ma.fields.String(validate=validate.Length(1, 100))


class GroupSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=validate.Length(1, 200))
    description = ma.fields.String(load_default="", validate=validate.Length(0, 2000))
    members = ma.fields.List(ma.fields.Integer(), load_default=list, validate=validate.Length(max=10_000))
    active = ma.fields.Boolean(dump_only=True)


class GroupPatchSchema(ma.Schema):
    name = ma.fields.String(validate=validate.Length(1, 200))
    description = ma.fields.String(validate=validate.Length(0, 2000))
    members = ma.fields.List(ma.fields.Integer(), validate=validate.Length(max=10_000))
    active = StrictBoolean()


class ImportArgs(ma.Schema):
    dry_run = ma.fields.Boolean(load_default=False, truthy={"true", "1"}, falsy={"false", "0"}, metadata={
        "description": "true: check the file and answer what would change, writing nothing."})


class ImportRowSchema(ma.Schema):
    row = ma.fields.Integer(metadata={"description": "The row in the file (the header's row counts)."})
    login = ma.fields.String()
    action = ma.fields.String(metadata={"description": "create, update or unchanged"})
    changes = ma.fields.List(ma.fields.String(), metadata={"description": "The fields that change (a password is named, never shown)."})


class ImportResultSchema(ma.Schema):
    dry_run = ma.fields.Boolean()
    created = ma.fields.Integer()
    updated = ma.fields.Integer()
    unchanged = ma.fields.Integer()
    rows = ma.fields.List(ma.fields.Nested(ImportRowSchema))
    ignored_columns = ma.fields.List(ma.fields.String(), metadata={
        "description": "Columns of the file the import does not read (an HR export's others), left aside."})


class PeopleArgs(ma.Schema):
    q = ma.fields.String(load_default="", validate=validate.Length(0, 100), metadata={
        "description": "Part of a name or login; empty: the first people by name."})
    limit = ma.fields.Integer(load_default=20, validate=validate.Range(1, 50))


class PersonFoundSchema(PersonRefSchema):
    department = ma.fields.String(allow_none=True, metadata={"description": "Their department's name."})


class PeopleFoundSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(PersonFoundSchema))


def _utc(value):
    return value.astimezone(timezone.utc) if value is not None else None


class ShiftSchema(ma.Schema):
    """A shift: a person's or a group's, [starts_at, ends_at), at most 7 days; times with their offset."""

    id = ma.fields.Integer(dump_only=True)
    user_id = ma.fields.Integer(load_default=None, allow_none=True, metadata={"description": "Whose shift (or group_id)."})
    group_id = ma.fields.Integer(load_default=None, allow_none=True, metadata={"description": "The group whose shift (or user_id)."})
    starts_at = ma.fields.AwareDateTime(required=True)
    ends_at = ma.fields.AwareDateTime(required=True)
    handover = StrictBoolean(load_default=False, metadata={
        "description": "At its end, claimed tasks not started go back to the pool (where the step allows it)."})
    handed_over_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    created_by_id = ma.fields.Integer(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)

    @ma.post_load
    def _in_utc(self, data, **kwargs):
        return {k: _utc(v) if k in ("starts_at", "ends_at") else v for k, v in data.items()}


class ShiftPatchSchema(ShiftSchema):
    user_id = ma.fields.Integer(allow_none=True)
    group_id = ma.fields.Integer(allow_none=True)
    starts_at = ma.fields.AwareDateTime()
    ends_at = ma.fields.AwareDateTime()
    handover = StrictBoolean()


class ShiftListArgs(ma.Schema):
    user_id = ma.fields.Integer(metadata={"description": "A person's shifts: their own and their groups'."})
    group_id = ma.fields.Integer()
    starts_before = ma.fields.AwareDateTime(metadata={"description": "Only shifts starting before this time."})
    ends_after = ma.fields.AwareDateTime(metadata={"description": "Only shifts ending after this time."})


class ShiftImportRowSchema(ma.Schema):
    row = ma.fields.Integer()
    action = ma.fields.String(metadata={"description": "create"})


class ShiftImportResultSchema(ma.Schema):
    dry_run = ma.fields.Boolean()
    created = ma.fields.Integer()
    rows = ma.fields.List(ma.fields.Nested(ShiftImportRowSchema))
    ignored_columns = ma.fields.List(ma.fields.String())
