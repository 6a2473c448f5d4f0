"""DingTalk: a work notification from the company's own app, as an action card (钉钉 工作通知).

Plain HTTP on urllib3 pools (``pushhttp.HttpPool``): DingTalk's Python SDK for this call (the old ``topapi``
"dingtalk-sdk") is not kept up, and ``alibabacloud-dingtalk`` covers only the new api.dingtalk.com APIs, not the work
notification.

* ``GET /gettoken?appkey=&appsecret=`` -> ``{"errcode": 0, "access_token", "expires_in": 7200}``
* ``POST /topapi/message/corpconversation/asyncsend_v2?access_token=`` with ``{"agent_id", "userid_list",
  "msg": {"msgtype": "action_card", "action_card": {...}}}`` -> ``{"errcode": 0, "task_id"}``
* The send is asynchronous: ``POST /topapi/message/corpconversation/getsendresult`` ``{"agent_id", "task_id"}``
  tells which user ids DingTalk does not know (``invalid_user_id_list``) or held back by its flow control
  (``forbidden_user_id_list``).

Error codes: 40014 / 42001 (and 88 carrying sub_code 40014) a token invalid or expired; 90018, 90002, 90006 and
88 with those sub codes: rate limited; -1: busy; 33012 / 40103 / 60121 (no such user) the user id.
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

DEFAULT_BASE_URL = "https://oapi.dingtalk.com"
TOKEN_CODES = {"40014", "42001", "40001"}
RATE_CODES = {"90018", "90002", "90006", "90005", "90019", "90010"}
UNKNOWN_USER_CODES = {"33012", "40103", "60121", "60011"}
BUSY_CODES = {"-1"}


def _classify(body: dict, *, unknown_user_ok: bool = False) -> None:
    code = str(body.get("errcode", -1))
    if code == "0":
        return
    sub = str(body.get("sub_code") or "")
    message = str(body.get("errmsg") or body.get("sub_msg") or "")
    if code in TOKEN_CODES or sub in TOKEN_CODES:
        raise TokenExpired(code if code != "88" else f"88/{sub}")
    if code in RATE_CODES or sub in RATE_CODES:
        raise VendorError("retry", code if code != "88" else f"88/{sub}", message, retry_after=RATE_LIMIT_PAUSE_SECONDS)
    if code in UNKNOWN_USER_CODES or sub in UNKNOWN_USER_CODES:
        raise VendorError("gone", code, message)
    if code in BUSY_CODES:
        raise VendorError("retry", code, message)
    raise VendorError("failed", code if code != "88" else f"88/{sub}", message)


class DingTalkChannel(VendorChannel):
    name = "dingtalk"
    per_minute = 1500  # asyncsend_v2: an app's calls per minute (DingTalk's "API 调用频率限制")

    def __init__(self, *, app_key: str, app_secret: str, agent_id: str, base_url: str = DEFAULT_BASE_URL,
                 public_url: str = "", **kwargs):
        super().__init__(base_url=base_url or DEFAULT_BASE_URL, **kwargs)
        self.app_key, self.app_secret, self.agent_id, self.public_url = app_key, app_secret, agent_id, public_url

    def fetch_token(self):
        return self.errcode_token("/gettoken", {"appkey": self.app_key, "appsecret": self.app_secret},
                                  retry_codes=BUSY_CODES | RATE_CODES)

    def card(self, message: ChannelMessage) -> dict:
        """An action card: one button ("Open"), or two side by side ("Claim", "Open") for an offer."""
        markdown = f"### {message.title}\n\n{message.body}"
        buttons = claim_and_open(message, self.public_url)
        card = {"title": message.title[:60], "markdown": markdown}
        if len(buttons) == 1:
            card.update(single_title=buttons[0][0], single_url=buttons[0][1])
        else:
            card.update(btn_orientation="1", btn_json_list=[{"title": title, "action_url": url} for title, url in buttons])
        return {"msgtype": "action_card", "action_card": card}

    def post_message(self, token: str, message: ChannelMessage) -> None:
        agent_id = int(self.agent_id) if str(self.agent_id).isdigit() else self.agent_id
        _, body = self.request_json("POST", "/topapi/message/corpconversation/asyncsend_v2",
                                    params={"access_token": token},
                                    json={"agent_id": agent_id, "userid_list": message.to, "msg": self.card(message)})
        _classify(body)
        task_id = body.get("task_id")
        if task_id is None:
            return
        _, result = self.request_json("POST", "/topapi/message/corpconversation/getsendresult",
                                      params={"access_token": token}, json={"agent_id": agent_id, "task_id": task_id})
        _classify(result)
        sent = result.get("send_result") or {}
        if message.to in (sent.get("invalid_user_id_list") or []):
            raise VendorError("gone", "invalid_user_id", f"DingTalk does not know user id {json.dumps(message.to)}")
        if message.to in (sent.get("forbidden_user_id_list") or []):
            raise VendorError("retry", "forbidden_user_id", "held back by DingTalk's flow control",
                              retry_after=RATE_LIMIT_PAUSE_SECONDS)
