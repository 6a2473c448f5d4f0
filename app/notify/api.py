"""Web Push subscriptions and the in-app notification list."""
from flask import current_app, jsonify, request
from flask.views import MethodView
from app.common.fastdump import Blueprint

from app.common.guard import auth_required, current_user
from app.common.clock import utcnow
from app.common.pagination import PageArgs, paginate
from app.errors import NotFound
from app.notify import links, reach, service
from app.notify.endpoints import policy_from_config
from app.notify.schemas import (
    ChangesSchema,
    ChannelTestResultSchema,
    ChannelTestSchema,
    LinkRedeemedSchema,
    LinkRedeemSchema,
    MyChannelsSchema,
    UnreachableArgs,
    UnreachableSchema,
    MarkReadResultSchema,
    MarkReadSchema,
    NotificationListArgs,
    NotificationPageSchema,
    SubscriptionOutSchema,
    SubscriptionSchema,
    UnsubscribeSchema,
    VapidKeySchema,
)

blp = Blueprint("notify", __name__, url_prefix="/api/v1", description="Push and notifications")


@blp.route("/push/vapid-public-key")
@blp.response(200, VapidKeySchema)
def vapid_public_key():
    """The server's VAPID public key, for PushManager.subscribe's applicationServerKey."""
    key = current_app.config.get("VAPID_PUBLIC_KEY")
    if not key:
        raise NotFound("Push is not configured on this server.", code="push_not_configured")
    return {"public_key": key}


@blp.route("/push/subscriptions")
class Subscriptions(MethodView):
    @auth_required()
    @blp.arguments(SubscriptionSchema)
    @blp.response(201, SubscriptionOutSchema)
    def post(self, body):
        """Register this device for Web Push (several devices per person)."""
        return service.save_subscription(user=current_user(), endpoint=body["endpoint"], p256dh=body["keys"]["p256dh"],
                                         auth=body["keys"]["auth"], user_agent=request.headers.get("User-Agent"), now=utcnow(),
                                         endpoint_policy=policy_from_config(current_app.config))

    @auth_required()
    @blp.arguments(UnsubscribeSchema)
    @blp.response(204)
    def delete(self, body):
        """Stop pushes to this device."""
        service.delete_subscription(user=current_user(), endpoint=body["endpoint"])


@blp.route("/notifications")
@auth_required()
@blp.arguments(NotificationListArgs, location="query")
@blp.arguments(PageArgs, location="query")
@blp.response(200, NotificationPageSchema)
def notifications(args, page):
    """Your notifications, newest first (everything pushed is also here)."""
    user = current_user()
    result = paginate(service.list_notifications(user=user, unread=args["unread"]), **page)
    deliveries = reach.deliveries_of([note.id for note in result["items"]])
    for note in result["items"]:
        note.deliveries = deliveries[note.id]
    result["unread"] = service.unread_count(user=user)
    return result


@blp.route("/changes")
@auth_required()
@blp.response(200, ChangesSchema)
@blp.alt_response(304, description="Nothing new since the ETag sent in If-None-Match (no body)")
def changes():
    """Whether anything changed for you: ask with `If-None-Match` every few seconds while a screen is open.

    A cheap read (one index-only statement after authentication) that works behind API Gateway, where a held
    connection (server-sent events, long polling) would not: 304 while nothing was told to you, 200 with a new
    cursor when something was (an offer made or taken, a task transferred, returned or escalated)."""
    cursor = service.change_cursor(user_id=current_user().id)
    answer = jsonify({"cursor": str(cursor), "poll_seconds": current_app.config.get("LIVE_POLL_SECONDS", 3)})
    answer.set_etag(f"c{cursor}")
    answer.headers["Cache-Control"] = "private, no-cache"
    return answer.make_conditional(request)


@blp.route("/notifications/read", methods=["POST"])
@auth_required()
@blp.arguments(MarkReadSchema)
@blp.response(200, MarkReadResultSchema)
def mark_read(body):
    """Mark notifications read (some ids, or all)."""
    user = current_user()
    updated = service.mark_read(user=user, ids=body["ids"], read_all=body["all"], now=utcnow())
    return {"updated": updated, "unread": service.unread_count(user=user)}


@blp.route("/me/channels")
@auth_required()
@blp.response(200, MyChannelsSchema)
def my_channels():
    """Your channels this server has set up (in ladder order), your identity on each, its state and last attempt."""
    return {"items": reach.my_channels(user=current_user(), config=current_app.config)}


@blp.route("/me/channels/test", methods=["POST"])
@auth_required()
@blp.arguments(ChannelTestSchema)
@blp.response(200, ChannelTestResultSchema)
def test_channel(body):
    """Send yourself a test message on one channel now, and see how it went (kept like any attempt)."""
    return reach.send_test(user=current_user(), channel=body["channel"], config=current_app.config, now=utcnow())


@blp.route("/people/unreachable")
@auth_required(roles=("lead", "admin"))
@blp.arguments(UnreachableArgs, location="query")
@blp.response(200, UnreachableSchema)
def unreachable(args):
    """People of your departments (everyone, for an admin) whom nothing reached in `days` days: no push accepted and
    no message delivered on DingTalk, WeCom, Feishu or SMS, with the channels they have and those that are broken."""
    return {"items": reach.unreachable(user=current_user(), days=args["days"], now=utcnow())}


@blp.route("/links/redeem", methods=["POST"])
@auth_required()
@blp.arguments(LinkRedeemSchema)
@blp.response(200, LinkRedeemedSchema)
def redeem_link(body):
    """What a chat card's or an SMS's signed link asks (docs/design.md §14), for the person it was sent to: its
    notification is marked read, and the answer says where to go and whether to claim. The link acts only through
    this call, under your session: 422 `link_invalid` (changed or cut), 410 `link_expired`, 403 `link_not_yours`."""
    return links.redeem(token=body["token"], user=current_user(), config=current_app.config, now=utcnow())
