"""WeCom (企业微信): an application message, as a text card.

Plain HTTP on urllib3 pools (``pushhttp.HttpPool``): the Python clients (wechatpy's WeChatClient for WeCom) bring
their own session and token storage and do not expose the expiry handling this needs; the two calls are small.

* ``GET /cgi-bin/gettoken?corpid=&corpsecret=`` -> ``{"errcode": 0, "access_token", "expires_in": 7200}``
* ``POST /cgi-bin/message/send?access_token=`` ``{"touser", "msgtype": "textcard", "agentid", "textcard": {"title",
  "description", "url", "btntxt"}}`` -> ``{"errcode": 0, "invaliduser": "", "msgid"}``; a user id WeCom does not
  know comes back in ``invaliduser`` (or as 81013 when no recipient is left, 40003 an invalid user id).

Error codes: 40014 (invalid) / 42001 (expired) / 40082 the access token; 45009 / 45033 / 45011 rate limits;
-1 busy; 81013 / 40003 / 60111 no such user.
"""
from __future__ import annotations

from app.notify.channels.base import (
    RATE_LIMIT_PAUSE_SECONDS,
    ChannelMessage,
    TokenExpired,
    VendorChannel,
    VendorError,
    button_title,
    card_link,
)

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com"
TOKEN_CODES = {"40014", "42001", "40082"}
RATE_CODES = {"45009", "45033", "45011", "45047"}
UNKNOWN_USER_CODES = {"81013", "40003", "60111"}


class WeComChannel(VendorChannel):
    name = "wecom"
    per_minute = 1000  # message/send: WeCom counts an app's calls per minute (and recipients per day)

    def __init__(self, *, corp_id: str, secret: str, agent_id: str, base_url: str = DEFAULT_BASE_URL,
                 public_url: str = "", **kwargs):
        super().__init__(base_url=base_url or DEFAULT_BASE_URL, **kwargs)
        self.corp_id, self.secret, self.agent_id, self.public_url = corp_id, secret, agent_id, public_url

    def fetch_token(self):
        return self.errcode_token("/cgi-bin/gettoken", {"corpid": self.corp_id, "corpsecret": self.secret},
                                  retry_codes={"-1"} | RATE_CODES)

    def card(self, message: ChannelMessage) -> dict:
        """A text card: the whole card is one link, so it opens (the task screen has "Claim" one tap away). Text cards
        show wherever WeCom messages do, also in WeChat through WeCom's plugin, where template cards with several
        buttons do not."""
        button = button_title(message, "open")
        card = {"title": message.title[:128], "description": message.body[:512], "url": card_link(message, self.public_url)}
        if button:
            card["btntxt"] = button[:4]
        return card

    def post_message(self, token: str, message: ChannelMessage) -> None:
        agent_id = int(self.agent_id) if str(self.agent_id).isdigit() else self.agent_id
        _, body = self.request_json("POST", "/cgi-bin/message/send", params={"access_token": token},
                                    json={"touser": message.to, "msgtype": "textcard", "agentid": agent_id,
                                          "textcard": self.card(message)})
        code, text = str(body.get("errcode", -1)), str(body.get("errmsg") or "")
        if code in TOKEN_CODES:
            raise TokenExpired(code)
        if code in RATE_CODES:
            raise VendorError("retry", code, text, retry_after=RATE_LIMIT_PAUSE_SECONDS)
        if code == "-1":
            raise VendorError("retry", code, text)
        if code in UNKNOWN_USER_CODES:
            raise VendorError("gone", code, text)
        if code != "0":
            raise VendorError("failed", code, text)
        invalid = {u.lower() for u in str(body.get("invaliduser") or "").split("|") if u}
        if message.to.lower() in invalid:  # WeCom lowercases the ids it reports
            raise VendorError("gone", "invaliduser", f"WeCom does not know user id {message.to}")
