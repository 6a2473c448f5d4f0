"""Work-order and task endpoints."""
from flask import current_app, redirect, request, send_file
from flask.views import MethodView
from app.common.fastdump import Blueprint

from app.common.guard import auth_required, current_user
from app.common.clock import utcnow
from app.common.pagination import PageArgs, page_of, paginate
from app.errors import Invalid
from app.flows.service import get_template
from app.org.service import get_user, reader_zone
from app.flows.schemas import AssigneeSpecSchema
from app.workorders import (
    attachments, board, claims, classifications, completion, dryrun, fastpaths, handlers, handoffs, presenters, service,
)
from app.workorders.inbox import inbox as inbox_of
from app.workorders.schemas import (
    TeamBoardArgs,
    TeamBoardSchema,
    TaskDetailSchema,
    AssigneeCountResultSchema,
    DryRunResultSchema,
    DryRunSchema,
    AttachmentFormSchema,
    AttachmentRequestSchema,
    AttachmentSchema,
    CancelSchema,
    CandidatesSchema,
    ClassificationPathSchema,
    ClassificationTreesSchema,
    ClaimSchema,
    CommentSchema,
    CompleteSchema,
    AttachmentViewArgs,
    InboxArgs,
    InboxSchema,
    ReleaseSchema,
    ReturnSchema,
    TaskSchema,
    TimelineEventSchema,
    TransferSchema,
    WorkOrderCreatedSchema,
    WorkOrderCreateSchema,
    WorkOrderDetailSchema,
    WorkOrderListArgs,
    WorkOrderSchema,
)
from app.workorders import policy
from app.workorders.policy import visible_task
from app.workorders.storage import ALLOWED_TYPES
from app.workorders.storage import from_config as storage_from_config

blp = Blueprint("workorders", __name__, url_prefix="/api/v1", description="Work orders and tasks")


def _skew() -> int:
    return current_app.config["OCCURRED_AT_MAX_SKEW_SECONDS"]


@blp.route("/work-orders")
class WorkOrders(MethodView):
    @auth_required()
    @blp.arguments(WorkOrderListArgs, location="query")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(WorkOrderSchema))
    def get(self, filters, page):
        """List the work orders you may see, newest first, with filters."""
        return paginate(service.list_work_orders(user=current_user(), filters={**filters, "now": utcnow()}), **page)

    @auth_required(roles=policy.STEERING_ROLES)
    @blp.arguments(WorkOrderCreateSchema)
    @blp.response(201, WorkOrderCreatedSchema)
    def post(self, body):
        """Open a work order from a template; its first steps start at once."""
        user = current_user()
        return fastpaths.create_and_present(body=body, user=user, department_id=user.department_id, now=utcnow(),
                                            tz=current_app.config["BUSINESS_TIMEZONE"])


@blp.route("/work-orders/<int:work_order_id>")
@auth_required()
@blp.response(200, WorkOrderDetailSchema)
def get_work_order(work_order_id):
    """A work order with its first tasks (the ones you may see) and its timeline."""
    user = current_user()
    work_order = service.get_work_order(user=user, work_order_id=work_order_id)
    return presenters.work_order_view(user=user, work_order=work_order, now=utcnow(), zone=_reader_zone(user), link=_viewer(user))


@blp.route("/work-orders/<int:work_order_id>/tasks")
@auth_required()
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(TaskSchema))
def list_work_order_tasks(page, work_order_id):
    """All the tasks of a work order that you may see, a page at a time, in the order they were opened."""
    user = current_user()
    work_order = service.get_work_order(user=user, work_order_id=work_order_id)
    found = paginate(service.list_tasks(user=user, work_order=work_order), **page)
    return {**found, "items": presenters.present_many(found["items"], utcnow())}


@blp.route("/work-orders/<int:work_order_id>/cancel", methods=["POST"])
@auth_required()
@blp.arguments(CancelSchema)
@blp.response(200, WorkOrderSchema)
def cancel_work_order(body, work_order_id):
    """Cancel a work order and its open tasks."""
    return service.cancel_work_order(user=current_user(), work_order_id=work_order_id, reason=body["reason"], now=utcnow())


@blp.route("/work-orders/<int:work_order_id>/comments", methods=["POST"])
@auth_required()
@blp.arguments(CommentSchema)
@blp.response(201, TimelineEventSchema)
def comment(body, work_order_id):
    """Comment on a work order."""
    return service.add_comment(user=current_user(), work_order_id=work_order_id, body=body["body"], now=utcnow(),
                               occurred_at=body.get("occurred_at"))


def _attachment_view(attachment, upload=None):
    attachment.url = f"/api/v1/attachments/{attachment.id}"
    attachment.upload = upload
    return attachment


