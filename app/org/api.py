"""Organisation endpoints (admin), and the signed-in person's own profile."""
import csv
import io

from flask import Response, current_app, request
from flask.views import MethodView
from app.common.fastdump import Blueprint

from app.common.guard import auth_required, current_user
from app.common.clock import utcnow
from app.common.pagination import PageArgs, page_of, paginate
from app.common.text import spreadsheet_safe
from app.errors import Invalid
from app.org import importing, service, shift_import, shifts
from app.org.schemas import (
    DepartmentPatchSchema,
    DepartmentSchema,
    GroupPatchSchema,
    GroupSchema,
    ImportArgs,
    ImportResultSchema,
    PeopleArgs,
    PeopleFoundSchema,
    ShiftImportResultSchema,
    ShiftListArgs,
    ShiftPatchSchema,
    ShiftSchema,
    MePatchSchema,
    UserListArgs,
    UserPatchSchema,
    MeSchema,
    UserSchema,
)

blp = Blueprint("org", __name__, url_prefix="/api/v1", description="Departments, people, groups")


@blp.route("/departments")
class Departments(MethodView):
    @auth_required(roles=("admin", "lead"))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(DepartmentSchema))
    def get(self, page):
        """List departments."""
        return paginate(service.list_departments(), **page)

    @auth_required(roles=("admin",))
    @blp.arguments(DepartmentSchema)
    @blp.response(201, DepartmentSchema)
    def post(self, body):
        """Create a department."""
        return service.create_department(**body)


@blp.route("/departments/<int:department_id>")
class DepartmentItem(MethodView):
    @auth_required(roles=("admin", "lead"))
    @blp.response(200, DepartmentSchema)
    def get(self, department_id):
        """Get a department."""
        return service.get_department(department_id=department_id)

    @auth_required(roles=("admin",))
    @blp.arguments(DepartmentPatchSchema, required=False)  # every field is optional: no body is an empty one
    @blp.response(200, DepartmentSchema)
    def patch(self, body, department_id):
        """Change a department."""
        return service.update_department(department_id=department_id, changes=body)


@blp.route("/users")
class Users(MethodView):
    @auth_required(roles=("admin", "lead"))
    @blp.arguments(UserListArgs, location="query")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(UserSchema))
    def get(self, filters, page):
        """List people (admins and leads, who pick handlers)."""
        return paginate(service.list_users(**filters), **page)

    @auth_required(roles=("admin",))
    @blp.arguments(UserSchema)
    @blp.response(201, UserSchema)
    def post(self, body):
        """Create a person."""
        return service.create_user(**body)


@blp.route("/users/<int:user_id>")
class UserItem(MethodView):
    @auth_required(roles=("admin", "lead"))
    @blp.response(200, UserSchema)
    def get(self, user_id):
        """Get a person."""
        return service.get_user(user_id=user_id)

    @auth_required(roles=("admin",))
    @blp.arguments(UserPatchSchema, required=False)  # every field is optional: no body is an empty one
    @blp.response(200, UserSchema)
    def patch(self, body, user_id):
        """Change a person (deactivating ends their sessions at once)."""
        return service.update_user(user_id=user_id, changes=body, actor_id=current_user().id, now=utcnow())


@blp.route("/groups")
class Groups(MethodView):
    @auth_required(roles=("admin", "lead"))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(GroupSchema))
    def get(self, page):
        """List groups."""
        return paginate(service.list_groups(), **page)

    @auth_required(roles=("admin",))
    @blp.arguments(GroupSchema)
    @blp.response(201, GroupSchema)
    def post(self, body):
        """Create a group."""
        return service.create_group(**body)


@blp.route("/groups/<int:group_id>")
class GroupItem(MethodView):
    @auth_required(roles=("admin",))
    @blp.arguments(GroupPatchSchema, required=False)  # every field is optional: no body is an empty one
    @blp.response(200, GroupSchema)
    def patch(self, body, group_id):
        """Change a group."""
        return service.update_group(group_id=group_id, changes=body)


@blp.route("/me")
class Me(MethodView):
    @auth_required()
    @blp.response(200, MeSchema)
    def get(self):
        """The signed-in person with roles and permissions, and their stand-in by name."""
        return service.MeView(current_user(), utcnow())

    @auth_required()
    @blp.arguments(MePatchSchema, required=False)  # every field is optional: no body is an empty one
    @blp.response(200, MeSchema)
    def patch(self, body):
        """Change your availability, delegate, language or quiet hours."""
        return service.update_me(user=current_user(), changes=body, now=utcnow())


IMPORT_MAX_BYTES = 10 * 1024 * 1024


