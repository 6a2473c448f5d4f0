"""Local fake DingTalk, WeCom and Feishu servers speaking each vendor's documented protocol over HTTP.

Each one issues access tokens (with their lifetime), checks the token and the body of every send, and answers with
the vendor's own error codes. Switches simulate what goes wrong in life::

    with FakeDingTalk() as server:
        server.expire_tokens()        # the tokens issued so far are refused from now on (40014 / 42001 / 99991663)
        server.rate_limited = 2       # the next two sends are refused by the vendor's rate limit
        server.down = 1               # the next request answers HTTP 500
        server.unknown.add("u-9")     # a user id the vendor does not know
        server.sent                   # [(user id, message body)] accepted
        server.token_fetches          # how many tokens were issued

Only the standard library; a ThreadingHTTPServer in a daemon thread on 127.0.0.1 and a free port.
"""
from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.notify.fake_http import OneWriteHandler


class FakeVendor:
    token_ttl = 7200

    def __init__(self, *, app_key="key-1", app_secret="secret-1", token_ttl: int | None = None):
        self.app_key, self.app_secret = app_key, app_secret
        if token_ttl is not None:
            self.token_ttl = token_ttl
        self.lock = threading.Lock()
        self.reset()
        vendor = self

        class Handler(OneWriteHandler):  # one write per answer: the vendor's latency is `delay`, no more
            def _serve(self, method):
                raw = self.read_body()
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = None
                if vendor.delay:
                    time.sleep(vendor.delay)  # the vendor's latency, outside the lock so requests overlap
                with vendor.lock:
                    vendor.requests.append((method, parts.path))
                    if vendor.down > 0:
                        vendor.down -= 1
                        status, headers, answer = 500, {}, b"<html>busy</html>"
                    else:
                        status, headers, answer = vendor.route(method, parts.path, query, dict(self.headers), body)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def reset(self):
        with self.lock:
            self.tokens: set[str] = set()
            self.stale: set[str] = set()
            self.token_fetches = 0
            self.sent: list[tuple[str, dict]] = []
            self.unknown: set[str] = set()
            self.rate_limited = 0
            self.down = 0
            self.delay = 0.0  # seconds each request takes
            self.requests: list[tuple[str, str]] = []
            self._counter = itertools.count(1)
            self.results: dict[int, list[str]] = {}

    def expire_tokens(self):
        with self.lock:
            self.stale |= self.tokens

    def issue(self) -> str:
        token = f"tok-{secrets.token_hex(6)}"
        self.tokens.add(token)
        self.token_fetches += 1
        return token

    def token_state(self, token) -> str:
        if not token or token not in self.tokens:
            return "invalid"
        return "expired" if token in self.stale else "ok"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeDingTalk(FakeVendor):
    """oapi.dingtalk.com: gettoken, asyncsend_v2 (action cards), getsendresult."""

    agent_id = 123456

    def route(self, method, path, query, headers, body):
        if path == "/gettoken" and method == "GET":
            if query.get("appkey") != self.app_key or query.get("appsecret") != self.app_secret:
                return 200, {}, {"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"}
            return 200, {}, {"errcode": 0, "errmsg": "ok", "access_token": self.issue(), "expires_in": self.token_ttl}
        state = self.token_state(query.get("access_token"))
        if state == "invalid":
            return 200, {}, {"errcode": 40014, "errmsg": "不合法的access_token"}
        if state == "expired":
            return 200, {}, {"errcode": 42001, "errmsg": "access_token超时"}
        if body is None:
            return 200, {}, {"errcode": 40035, "errmsg": "不合法的参数"}
        if path == "/topapi/message/corpconversation/asyncsend_v2" and method == "POST":
            if self.rate_limited > 0:
                self.rate_limited -= 1
                return 200, {}, {"errcode": 90018, "errmsg": "当前企业调用频率超过限制"}
            msg = body.get("msg") or {}
            card = msg.get("action_card") or {}
            # An action card has one button (single_title, single_url) or several (btn_orientation, btn_json_list).
            buttons = card.get("btn_json_list")
            one = bool(card.get("single_url") and card.get("single_title"))
            several = isinstance(buttons, list) and buttons and card.get("btn_orientation") in ("0", "1") \
                and all(isinstance(b, dict) and b.get("title") and b.get("action_url") for b in buttons)
            if body.get("agent_id") != self.agent_id or msg.get("msgtype") != "action_card" or not card.get("markdown") \
                    or not card.get("title") or one == bool(several):
                return 200, {}, {"errcode": 40035, "errmsg": "不合法的参数"}
            task_id = next(self._counter)
            users = [u for u in str(body.get("userid_list") or "").split(",") if u]
            self.results[task_id] = [u for u in users if u in self.unknown]
            for user in users:
                if user not in self.unknown:
                    self.sent.append((user, msg))
            return 200, {}, {"errcode": 0, "errmsg": "ok", "task_id": task_id, "request_id": secrets.token_hex(8)}
        if path == "/topapi/message/corpconversation/getsendresult" and method == "POST":
            invalid = self.results.get(body.get("task_id"))
            if invalid is None:
                return 200, {}, {"errcode": 40035, "errmsg": "不合法的参数"}
            return 200, {}, {"errcode": 0, "errmsg": "ok", "send_result": {
                "invalid_user_id_list": invalid, "forbidden_user_id_list": [], "failed_user_id_list": [],
                "read_user_id_list": [], "unread_user_id_list": [], "invalid_dept_id_list": []}}
        return 404, {}, {"errcode": 404, "errmsg": "not found"}


