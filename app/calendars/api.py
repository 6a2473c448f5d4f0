"""Calendar endpoints (docs/design.md §12): admins keep them, leads read them (their departments' due times)."""
from flask.views import MethodView
from app.common.fastdump import Blueprint

from app.calendars import service
from app.calendars.schemas import CalendarSchema
from app.common.clock import utcnow
from app.common.guard import auth_required
from app.common.pagination import PageArgs, page_of, paginate

blp = Blueprint("calendars", __name__, url_prefix="/api/v1", description="Business calendars: working hours, holidays, make-up days")


@blp.route("/calendars")
class Calendars(MethodView):
    @auth_required(roles=("admin", "lead"))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_of(CalendarSchema))
    def get(self, page):
        """List calendars, the built-in `cn-standard` first."""
        found = paginate(service.calendars_listed(), **page)
        today = utcnow().date()
        return {**found, "items": [service.describe(c, today) for c in found["items"]]}

    @auth_required(roles=("admin",))
    @blp.arguments(CalendarSchema)
    @blp.response(201, CalendarSchema)
    def post(self, body):
        """Create a calendar (to copy the built-in one, post its body with a new name and change what differs)."""
        now = utcnow()
        return service.describe(service.create_calendar(body=body, now=now), now.date())


@blp.route("/calendars/<int:calendar_id>")
class CalendarItem(MethodView):
    @auth_required(roles=("admin", "lead"))
    @blp.response(200, CalendarSchema)
    def get(self, calendar_id):
        """Get a calendar, with its holiday coverage and the days off and make-up days ahead."""
        return service.describe(service.get_calendar(calendar_id=calendar_id), utcnow().date())

    @auth_required(roles=("admin",))
    @blp.arguments(CalendarSchema)
    @blp.response(200, CalendarSchema)
    def put(self, body, calendar_id):
        """Replace a calendar; the due times, reminders and escalations of live tasks on it are re-planned."""
        now = utcnow()
        calendar, replanned = service.update_calendar(calendar_id=calendar_id, body=body, now=now)
        return {**service.describe(calendar, now.date()), "replanned": replanned}
