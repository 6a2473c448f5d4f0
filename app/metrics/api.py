"""Metrics endpoints: evaluations, service volumes, the summary and its CSV export, effort weights."""
from datetime import timedelta

from flask import Response, current_app
from flask.views import MethodView
from app.common.fastdump import Blueprint

from app.common.guard import auth_required, current_principal, current_user
from app.common.clock import utcnow
from app.errors import Invalid
from app.metrics import catch_up, effort, evaluation, export, policy, summary, volumes
from app.metrics.period import Period, local_today
from app.workorders.policy import STEERING_ROLES
from app.metrics.schemas import (
    MAX_PERIOD_DAYS,
    EffortWeightsSchema,
    EffortWeightsViewSchema,
    EvaluationInSchema,
    EvaluationSchema,
    ExportArgs,
    SummaryArgs,
    SummarySchema,
    VolumesInSchema,
    VolumesResultSchema,
)

blp = Blueprint("metrics", __name__, url_prefix="/api/v1", description="Service metrics, evaluations and service volumes")

DEFAULT_PERIOD_DAYS = 30
FACTS_AS_OF_HEADER = "Facts-As-Of"


def _period(args: dict) -> Period:
    """The requested days in the business time zone; by default the 30 days up to today."""
    tz = current_app.config["BUSINESS_TIMEZONE"]
    start, end = args.get("start"), args.get("end")
    if end is None:
        end = local_today(utcnow(), tz)
        if start is not None and start > end:
            end = start
    if start is None:
        start = end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise Invalid(f"A period covers at most {MAX_PERIOD_DAYS} days.", details={"from": ["too long before `to` (or today)"]})
    return Period(start=start, end=end, tz=tz)


@blp.route("/work-orders/<int:work_order_id>/evaluation")
class WorkOrderEvaluation(MethodView):
    @auth_required()
    @blp.response(200, EvaluationSchema)
    def get(self, work_order_id):
        """The evaluation of a work order you may see (404 until it is evaluated)."""
        return evaluation.get_evaluation(user=current_user(), work_order_id=work_order_id)

    @auth_required(roles=STEERING_ROLES, scope="volumes:write")
    @blp.arguments(EvaluationInSchema)
    @blp.response(201, EvaluationSchema)
    @blp.alt_response(200, schema=EvaluationSchema, description="An existing evaluation was corrected")
    def post(self, body, work_order_id):
        """Record the customer's answer and the QA score 1-4 of a resolved work order; posting again corrects it."""
        principal = current_principal()
        result, created = evaluation.record_evaluation(
            work_order_id=work_order_id, changes=body, now=utcnow(), user=principal.user, api_key=principal.api_key)
        return result, 201 if created else 200


@blp.route("/service-volumes", methods=["POST"])
@auth_required(roles=("admin",), scope="volumes:write")
@blp.arguments(VolumesInSchema)
@blp.response(200, VolumesResultSchema)
def post_service_volumes(body):
    """Post daily request counts per channel and daily order volume; re-posting a day and channel replaces it."""
    now = utcnow()
    today = local_today(now, current_app.config["BUSINESS_TIMEZONE"])
    return volumes.post_service_volumes(items=body["volumes"], caller=current_principal().caller_id, now=now, today=today)


@blp.route("/metrics/summary")
@auth_required(roles=policy.READER_ROLES)
@blp.arguments(SummaryArgs, location="query")
@blp.response(200, SummarySchema)
def metrics_summary(args):
    """Service rate, resolution, effort, SLA, backlog and Pareto for a period, overall and per group (read only).

    Closed work orders are counted as of `facts_as_of`; work closed after it is not yet counted.
    """
    return summary.summarise(user=current_user(), period=_period(args), group_by=args["group_by"], now=utcnow(),
                             pareto_level=args["pareto_level"])


@blp.route("/metrics/export.csv")
@auth_required(roles=policy.READER_ROLES)
@blp.arguments(ExportArgs, location="query")
@blp.response(200, content_type="text/csv", description="CSV, UTF-8 with BOM, header row first", headers={
    FACTS_AS_OF_HEADER: {"description": "The summary's `facts_as_of`: closed work orders are counted up to this time "
                                        "(ISO 8601, UTC); absent while the read model is being built.",
                         "schema": {"type": "string", "format": "date-time"}}})
def metrics_export(args):
    """The summary as CSV (one section per file): the period's row and one row per group by default (read only).

    Closed work orders are counted as of the Facts-As-Of header; work closed after it is not yet counted.
    """
    period = _period(args)
    figures = summary.summarise(user=current_user(), period=period, group_by=args["group_by"], now=utcnow(),
                                pareto_level=args["pareto_level"], parts=summary.SECTION_PARTS[args["section"]])
    name = f"baton-metrics-{period.start.isoformat()}-{period.end.isoformat()}-{args['section']}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"}
    if figures["facts_as_of"] is not None:
        headers[FACTS_AS_OF_HEADER] = figures["facts_as_of"].isoformat()
    return Response(export.summary_csv(figures, args["section"]), content_type="text/csv; charset=utf-8", headers=headers)


@blp.route("/metrics/effort-weights")
class EffortWeights(MethodView):
    @auth_required(roles=policy.READER_ROLES)
    @blp.response(200, EffortWeightsViewSchema)
    def get(self):
        """The effort-score weights in force, the defaults and the formula."""
        return effort.weights_view()

    @auth_required(roles=("admin",))
    @blp.arguments(EffortWeightsSchema)
    @blp.response(200, EffortWeightsViewSchema)
    def put(self, body):
        """Replace the effort-score weights (admin); summaries use them from now on."""
        return effort.set_weights(weights=body, user=current_user(), now=utcnow())


@blp.cli.command("rebuild-facts")
def rebuild_facts_command():
    """Rebuild the metrics read model from the work-order tables at once (after a bulk import); the job keeps it up to date."""
    import click

    written = catch_up.rebuild_facts(now=utcnow(), tz=current_app.config["BUSINESS_TIMEZONE"])
    click.echo(f"metrics facts rebuilt for {written} closed work orders")
