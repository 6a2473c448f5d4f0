"""SMS through Alibaba Cloud (阿里云短信服务, Dysmsapi ``SendSms``), for numbers in mainland China.

Plain HTTP on urllib3 pools (``pushhttp.HttpPool``) rather than the official SDK: ``alibabacloud_dysmsapi20170525`` is
kept up, but it brings the Tea/Darabonba runtime with aiohttp, APScheduler, websocket-client, cryptography and a
credentials chain (28 packages, about 9 MB of wheels) for one signed GET. The call is Aliyun's RPC style:

* ``GET https://dysmsapi.aliyuncs.com/?<parameters>&Signature=<signature>`` with the common parameters (``Format=JSON``,
  ``Version=2017-05-25``, ``AccessKeyId``, ``SignatureMethod=HMAC-SHA1``, ``SignatureVersion=1.0``,
  ``SignatureNonce``, ``Timestamp`` in UTC ISO 8601, ``Action=SendSms``, ``RegionId``) and the action's
  (``PhoneNumbers``, ``SignName``, ``TemplateCode``, ``TemplateParam`` as a JSON string).
* The signature: ``StringToSign = "GET&%2F&" + percent(canonical query)``, the query's pairs sorted by name and each
  name and value percent-encoded (RFC 3986: ``%20`` for a space, ``%2A`` for ``*``, ``~`` kept), then
  ``base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``.
* The answer: ``{"Code": "OK", "BizId", "RequestId"}``, or another ``Code``: ``isv.MOBILE_NUMBER_ILLEGAL`` (the number
  cannot be texted: ``gone``); ``isv.BUSINESS_LIMIT_CONTROL`` (Aliyun's limit per number), ``Throttling.User``,
  ``ServiceUnavailable`` (``retry``); a bad key, signature, sign name, template or balance (``failed``).

Chinese SMS carries only approved templates: the message goes out as the template ``BATON_ALIYUN_SMS_TEMPLATE_CODE``
with the parameters ``title``, ``body`` and ``link`` (the card's signed "Open" link).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timezone
from urllib.parse import quote

from app.notify.channels.base import RATE_LIMIT_PAUSE_SECONDS, ChannelMessage, ChannelResult, VendorChannel, VendorError, card_link
from app.notify.channels.sms import E164, e164

DEFAULT_BASE_URL = "https://dysmsapi.aliyuncs.com"
GONE_CODES = {"isv.MOBILE_NUMBER_ILLEGAL"}
RETRY_CODES = {"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling", "Throttling.Api", "ServiceUnavailable",
               "InternalError", "SignatureNonceUsed", "isp.SYSTEM_ERROR", "isp.RAM_PERMISSION_DENY"}
#: Aliyun's limit on a template's variable (other than a code): longer text is cut.
VARIABLE_CHARS = 35


def percent(value: str) -> str:
    """RFC 3986 percent-encoding, as Aliyun's RPC signature wants it."""
    return quote(str(value), safe="~")


def signature(params: dict, secret: str, method: str = "GET") -> str:
    canonical = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent('/')}&{percent(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def aliyun_number(phone: str, default_country: str = "+86") -> str | None:
    """A stored number as SendSms wants it: 11 digits in mainland China, else country code and number without `+`."""
    number = e164(phone, default_country)
    if not E164.match(number):
        return None
    return number[3:] if number.startswith("+86") else number[1:]


class AliyunSmsChannel(VendorChannel):
    name = "sms"
    per_minute = 1000  # Aliyun limits texts per number (a minute, an hour, a day); this only keeps a flood in check

    def __init__(self, *, access_key_id: str, access_key_secret: str, sign_name: str, template_code: str,
                 base_url: str = DEFAULT_BASE_URL, region: str = "cn-hangzhou", default_country: str = "+86",
                 public_url: str = "", **kwargs):
        kwargs.setdefault("max_workers", 8)
        super().__init__(base_url=base_url or DEFAULT_BASE_URL, **kwargs)
        self.access_key_id, self.access_key_secret = access_key_id, access_key_secret
        self.sign_name, self.template_code, self.region = sign_name, template_code, region
        self.default_country, self.public_url = default_country, public_url

    def fetch_token(self):
        return "", float(10**9)  # every request is signed; there is no token

    def template_param(self, message: ChannelMessage) -> dict:
        link = card_link(message, self.public_url)
        return {"title": message.title[:VARIABLE_CHARS], "body": message.body[:VARIABLE_CHARS],
                "link": link if link.startswith("http") else ""}

    def signed_query(self, message: ChannelMessage, number: str, *, now: datetime | None = None) -> dict:
        params = {
            "Format": "JSON", "Version": "2017-05-25", "AccessKeyId": self.access_key_id, "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0", "SignatureNonce": uuid.uuid4().hex, "Action": "SendSms", "RegionId": self.region,
            "Timestamp": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PhoneNumbers": number, "SignName": self.sign_name, "TemplateCode": self.template_code,
            "TemplateParam": json.dumps(self.template_param(message), ensure_ascii=False, separators=(",", ":")),
        }
        params["Signature"] = signature(params, self.access_key_secret)
        return params

    def send(self, message: ChannelMessage) -> ChannelResult:
        if aliyun_number(message.to, self.default_country) is None:
            return ChannelResult(message.ref, "gone", code="invalid_number", error="not a phone number SMS can reach")
        return super().send(message)

    def post_message(self, token: str, message: ChannelMessage) -> None:
        number = aliyun_number(message.to, self.default_country)
        response = self.http.request("GET", self.base_url + "/", params=self.signed_query(message, number))
        if response.status_code >= 500:
            raise VendorError("retry", response.status_code, f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise VendorError("failed", response.status_code, f"HTTP {response.status_code}: not JSON")
        code, text = str(body.get("Code") or response.status_code), str(body.get("Message") or "")
        if code == "OK":
            return
        if code in GONE_CODES:
            raise VendorError("gone", code, text)
        if code in RETRY_CODES:
            # Throttling holds back every text for a while; the limit per number (BUSINESS_LIMIT_CONTROL) only this
            # one, retried with the outbox's backoff.
            raise VendorError("retry", code, text, retry_after=RATE_LIMIT_PAUSE_SECONDS if code.startswith("Throttling") else None)
        raise VendorError("failed", code, text)
