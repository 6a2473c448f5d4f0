"""Signed, expiring "Claim" and "Open" links in chat cards and SMS (docs/design.md §14).

A card's button is ``<public url>/l/<token>``. The token names one notification, its reader, one action (``claim`` or
``open``) and an expiry, and is signed with a key derived from the app's secret for this one purpose (it cannot stand
for an attachment's link, a session or anything else signed with the secret). It is no credential: it neither signs
anyone in nor acts by itself. ``GET /l/<token>`` checks the signature and the expiry and opens the app at its link
screen; there the app, under the reader's own session, redeems it (``POST /api/v1/links/redeem``): the token must be
for the person signed in; the notification is marked read (so its ladder stops), and a "Claim" is then made through
the task's ordinary claim call, with every check a claim has. A link copied into another browser, forwarded to a
colleague or kept past its time does nothing but say so.

Short enough for an SMS: ``<notification>.<user>.<c|o>.<expiry>.<signature>``, numbers in base 36, the signature the
first 16 bytes of an HMAC-SHA256 (base64url, 22 characters), about 40 characters in all.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app, redirect

from app.common.clock import utcnow
from app.errors import DomainError, Forbidden, Invalid
from app.extensions import db
from app.notify.messages import link_refused, link_screen
from app.notify.models import Notification

PURPOSE = b"baton/card-link/v1"
ACTIONS = {"c": "claim", "o": "open"}
_CODE = {name: code for code, name in ACTIONS.items()}
_TOKEN = re.compile(r"^([0-9a-z]{1,13})\.([0-9a-z]{1,13})\.([co])\.([0-9a-z]{1,13})\.([A-Za-z0-9_-]{22})$")
#: How long a card's link works unless configured (BATON_CARD_LINK_TTL_SECONDS): a working day's shift.
DEFAULT_TTL_SECONDS = 12 * 3600


class LinkExpired(DomainError):
    status = 410
    code = "link_expired"


@dataclass(frozen=True)
class Link:
    notification_id: int
    user_id: int
    action: str
    expires_at: datetime


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def _signature(secret: str, body: str) -> str:
    digest = hmac.new(_key(secret), body.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(*, secret: str, notification_id: int, user_id: int, action: str, expires_at: datetime) -> str:
    """The token of a card's button: `action` ("claim" or "open") on one notification, for its reader, until then."""
    body = f"{_b36(notification_id)}.{_b36(user_id)}.{_CODE[action]}.{_b36(int(expires_at.timestamp()))}"
    return f"{body}.{_signature(secret, body)}"


def verify(token: str, *, secret: str, now: datetime) -> Link:
    """The link a token stands for; refused when it was changed or cut (422 link_invalid) or is past its time (410)."""
    match = _TOKEN.match(token or "")
    if not match or not hmac.compare_digest(match.group(5), _signature(secret, token.rsplit(".", 1)[0])):
        raise Invalid("This link is not valid: it was changed or cut short.", code="link_invalid")
    expires_at = datetime.fromtimestamp(int(match.group(4), 36), timezone.utc)
    if now >= expires_at:
        raise LinkExpired("This link has expired; open the app to see the task.")
    return Link(notification_id=int(match.group(1), 36), user_id=int(match.group(2), 36), action=ACTIONS[match.group(3)],
                expires_at=expires_at)


def card_links(*, config, notification_id: int, user_id: int, actions: list[str], now: datetime) -> dict[str, str]:
    """The absolute links of a card's buttons, by action; none without the app's public address (a link that
    could not be opened from a phone helps nobody)."""
    base = (config.get("PUBLIC_URL") or "").rstrip("/")
    if not base:
        return {}
    expires_at = datetime.fromtimestamp(int(now.timestamp()) + int(config.get("CARD_LINK_TTL_SECONDS") or DEFAULT_TTL_SECONDS),
                                        timezone.utc)
    return {action: f"{base}/l/" + sign(secret=config["SECRET_KEY"], notification_id=notification_id, user_id=user_id,
                                        action=action, expires_at=expires_at) for action in actions}


def redeem(*, token: str, user, config, now: datetime) -> dict:
    """What a card's link asks of the person signed in: its notification is marked read (its ladder stops) and the
    app is told where to go and whether to claim (which it does through the task's own claim call)."""
    link = verify(token, secret=config["SECRET_KEY"], now=now)
    note = db.session.get(Notification, link.notification_id)
    if note is None or note.user_id != link.user_id:
        raise Invalid("This link is not valid: it was changed or cut short.", code="link_invalid")
    if link.user_id != user.id:
        raise Forbidden("This link was sent to someone else; sign in as them, or open the app.", code="link_not_yours")
    if note.read_at is None:
        note.read_at = now
        db.session.commit()
    task_id = (note.data or {}).get("task_id")
    claim = link.action == "claim" and task_id is not None and "claim" in ((note.data or {}).get("actions") or [])
    return {"action": "claim" if claim else "open", "notification_id": note.id, "task_id": task_id, "url": note.url}


def open_link(token: str):
    """GET /l/<token>: a card's button. Checks the signature and the time (no database, no session) and opens the
    app: at its link screen, which redeems the token under the reader's session, or at a page saying why not."""
    try:
        verify(token, secret=current_app.config["SECRET_KEY"], now=utcnow())
        target = link_screen(token)
    except LinkExpired:
        target = link_refused("expired")
    except Invalid:
        target = link_refused("invalid")
    response = redirect(target, code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays out of whatever the app loads next
    return response