class FakeWeCom(FakeVendor):
    """qyapi.weixin.qq.com: cgi-bin/gettoken, cgi-bin/message/send (text cards)."""

    agent_id = 1000002

    def route(self, method, path, query, headers, body):
        if path == "/cgi-bin/gettoken" and method == "GET":
            if query.get("corpid") != self.app_key or query.get("corpsecret") != self.app_secret:
                return 200, {}, {"errcode": 40001, "errmsg": "invalid credential"}
            return 200, {}, {"errcode": 0, "errmsg": "ok", "access_token": self.issue(), "expires_in": self.token_ttl}
        state = self.token_state(query.get("access_token"))
        if state == "invalid":
            return 200, {}, {"errcode": 40014, "errmsg": "invalid access_token"}
        if state == "expired":
            return 200, {}, {"errcode": 42001, "errmsg": "access_token expired"}
        if path == "/cgi-bin/message/send" and method == "POST":
            if body is None:
                return 200, {}, {"errcode": 40035, "errmsg": "invalid parameter"}
            if self.rate_limited > 0:
                self.rate_limited -= 1
                return 200, {}, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
            card = body.get("textcard") or {}
            if body.get("agentid") != self.agent_id or body.get("msgtype") != "textcard" or not card.get("title") \
                    or not card.get("description") or not card.get("url"):
                return 200, {}, {"errcode": 40035, "errmsg": "invalid parameter"}
            users = [u for u in str(body.get("touser") or "").split("|") if u]
            invalid = [u.lower() for u in users if u in self.unknown]
            if users and len(invalid) == len(users):
                return 200, {}, {"errcode": 81013, "errmsg": "user & party & tag all invalid", "invaliduser": "|".join(invalid)}
            for user in users:
                if user not in self.unknown:
                    self.sent.append((user, body))
            return 200, {}, {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid), "msgid": secrets.token_hex(8)}
        return 404, {}, {"errcode": 404, "errmsg": "not found"}


class FakeFeishu(FakeVendor):
    """open.feishu.cn: auth/v3/tenant_access_token/internal, im/v1/messages (interactive cards)."""

    def route(self, method, path, query, headers, body):
        if path == "/open-apis/auth/v3/tenant_access_token/internal" and method == "POST":
            if not body or body.get("app_id") != self.app_key or body.get("app_secret") != self.app_secret:
                return 400, {}, {"code": 10014, "msg": "app secret invalid"}
            return 200, {}, {"code": 0, "msg": "ok", "tenant_access_token": self.issue(), "expire": self.token_ttl}
        if path == "/open-apis/im/v1/messages" and method == "POST":
            auth = headers.get("Authorization") or ""
            if not auth.startswith("Bearer "):
                return 400, {}, {"code": 99991661, "msg": "Missing access token for authorization."}
            if self.token_state(auth[7:]) != "ok":
                return 400, {}, {"code": 99991663, "msg": "Invalid access token for authorization."}
            if self.rate_limited > 0:
                self.rate_limited -= 1
                return 429, {"x-ogw-ratelimit-limit": "50", "x-ogw-ratelimit-reset": "7"}, {
                    "code": 99991400, "msg": "request trigger frequency limit"}
            if query.get("receive_id_type") != "user_id" or not body or body.get("msg_type") != "interactive":
                return 400, {}, {"code": 230001, "msg": "Your request contains an invalid request parameter."}
            try:
                card = json.loads(body.get("content") or "")
            except ValueError:
                return 400, {}, {"code": 230001, "msg": "invalid content"}
            if not card.get("elements") or not card.get("header"):
                return 400, {}, {"code": 230001, "msg": "invalid card"}
            user = body.get("receive_id")
            if user in self.unknown:
                return 400, {}, {"code": 99992360, "msg": "The request you send is not a valid {user_id} or not exists"}
            self.sent.append((user, card))
            return 200, {}, {"code": 0, "msg": "success", "data": {"message_id": f"om_{secrets.token_hex(8)}",
                                                                   "msg_type": "interactive"}}
        return 404, {}, {"code": 404, "msg": "not found"}


