"""Feishu (飞书) / Lark: an interactive message card from the company's app (bot).

Plain HTTP on urllib3 pools (``pushhttp.HttpPool``) rather than ``lark-oapi``: the SDK does let the base URL be set
(``Client.builder().domain(...)``), but it weighs about 49 MB installed with httpx, websockets and pycryptodome
(Lambda packages have a size limit), keeps tokens in a process-wide cache keyed by app id, and does not fetch a new
token when Feishu refuses one (99991663), which is the behaviour needed here. The two calls are small.

* ``POST /open-apis/auth/v3/tenant_access_token/internal`` ``{"app_id", "app_secret"}`` ->
  ``{"code": 0, "tenant_access_token", "expire": 7200}``
* ``POST /open-apis/im/v1/messages?receive_id_type=user_id`` with ``Authorization: Bearer <token>`` and
  ``{"receive_id", "msg_type": "interactive", "content": "<the card, as a JSON string>"}`` -> ``{"code": 0, "data"}``

Error codes: 99991663 / 99991661 / 99991668 / 99991664 the token; 99991400 (HTTP 429, with
``x-ogw-ratelimit-reset``) rate limited; 99992360 / 230013 / 99992361 / 99992364 the user is unknown to the app.
"""
from __future__ import annotations

import json

from app.notify.channels.base import (
    RATE_LIMIT_PAUSE_SECONDS,
    ChannelMessage,
    TokenExpired,
    VendorChannel,
    VendorError,
    claim_and_open,
)

DEFAULT_BASE_URL = "https://open.feishu.cn"
TOKEN_CODES = {"99991663", "99991661", "99991668", "99991664", "99991671"}
RATE_CODES = {"99991400", "230020", "11232"}
UNKNOWN_USER_CODES = {"99992360", "230013", "99992361", "99992364", "230006"}


def _retry_after(response) -> float:
    try:
        return max(float(response.headers.get("x-ogw-ratelimit-reset") or RATE_LIMIT_PAUSE_SECONDS), 1.0)
    except ValueError:
        return RATE_LIMIT_PAUSE_SECONDS


class FeishuChannel(VendorChannel):
    name = "feishu"
    per_minute = 1000  # im/v1/messages: 1000 calls a minute and 50 a second per app

    def __init__(self, *, app_id: str, app_secret: str, base_url: str = DEFAULT_BASE_URL, public_url: str = "", **kwargs):
        super().__init__(base_url=base_url or DEFAULT_BASE_URL, **kwargs)
        self.app_id, self.app_secret, self.public_url = app_id, app_secret, public_url

    def fetch_token(self):
        response, body = self.request_json("POST", "/open-apis/auth/v3/tenant_access_token/internal",
                                           json={"app_id": self.app_id, "app_secret": self.app_secret})
        code = str(body.get("code", -1))
        if code in RATE_CODES or response.status_code == 429:
            raise VendorError("retry", code, str(body.get("msg") or ""), retry_after=_retry_after(response))
        if code != "0":
            raise VendorError("failed", code, str(body.get("msg") or ""))
        return body["tenant_access_token"], float(body.get("expire") or 7200)

    def card(self, message: ChannelMessage) -> dict:
        """An interactive card: the text, then "Open" (or "Claim" and "Open" for an offer) as buttons with links."""
        buttons = [{"tag": "button", "type": "primary" if i == 0 else "default", "text": {"tag": "plain_text", "content": title},
                    "url": url} for i, (title, url) in enumerate(claim_and_open(message, self.public_url))]
        return {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": message.title}},
            "elements": [
                {"tag": "div", "text": {"tag": "plain_text", "content": message.body}},
                {"tag": "action", "actions": buttons},
            ],
        }

    def post_message(self, token: str, message: ChannelMessage) -> None:
        response, body = self.request_json(
            "POST", "/open-apis/im/v1/messages", params={"receive_id_type": "user_id"},
            headers={"Authorization": f"Bearer {token}"},
            json={"receive_id": message.to, "msg_type": "interactive", "content": json.dumps(self.card(message), ensure_ascii=False)})
        code, text = str(body.get("code", -1)), str(body.get("msg") or "")
        if code == "0":
            return
        if code in TOKEN_CODES:
            raise TokenExpired(code)
        if code in RATE_CODES or response.status_code == 429:
            raise VendorError("retry", code, text, retry_after=_retry_after(response))
        if code in UNKNOWN_USER_CODES:
            raise VendorError("gone", code, text)
        raise VendorError("failed", code, text)
