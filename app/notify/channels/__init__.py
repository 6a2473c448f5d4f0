"""Channels beyond Web Push (docs/design.md §14): DingTalk, WeCom, Feishu and SMS, behind Web Push's provider
interface (``send_many(messages) -> results``, CONVENTIONS 5), chosen and configured by the environment."""
from __future__ import annotations

from app.notify.channels.aliyun_sms import AliyunSmsChannel
from app.notify.channels.dingtalk import DingTalkChannel
from app.notify.channels.feishu import FeishuChannel
from app.notify.channels.sms import SnsSmsChannel
from app.notify.channels.wecom import WeComChannel

#: Every channel Baton knows, in the default ladder order; `BATON_CHANNELS` picks and orders the enabled ones.
CHANNELS = ("webpush", "dingtalk", "wecom", "feishu", "sms")
#: The person's identity on each channel (a column of users); Web Push's are the person's devices.
IDENTITY = {"dingtalk": "dingtalk_userid", "wecom": "wecom_userid", "feishu": "feishu_user_id", "sms": "phone"}

_cache: dict[tuple, object] = {}


def enabled(config) -> list[str]:
    """The channels enabled on this server, in ladder order."""
    return list(config.get("CHANNELS") or ("webpush",))


def configured(config, name: str) -> bool:
    """Whether `name` is enabled and has what it needs to send (credentials; VAPID keys for Web Push)."""
    if name not in enabled(config):
        return False
    if name == "webpush":
        return bool(config.get("VAPID_PRIVATE_KEY")) or config.get("PUSH_PROVIDER") == "log" \
            or config.get("PUSH_PROVIDER_INSTANCE") is not None
    if (config.get("CHANNEL_PROVIDER_INSTANCES") or {}).get(name) is not None:
        return True
    need = {"dingtalk": ("DINGTALK_APP_KEY", "DINGTALK_APP_SECRET", "DINGTALK_AGENT_ID"),
            "wecom": ("WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID"),
            "feishu": ("FEISHU_APP_ID", "FEISHU_APP_SECRET"),
            "sms": ("SMS_PROVIDER",)}[name]
    if name == "sms" and config.get("SMS_PROVIDER") == "aliyun":
        need = ("ALIYUN_SMS_ACCESS_KEY_ID", "ALIYUN_SMS_ACCESS_KEY_SECRET", "ALIYUN_SMS_SIGN_NAME", "ALIYUN_SMS_TEMPLATE_CODE")
    return all(config.get(key) for key in need)


def provider(config, name: str):
    """The provider for channel `name` (one per process and configuration, so tokens and connections are reused);
    None when it is not configured. Tests may put instances in `CHANNEL_PROVIDER_INSTANCES`."""
    instance = (config.get("CHANNEL_PROVIDER_INSTANCES") or {}).get(name)
    if instance is not None:
        return instance
    if name == "webpush" or not configured(config, name):
        return None
    public_url = config.get("PUBLIC_URL") or ""
    if name == "dingtalk":
        key = (name, config["DINGTALK_APP_KEY"], config["DINGTALK_APP_SECRET"], config["DINGTALK_AGENT_ID"],
               config.get("DINGTALK_BASE_URL"), public_url)
    elif name == "wecom":
        key = (name, config["WECOM_CORP_ID"], config["WECOM_SECRET"], config["WECOM_AGENT_ID"], config.get("WECOM_BASE_URL"),
               public_url)
    elif name == "feishu":
        key = (name, config["FEISHU_APP_ID"], config["FEISHU_APP_SECRET"], config.get("FEISHU_BASE_URL"), public_url)
    elif config["SMS_PROVIDER"] == "aliyun":
        key = (name, "aliyun", config["ALIYUN_SMS_ACCESS_KEY_ID"], config["ALIYUN_SMS_ACCESS_KEY_SECRET"],
               config["ALIYUN_SMS_SIGN_NAME"], config["ALIYUN_SMS_TEMPLATE_CODE"], config.get("ALIYUN_SMS_BASE_URL"),
               config.get("ALIYUN_SMS_REGION") or "cn-hangzhou", config.get("SMS_DEFAULT_COUNTRY"), public_url)
    else:
        key = (name, config["SMS_PROVIDER"], config.get("AWS_REGION"), config.get("AWS_ENDPOINT_URL"),
               config.get("SMS_SENDER_ID"), config.get("SMS_DEFAULT_COUNTRY"), public_url)
    if key not in _cache:
        _cache[key] = _build(name, key)
    return _cache[key]


def _build(name: str, key: tuple):
    if name == "dingtalk":
        return DingTalkChannel(app_key=key[1], app_secret=key[2], agent_id=key[3], base_url=key[4] or "", public_url=key[5])
    if name == "wecom":
        return WeComChannel(corp_id=key[1], secret=key[2], agent_id=key[3], base_url=key[4] or "", public_url=key[5])
    if name == "feishu":
        return FeishuChannel(app_id=key[1], app_secret=key[2], base_url=key[3] or "", public_url=key[4])
    if key[1] == "aliyun":
        return AliyunSmsChannel(access_key_id=key[2], access_key_secret=key[3], sign_name=key[4], template_code=key[5],
                                base_url=key[6] or "", region=key[7], default_country=key[8] or "+86", public_url=key[9])
    if key[1] != "sns":
        raise ValueError(f"unknown SMS provider {key[1]!r}")
    return SnsSmsChannel(region=key[2], endpoint_url=key[3], sender_id=key[4] or "", default_country=key[5] or "+86",
                         public_url=key[6])
