"""Push subscription and notification bodies."""
import base64

import marshmallow as ma
from marshmallow import validate

from app.common.fields import StrictBoolean


def _b64url_bytes(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except Exception:
        raise ma.ValidationError("must be base64url")


class SubscriptionKeysSchema(ma.Schema):
    p256dh = ma.fields.String(required=True, validate=validate.Length(80, 100))
    auth = ma.fields.String(required=True, validate=validate.Length(16, 30))

    @ma.validates("p256dh")
    def _point(self, value, **kwargs):
        raw = _b64url_bytes(value)
        if len(raw) != 65 or raw[0] != 4:
            raise ma.ValidationError("must be an uncompressed P-256 public key (65 bytes)")

    @ma.validates("auth")
    def _auth(self, value, **kwargs):
        if len(_b64url_bytes(value)) != 16:
            raise ma.ValidationError("must be a 16-byte secret")


class SubscriptionSchema(ma.Schema):
    """A browser's PushSubscription JSON."""

    endpoint = ma.fields.Url(required=True, schemes={"https", "http"}, require_tld=False, validate=validate.Length(max=1000))
    keys = ma.fields.Nested(SubscriptionKeysSchema, required=True)
    expirationTime = ma.fields.Raw(load_default=None, allow_none=True)


class SubscriptionOutSchema(ma.Schema):
    id = ma.fields.Integer()
    endpoint = ma.fields.String()
    created_at = ma.fields.DateTime()


class UnsubscribeSchema(ma.Schema):
    endpoint = ma.fields.String(required=True, validate=validate.Length(1, 1000))


class VapidKeySchema(ma.Schema):
    public_key = ma.fields.String()


class NotificationSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    title = ma.fields.String()
    body = ma.fields.String()
    url = ma.fields.String()
    tag = ma.fields.String(allow_none=True)
    priority = ma.fields.String()
    urgent = ma.fields.Boolean()
    data = ma.fields.Dict()
    created_at = ma.fields.DateTime()
    read_at = ma.fields.DateTime(allow_none=True)
    deliveries = ma.fields.List(ma.fields.Nested(lambda: DeliverySchema()), metadata={
        "description": "How it went out: each push (one per device) and every attempt on the other channels"})


class DeliverySchema(ma.Schema):
    channel = ma.fields.String(metadata={"description": "webpush, dingtalk, wecom, feishu or sms"})
    at = ma.fields.DateTime()
    result = ma.fields.String(metadata={"description": "sent, pending, retry, gone, failed or muted"})
    error = ma.fields.String(allow_none=True, metadata={"description": "The vendor's error code, if any"})


class NotificationListArgs(ma.Schema):
    unread = ma.fields.Boolean(load_default=None)


class NotificationPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(NotificationSchema))
    total = ma.fields.Integer()
    page = ma.fields.Integer()
    per_page = ma.fields.Integer()
    unread = ma.fields.Integer()


class ChangesSchema(ma.Schema):
    cursor = ma.fields.String(metadata={"description": "Moves whenever something is told to you; also the answer's ETag"})
    poll_seconds = ma.fields.Integer(metadata={"description": "How often the app asks again while it is on screen"})


class MarkReadSchema(ma.Schema):
    ids = ma.fields.List(ma.fields.Integer(strict=True), load_default=None, validate=validate.Length(max=1000))
    all = StrictBoolean(load_default=False)

    @ma.validates_schema
    def _one(self, data, **kwargs):
        if not data.get("all") and not data.get("ids"):
            raise ma.ValidationError("give ids or all: true", "ids")


class MarkReadResultSchema(ma.Schema):
    updated = ma.fields.Integer()
    unread = ma.fields.Integer()


CHANNEL_VALUES = ("webpush", "dingtalk", "wecom", "feishu", "sms")


class ChannelAttemptRefSchema(ma.Schema):
    at = ma.fields.DateTime()
    result = ma.fields.String(metadata={"description": "sent, retry, gone (the vendor does not know the identity), failed or muted"})
    error = ma.fields.String(allow_none=True, metadata={"description": "The vendor's error code, if any"})


class MyChannelSchema(ma.Schema):
    channel = ma.fields.String(metadata={"description": "webpush, dingtalk, wecom, feishu or sms"})
    identity = ma.fields.String(allow_none=True, metadata={"description": "Your id there (your phone for sms); null: none yet"})
    devices = ma.fields.Integer(allow_none=True, metadata={"description": "webpush: your devices that allowed notifications"})
    state = ma.fields.String(metadata={"description": "ok, untried, broken (the vendor does not know the identity) or none"})
    broken_code = ma.fields.String(allow_none=True)
    last_sent_at = ma.fields.DateTime(allow_none=True)
    last_attempt = ma.fields.Nested(ChannelAttemptRefSchema, allow_none=True)


class MyChannelsSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(MyChannelSchema))


class ChannelTestSchema(ma.Schema):
    channel = ma.fields.String(required=True, validate=validate.OneOf(CHANNEL_VALUES))


class ChannelTestResultSchema(ma.Schema):
    channel = ma.fields.String()
    result = ma.fields.String(metadata={"description": "sent, retry (the vendor is busy or down), gone (it does not know you) or failed"})
    error = ma.fields.String(allow_none=True, metadata={"description": "The vendor's error code"})
    detail = ma.fields.String(allow_none=True, metadata={"description": "The vendor's words, as it said them"})
    at = ma.fields.DateTime()


class UnreachableArgs(ma.Schema):
    days = ma.fields.Integer(load_default=7, validate=validate.Range(1, 365),
                             metadata={"description": "Nothing delivered to them in this many days"})


class UnreachablePersonSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    login = ma.fields.String()
    department_id = ma.fields.Integer(allow_none=True)
    department_name = ma.fields.String(allow_none=True)
    devices = ma.fields.Integer(metadata={"description": "Devices of theirs that allowed Web Push"})
    last_delivered_at = ma.fields.DateTime(allow_none=True, metadata={"description": "The last push or message that reached them"})
    channels = ma.fields.List(ma.fields.String(), metadata={"description": "The channels they have an identity on"})
    broken = ma.fields.List(ma.fields.String(), metadata={"description": "Channels whose vendor does not know their identity"})


class UnreachableSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(UnreachablePersonSchema))


class LinkRedeemSchema(ma.Schema):
    """A card's signed link, as the app got it from /l/<token>."""

    token = ma.fields.String(required=True, validate=validate.Length(1, 120))


class LinkRedeemedSchema(ma.Schema):
    action = ma.fields.String(metadata={"description": "`claim`: the app claims the task now (through POST "
                                                     "/tasks/{id}/claim); `open`: it opens `url`"})
    notification_id = ma.fields.Integer()
    task_id = ma.fields.Integer(allow_none=True)
    url = ma.fields.String()
