"""Flow template endpoints."""
from flask.views import MethodView
from app.common.fastdump import Blueprint

from app.common.guard import auth_required, current_user
from app.common.clock import utcnow
from app.errors import Invalid
from app.common.pagination import PageArgs, page_of, paginate
from app.flows import service
from app.flows.schemas import (TemplateCheckSchema, TemplateDiffArgs, TemplateDiffSchema, TemplateListArgs, TemplateSchema, TemplateStateSchema, TemplateUpdateSchema,
                               TemplateVersionArgs)

blp = Blueprint("templates", __name__, url_prefix="/api/v1", description="Flow templates")


@blp.route("/templates")
class Templates(MethodView):
    @auth_required()
    @blp.arguments(TemplateListArgs, location="query")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(TemplateSchema))
    def get(self, args, page):
        """List the current version of each template."""
        return paginate(service.list_templates(**args), **page)

    @auth_required(roles=("admin",))
    @blp.arguments(TemplateSchema)
    @blp.response(201, TemplateSchema)
    def post(self, body):
        """Create a flow template (its steps must form a DAG)."""
        return service.create_template(body=body, created_by=current_user(), now=utcnow())


@blp.route("/templates/validate", methods=["POST"])
@auth_required(roles=("admin",))
@blp.arguments(TemplateSchema)
@blp.response(200, TemplateCheckSchema)
def validate_template(body):
    """Check a draft template as publishing would (422 naming each path), writing nothing."""
    return service.check_template(body=body)


@blp.route("/templates/<string:key>")
class TemplateItem(MethodView):
    @auth_required()
    @blp.arguments(TemplateVersionArgs, location="query")
    @blp.response(200, TemplateSchema)
    def get(self, args, key):
        """Get the current (or a given) version of a template."""
        return service.get_template(key=key, version=args.get("version"))

    @auth_required(roles=("admin",))
    @blp.arguments(TemplateUpdateSchema)
    @blp.response(200, TemplateSchema)
    def put(self, body, key):
        """Edit a template: running work orders keep the version they started with."""
        if body.get("key") not in (None, key):
            raise Invalid("The key cannot change.", details={"key": [f"must be {key!r}"]})
        return service.replace_template(key=key, body={**body, "key": key}, created_by=current_user(), now=utcnow())

    @auth_required(roles=("admin",))
    @blp.arguments(TemplateStateSchema)
    @blp.response(200, TemplateSchema)
    def patch(self, body, key):
        """Deactivate a template (running work orders carry on) or activate it again."""
        return service.set_template_active(key=key, active=body["active"])


@blp.route("/templates/<string:key>/diff")
@auth_required()
@blp.arguments(TemplateDiffArgs, location="query")
@blp.response(200, TemplateDiffSchema)
def template_diff(args, key):
    """What changed between two versions: the template's settings, its form's fields, and its steps (added, removed,
    changed field by field)."""
    return service.template_diff(key=key, before=args["from_"], after=args["to"])