class FakeAliyunSms(FakeVendor):
    """dysmsapi.aliyuncs.com: SendSms in Aliyun's RPC style, every request's signature checked (HMAC-SHA1 over the
    canonical query, computed here on its own), its timestamp (15 minutes) and its nonce (once). `app_key` and
    `app_secret` are the AccessKey; `signs` and `templates` the approved sign names and template codes."""

    signs = {"Baton"}
    templates = {"SMS_100001"}

    def reset(self):
        super().reset()
        self.nonces: set[str] = set()

    @staticmethod
    def _signature(query: dict, secret: str) -> str:
        import base64
        import hashlib
        import hmac
        from urllib.parse import quote

        def enc(value):
            return quote(str(value), safe="-_.~")

        canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query.items()) if k != "Signature")
        to_sign = "GET&%2F&" + enc(canonical)
        return base64.b64encode(hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()).decode()

    def route(self, method, path, query, headers, body):
        from datetime import datetime, timezone

        request_id = secrets.token_hex(8).upper()
        if path != "/" or method != "GET" or query.get("Action") != "SendSms":
            return 404, {}, {"Code": "InvalidAction.NotFound", "Message": "Specified api is not found", "RequestId": request_id}
        missing = [k for k in ("Format", "Version", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce",
                               "Timestamp", "Signature", "PhoneNumbers", "SignName", "TemplateCode") if not query.get(k)]
        if missing or query["Version"] != "2017-05-25" or query["SignatureMethod"] != "HMAC-SHA1":
            return 400, {}, {"Code": "MissingParameter", "Message": f"missing {missing}", "RequestId": request_id}
        if query["AccessKeyId"] != self.app_key:
            return 404, {}, {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found.",
                             "RequestId": request_id}
        if query["Signature"] != self._signature(query, self.app_secret):
            return 400, {}, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched with our calculation.",
                             "RequestId": request_id}
        stamp = datetime.strptime(query["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        if abs((datetime.now(timezone.utc) - stamp).total_seconds()) > 900:
            return 400, {}, {"Code": "InvalidTimeStamp.Expired", "Message": "Specified time stamp or date value is expired.",
                             "RequestId": request_id}
        if query["SignatureNonce"] in self.nonces:
            return 400, {}, {"Code": "SignatureNonceUsed", "Message": "Specified signature nonce was used already.",
                             "RequestId": request_id}
        self.nonces.add(query["SignatureNonce"])
        if query["SignName"] not in self.signs:
            return 200, {}, {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "该账号下找不到对应签名", "RequestId": request_id}
        if query["TemplateCode"] not in self.templates:
            return 200, {}, {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "该账号下找不到对应模板", "RequestId": request_id}
        try:
            params = json.loads(query.get("TemplateParam") or "{}")
        except ValueError:
            return 200, {}, {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法", "RequestId": request_id}
        number = query["PhoneNumbers"]
        if not number.isdigit() or number in self.unknown:
            return 200, {}, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号", "RequestId": request_id}
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return 200, {}, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发号码天级流控Permits:10", "RequestId": request_id}
        self.sent.append((number, params))
        return 200, {}, {"Code": "OK", "Message": "OK", "BizId": f"{secrets.randbelow(10**9)}^0", "RequestId": request_id}