@blp.route("/work-orders/<int:work_order_id>/attachments", methods=["POST"])
@auth_required()
@blp.response(201, AttachmentSchema)
@blp.doc(requestBody={"content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}, "task_id": {"type": "integer"}}}},
    "application/json": {"schema": AttachmentRequestSchema},
}})
def add_attachment(work_order_id):
    """Attach a photo or file (multipart `file`), or, with S3 storage, request a presigned upload (JSON)."""
    cfg = current_app.config
    storage = storage_from_config(cfg)
    if request.is_json:
        body = AttachmentRequestSchema().load(request.get_json())
        attachment, upload = attachments.request_upload(user=current_user(), work_order_id=work_order_id, storage=storage,
                                                        max_bytes=cfg["ATTACHMENT_MAX_BYTES"], now=utcnow(), **body)
        return _attachment_view(attachment, upload)
    upload = request.files.get("file")
    if upload is None:
        raise Invalid("Send the file as multipart/form-data field `file`.", details={"file": ["missing"]})
    form = AttachmentFormSchema().load({k: v for k, v in request.form.items() if k == "task_id"})
    attachment = attachments.upload(user=current_user(), work_order_id=work_order_id, stream=upload.stream, filename=upload.filename,
                                    task_id=form["task_id"], storage=storage, max_bytes=cfg["ATTACHMENT_MAX_BYTES"], now=utcnow())
    return _attachment_view(attachment)


@blp.route("/attachments/<int:attachment_id>/confirm", methods=["POST"])
@auth_required()
@blp.response(200, AttachmentSchema)
def confirm_attachment(attachment_id):
    """Confirm a presigned upload: the bytes are checked before the attachment counts."""
    attachment = attachments.confirm_upload(user=current_user(), attachment_id=attachment_id,
                                            storage=storage_from_config(current_app.config), now=utcnow())
    return _attachment_view(attachment)


@blp.route("/attachments/<int:attachment_id>")
@auth_required()
@blp.doc(responses={
    "200": {"description": "The file's bytes, as the type they were checked to be.",
            "content": {content_type: {"schema": {"type": "string", "format": "binary"}} for content_type in ALLOWED_TYPES}},
    "302": {"description": "With S3 storage: a short-lived presigned download URL in `Location`."},
})
def download_attachment(attachment_id):
    """Download an attachment (served with headers that stop browsers running it)."""
    return _serve_attachment(attachments.get_attachment(user=current_user(), attachment_id=attachment_id))


@blp.route("/attachments/<int:attachment_id>/view")
@blp.arguments(AttachmentViewArgs, location="query")
@blp.doc(security=[], responses={
    "200": {"description": "The file's bytes (images inline, other files as a download).",
            "content": {content_type: {"schema": {"type": "string", "format": "binary"}} for content_type in ALLOWED_TYPES}},
    "401": {"description": "The link is not valid or has expired (link_invalid, link_expired)."},
})
def view_attachment(args, attachment_id):
    """An attachment through the short-lived link the answers give its reader (`view_url`): what an <img> in the app
    loads, since it cannot send a header. Good for 15 minutes, for that reader and that attachment only."""
    return _serve_attachment(attachments.viewed_attachment(secret=current_app.config["SECRET_KEY"], attachment_id=attachment_id,
                                                           token=args["t"]))