@blp.route("/users/import", methods=["POST"])
@auth_required(roles=("admin",))
@blp.arguments(ImportArgs, location="query")
@blp.response(200, ImportResultSchema)
@blp.doc(requestBody={"content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}})
def import_users(args):
    """Create or update people from a CSV (UTF-8 or GB18030) or XLSX file with a header row: login, name, department
    (code), manager (login, may be a row of the same file), roles and permissions (separated by , or ;), locale,
    phone, email, and optionally password. `dry_run=true` answers what would change and writes nothing; a real run
    is all or nothing. Problems: 422 with `details.rows` = [{row, column, message}], every one of them."""
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("Send the file as multipart/form-data field `file`.", details={"file": ["missing"]})
    data = upload.stream.read(IMPORT_MAX_BYTES + 1)
    if len(data) > IMPORT_MAX_BYTES:
        raise Invalid(f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB.", details={"file": ["too large"]})
    return importing.import_people(filename=upload.filename or "", data=data, dry_run=args["dry_run"])


@blp.route("/users/export.csv")
@auth_required(roles=("admin",))
@blp.doc(responses={"200": {"description": "Everyone, in the import's columns (UTF-8 with a BOM, so Excel opens it).",
                            "content": {"text/csv": {"schema": {"type": "string"}}}}})
def export_users():
    """Everyone in the import's columns: edit the file and import it back."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(importing.EXPORTED)
    writer.writerows([[spreadsheet_safe(v) for v in row] for row in importing.export_rows()])
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="people.csv"'})


@blp.route("/people")
@auth_required()
@blp.arguments(PeopleArgs, location="query")
@blp.response(200, PeopleFoundSchema)
def find_people(args):
    """Active people whose name or login contains `q`, for picking someone by name (a transfer, a stand-in): name,
    login and department, at most `limit`, names first that start with `q`."""
    return {"items": service.find_people(q=args["q"], limit=args["limit"])}


@blp.route("/shifts")
class Shifts(MethodView):
    @auth_required(roles=("admin", "lead"))
    @blp.arguments(ShiftListArgs, location="query")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(ShiftSchema))
    def get(self, filters, page):
        """List shifts (a lead: those of people and groups of their departments), by start."""
        return paginate(shifts.list_shifts(user=current_user(), **filters), **page)

    @auth_required(roles=("admin", "lead"))
    @blp.arguments(ShiftSchema)
    @blp.response(201, ShiftSchema)
    def post(self, body):
        """Plan a shift for a person or a group (a lead: of their departments)."""
        return shifts.create_shift(user=current_user(), body=body, now=utcnow())


@blp.route("/shifts/<int:shift_id>")
class ShiftItem(MethodView):
    @auth_required(roles=("admin", "lead"))
    @blp.response(200, ShiftSchema)
    def get(self, shift_id):
        """Get a shift."""
        return shifts.get_shift(user=current_user(), shift_id=shift_id)

    @auth_required(roles=("admin", "lead"))
    @blp.arguments(ShiftPatchSchema, required=False)  # every field is optional: no body is an empty one
    @blp.response(200, ShiftSchema)
    def patch(self, body, shift_id):
        """Move a shift, or change whose it is or whether it hands over."""
        return shifts.update_shift(user=current_user(), shift_id=shift_id, changes=body)

    @auth_required(roles=("admin", "lead"))
    @blp.response(204)
    def delete(self, shift_id):
        """Remove a shift."""
        shifts.delete_shift(user=current_user(), shift_id=shift_id)


@blp.route("/shifts/import", methods=["POST"])
@auth_required(roles=("admin", "lead"))
@blp.arguments(ImportArgs, location="query")
@blp.response(200, ShiftImportResultSchema)
@blp.doc(requestBody={"content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}})
def import_shifts(args):
    """Plan shifts from a CSV (UTF-8 or GB18030) or XLSX file with a header row: login or group (a group's name),
    starts_at, ends_at (ISO 8601 with an offset, or local time in the business time zone) and optionally handover.
    `dry_run=true` checks and writes nothing; a real run is all or nothing. Problems: 422 with `details.rows` =
    [{row, column, message}], every one of them."""
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("Send the file as multipart/form-data field `file`.", details={"file": ["missing"]})
    data = upload.stream.read(IMPORT_MAX_BYTES + 1)
    if len(data) > IMPORT_MAX_BYTES:
        raise Invalid(f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB.", details={"file": ["too large"]})
    return shift_import.import_shifts(user=current_user(), filename=upload.filename or "", data=data, dry_run=args["dry_run"],
                                      tz=current_app.config["BUSINESS_TIMEZONE"], now=utcnow())
