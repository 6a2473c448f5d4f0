"""SMS through AWS SNS (boto3): ``Publish`` to a phone number, as a transactional message.

A number that is not E.164 after normalisation, or one SNS refuses (``InvalidParameter``), is an identity that
cannot work (``gone``); throttling and AWS being down are ``retry``; anything else ``failed``.
"""
from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.notify.channels.base import RATE_LIMIT_PAUSE_SECONDS, ChannelMessage, ChannelResult, card_link

log = logging.getLogger("baton.channels")

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
THROTTLED = {"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
             "RequestLimitExceeded", "KMSThrottlingException"}
DOWN = {"InternalError", "InternalFailure", "ServiceUnavailable", "KMSUnavailable"}
UNKNOWN_NUMBER = {"InvalidParameter", "InvalidParameterValue", "OptedOut"}


def e164(phone: str, default_country: str = "+86") -> str:
    """A stored number as SNS wants it: `13800138000` -> `+8613800138000`; spaces and dashes dropped."""
    digits = re.sub(r"[\s\-().]", "", phone or "")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        digits = default_country + digits.lstrip("0")
    return digits


class SnsSmsChannel:
    name = "sms"

    def __init__(self, *, region: str, endpoint_url: str | None = None, sender_id: str = "", default_country: str = "+86",
                 public_url: str = ""):
        self.region, self.endpoint_url, self.sender_id = region, endpoint_url, sender_id
        self.default_country, self.public_url = default_country, public_url
        self._client = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def client(self):
        with self._lock:
            if self._client is None:

                # Short timeouts and one retry: the outbox retries later with backoff, a sweep must not hang on AWS.
                self._client = boto3.client("sns", region_name=self.region, endpoint_url=self.endpoint_url, config=Config(
                    connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}))
            return self._client

    def text(self, message: ChannelMessage) -> str:
        link = card_link(message, self.public_url)
        words = f"{message.title}: {message.body}"
        return (words[:400] + (f" {link}" if link.startswith("http") else ""))[:600]

    def send_many(self, messages: list[ChannelMessage]) -> list[ChannelResult]:
        """Concurrently (boto3 clients are thread-safe); results in input order."""
        messages = list(messages)
        if len(messages) <= 1:
            return [self.send(m) for m in messages]
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="channel-sms")
            executor = self._executor
        return list(executor.map(self.send, messages))

    def send(self, message: ChannelMessage) -> ChannelResult:
        number = e164(message.to, self.default_country)
        if not E164.match(number):
            return ChannelResult(message.ref, "gone", code="invalid_number", error="not a phone number SMS can reach")
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if self.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self.sender_id}
        try:
            self.client().publish(PhoneNumber=number, Message=self.text(message), MessageAttributes=attributes)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            text = exc.response.get("Error", {}).get("Message", "")[:300]
            if code in THROTTLED:
                return ChannelResult(message.ref, "retry", code=code, error=text, retry_after=RATE_LIMIT_PAUSE_SECONDS)
            if code in DOWN or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                return ChannelResult(message.ref, "retry", code=code, error=text)
            if code in UNKNOWN_NUMBER:
                return ChannelResult(message.ref, "gone", code=code, error=text)
            log.warning("sms: ref=%r %s %s", message.ref, code, text)
            return ChannelResult(message.ref, "failed", code=code, error=text)
        except BotoCoreError as exc:  # endpoint unreachable, timeouts
            return ChannelResult(message.ref, "retry", code="network", error=type(exc).__name__)
        return ChannelResult(message.ref, "sent")
