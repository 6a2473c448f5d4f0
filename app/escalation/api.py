"""Manual escalation by a lead."""
import marshmallow as ma
from app.common.fastdump import Blueprint
from marshmallow import validate

from app.common.guard import auth_required, current_user
from app.common.clock import utcnow
from app.escalation.sweep import escalate_work_order
from app.workorders.policy import STEERING_ROLES
from app.flows.schemas import PRIORITIES
from app.workorders.schemas import WorkOrderSchema

blp = Blueprint("escalation", __name__, url_prefix="/api/v1", description="Escalation")


class EscalateSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=validate.Length(1, 2000))
    priority = ma.fields.String(load_default=None, allow_none=True, validate=validate.OneOf(PRIORITIES))


@blp.route("/work-orders/<int:work_order_id>/escalate", methods=["POST"])
@auth_required(roles=STEERING_ROLES)
@blp.arguments(EscalateSchema)
@blp.response(200, WorkOrderSchema)
def escalate(body, work_order_id):
    """Escalate now: priority up and every running task one level up the reporting line."""
    return escalate_work_order(user=current_user(), work_order_id=work_order_id, reason=body["reason"], now=utcnow(), priority=body["priority"])
