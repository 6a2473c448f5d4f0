"""Push channels behind one small interface, chosen by configuration (CONVENTIONS 5)."""
import json
import logging
from typing import Protocol

from app.notify.endpoints import EndpointPolicy, policy_from_config
from app.notify.webpush import PushMessage, PushResult, WebPushSender

log = logging.getLogger("baton.push")


class PushProvider(Protocol):
    def send_many(self, messages: list[PushMessage]) -> list[PushResult]: ...


class WebPushProvider:
    """Real Web Push through the browsers' push services (VAPID + aes128gcm), connections reused."""

    def __init__(self, *, private_key: str, subject: str, max_workers: int, endpoint_policy: EndpointPolicy | None = None):
        self.sender = WebPushSender(private_key, subject, max_workers=max_workers, endpoint_policy=endpoint_policy)

    def send_many(self, messages):
        return self.sender.send_many(messages)


class LogProvider:
    """Development without push: log each message and report it sent (the in-app list still has it)."""

    def send_many(self, messages):
        for m in messages:
            log.info(json.dumps({"push": m.payload.get("title"), "to": m.subscription.get("endpoint", "")[:60], "tag": m.payload.get("tag")}))
        return [PushResult(ref=m.ref, outcome="sent", http_status=201) for m in messages]


class RecordingProvider:
    """For tests: records what it was asked to send and answers with scripted outcomes."""

    def __init__(self, outcomes=None):
        self.sent: list[PushMessage] = []
        self.outcomes = outcomes or {}

    def send_many(self, messages):
        self.sent.extend(messages)
        return [self.outcomes.get(m.subscription["endpoint"], PushResult(ref=m.ref, outcome="sent", http_status=201))
                if not callable(self.outcomes.get(m.subscription["endpoint"]))
                else self.outcomes[m.subscription["endpoint"]](m) for m in messages]


_cache: dict[tuple, PushProvider] = {}


def from_config(config) -> PushProvider | None:
    """The provider named by BATON_PUSH_PROVIDER; None when Web Push is chosen but has no VAPID keys."""
    name = config.get("PUSH_PROVIDER", "webpush")
    if name == "log":
        return LogProvider()
    if config.get("PUSH_PROVIDER_INSTANCE") is not None:
        return config["PUSH_PROVIDER_INSTANCE"]
    if not config.get("VAPID_PRIVATE_KEY"):
        return None
    key = (config["VAPID_PRIVATE_KEY"], config["VAPID_SUBJECT"], config["PUSH_MAX_WORKERS"], policy_from_config(config))
    if key not in _cache:  # one sender (and its connection pool) per process
        _cache[key] = WebPushProvider(private_key=key[0], subject=key[1], max_workers=key[2], endpoint_policy=key[3])
    return _cache[key]