def _serve_attachment(attachment):
    storage = storage_from_config(current_app.config)
    if getattr(storage, "presigned", False):
        return redirect(storage.download_url(attachment.storage_key, attachment.filename, attachment.content_type))
    inline = attachment.content_type.startswith("image/")
    response = send_file(storage.open(attachment.storage_key), mimetype=attachment.content_type,
                         as_attachment=not inline, download_name=attachment.filename, max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def _viewer(user):
    """Signs view links for `user` (presenters name attachments with them)."""
    secret = current_app.config["SECRET_KEY"]
    return lambda attachment_id: attachments.view_link(secret=secret, user=user, attachment_id=attachment_id)


@blp.route("/tasks/inbox")
@auth_required()
@blp.arguments(InboxArgs, location="query")
@blp.response(200, InboxSchema)
def inbox(args):
    """Your tasks and the offers you can claim, overdue and soonest due first: searchable, sortable, paged, with
    totals, and many similar offers folded into groups."""
    return inbox_of(user=current_user(), now=utcnow(), **args)


@blp.route("/team")
@auth_required(roles=("lead", "admin"))
@blp.arguments(TeamBoardArgs, location="query")
@blp.response(200, TeamBoardSchema)
def team(args):
    """A lead's team board: who of their departments is on duty, the open work each holds (overdue among it, and
    per template against a dispatched step's capacity), and offers waiting for someone with room."""
    return board.team_board(user=current_user(), department_id=args["department_id"], now=utcnow())


@blp.route("/users/<int:user_id>/work")
@auth_required(roles=("admin",))
@blp.response(200, InboxSchema)
def work_of(user_id):
    """A person's open work as their own inbox shows it (admins, from the console): their tasks and their offers."""
    return inbox_of(user=get_user(user_id=user_id), now=utcnow())


@blp.route("/tasks/<int:task_id>")
@auth_required()
@blp.response(200, TaskDetailSchema)
def get_task(task_id):
    """One task with its work order, the step's outcomes and form, and the case: the work order's references and
    data and what the steps before this one found."""
    user = current_user()
    task = visible_task(user, task_id)
    return {**presenters.task_detail(task, utcnow(), link=_viewer(user)), **presenters.due_of(task, user, _reader_zone(user))}


def _reader_zone(user) -> str:
    """The time zone `user` reads times in."""
    return reader_zone(user.quiet_hours, current_app.config["BUSINESS_TIMEZONE"])


def _task_view(task):
    return presenters.present_one(task, utcnow())


@blp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@auth_required()
@blp.arguments(ClaimSchema, required=False)  # every field is optional: no body is an empty one
@blp.response(200, TaskSchema)
def claim(body, task_id):
    """Claim a pool task; 409 task_taken when someone else won."""
    return claims.claim_and_present(user=current_user(), task_id=task_id, now=utcnow(), occurred_at=body["occurred_at"],
                                    max_skew=_skew())


@blp.route("/tasks/<int:task_id>/release", methods=["POST"])
@auth_required()
@blp.arguments(ReleaseSchema, required=False)  # every field is optional: no body is an empty one
@blp.response(200, TaskSchema)
def release(body, task_id):
    """Give a claimed pool task back."""
    return claims.release_and_present(user=current_user(), task_id=task_id, now=utcnow(), reason=body["reason"])


@blp.route("/tasks/<int:task_id>/complete", methods=["POST"])
@auth_required()
@blp.arguments(CompleteSchema, required=False)  # every field is optional: no body is an empty one
@blp.response(200, TaskSchema)
def complete(body, task_id):
    """Complete a task with an allowed outcome, a note and the step's form."""
    return completion.complete_and_present(
        user=current_user(), task_id=task_id, outcome=body["outcome"], note=body["note"], data=body["data"], now=utcnow(),
        occurred_at=body["occurred_at"], expected_version=body["version"], max_skew=_skew())


@blp.route("/tasks/<int:task_id>/return", methods=["POST"])
@auth_required()
@blp.arguments(ReturnSchema)
@blp.response(200, TaskSchema)
def return_(body, task_id):
    """Return the work to the previous step with a reason."""
    return _task_view(completion.return_task(user=current_user(), task_id=task_id, reason=body["reason"], to_step=body["to_step"],
                                        now=utcnow(), occurred_at=body["occurred_at"]))


@blp.route("/tasks/<int:task_id>/transfer", methods=["POST"])
@auth_required()
@blp.arguments(TransferSchema)
@blp.response(200, TaskSchema)
def transfer(body, task_id):
    """Hand a task to someone else."""
    return handoffs.transfer_and_present(user=current_user(), task_id=task_id, to_user=body["to_user"], now=utcnow(),
                                         reason=body["reason"])


@blp.route("/tasks/<int:task_id>/candidates", methods=["POST"])
@auth_required(roles=policy.STEERING_ROLES)
@blp.arguments(CandidatesSchema)
@blp.response(200, TaskSchema)
def candidates(body, task_id):
    """Add or remove handlers of a running step (lead)."""
    return _task_view(handoffs.change_candidates(user=current_user(), task_id=task_id, add=body["add"], remove=body["remove"], now=utcnow()))


@blp.route("/templates/<string:key>/dry-run", methods=["POST"])
@auth_required(roles=("admin", "lead"))
@blp.arguments(DryRunSchema)
@blp.response(200, DryRunResultSchema)
def template_dry_run(body, key):
    """Which steps a work order would start or skip with this sample, who would get each, when each would be due;
    nothing is written."""
    if body["template"] is not None:
        if body["version"] is not None:
            raise Invalid("Give either a version or a draft.", details={"version": ["not with a draft template"]})
        template = dryrun.draft_template(key=key, body=body["template"])
    else:
        template = get_template(key=key, version=body["version"])
    return dryrun.dry_run(template=template, user=current_user(), data=body["data"],
                          outcomes=body["outcomes"], step_data=body["step_data"], start_at=body["start_at"] or utcnow(),
                          department_id=body["department_id"], zone=current_app.config["BUSINESS_TIMEZONE"])


@blp.route("/assignees/count", methods=["POST"])
@auth_required(roles=("admin", "lead"))
@blp.arguments(AssigneeSpecSchema)
@blp.response(200, AssigneeCountResultSchema)
def assignee_count(body):
    """Who an assignee selection names today: the active people, how many are on duty now, and how many a task opened
    now would be offered (stand-ins for those away). `from_data` depends on each work order and is not counted."""
    return handlers.count_spec(body, now=utcnow())


@blp.route("/classifications")
class Classifications(MethodView):
    @auth_required()
    @blp.response(200, ClassificationTreesSchema)
    def get(self):
        """The business and problem trees (3 levels each) for classification pickers."""
        return classifications.trees()

    @auth_required(roles=("admin",))
    @blp.arguments(ClassificationPathSchema)
    @blp.response(201, ClassificationTreesSchema)
    def post(self, body):
        """Add a path to a tree (admin)."""
        classifications.add_path(tree=body["tree"], path=body["path"])
        return classifications.trees()
