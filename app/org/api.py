"""Organisation endpoints (admin), and the signed-in person's own profile."""
from flask.views import MethodView
from flask_smorest import Blueprint

from app.common.guard import auth_required, current_user
from app.common.clock import utcnow
from app.common.pagination import PageArgs, page_of, paginate
from app.org import service
from app.org.schemas import (
    DepartmentPatchSchema,
    DepartmentSchema,
    GroupPatchSchema,
    GroupSchema,
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
        return service.MeView(current_user())

    @auth_required()
    @blp.arguments(MePatchSchema, required=False)  # every field is optional: no body is an empty one
    @blp.response(200, MeSchema)
    def patch(self, body):
        """Change your availability, delegate, language or quiet hours."""
        return service.update_me(user=current_user(), changes=body, now=utcnow())
