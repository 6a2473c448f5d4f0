"""The channel providers against local fake vendor servers over HTTP (never a patched function), and SMS through a
moto server: the card each vendor gets, access tokens cached, refreshed before expiry and fetched again once when
refused, users the vendor does not know, rate limits held to, and a vendor that is down."""
import socket

import pytest
import requests

from app.notify.channels.base import REFRESH_MARGIN_SECONDS, ChannelMessage
from app.notify.channels.dingtalk import DingTalkChannel
from app.notify.channels.feishu import FeishuChannel
from app.notify.channels.sms import SnsSmsChannel, e164
from app.notify.channels.wecom import WeComChannel
from tests.functions.conftest import moto_endpoint  # noqa: F401 - the session's moto server
from tests.notify.vendor_servers import FakeDingTalk, FakeFeishu, FakeWeCom


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _dingtalk(server, clock, **kw):
    return DingTalkChannel(app_key="key-1", app_secret="secret-1", agent_id=str(FakeDingTalk.agent_id), base_url=server.url,
                           public_url="https://baton.example", clock=clock, **kw)


def _wecom(server, clock, **kw):
    return WeComChannel(corp_id="key-1", secret="secret-1", agent_id=str(FakeWeCom.agent_id), base_url=server.url,
                        public_url="https://baton.example", clock=clock, **kw)


def _feishu(server, clock, **kw):
    return FeishuChannel(app_id="key-1", app_secret="secret-1", base_url=server.url, public_url="https://baton.example",
                         clock=clock, **kw)


VENDORS = {"dingtalk": (FakeDingTalk, _dingtalk), "wecom": (FakeWeCom, _wecom), "feishu": (FakeFeishu, _feishu)}


@pytest.fixture(scope="module")
def servers():
    started = {name: server_class().__enter__() for name, (server_class, _) in VENDORS.items()}
    yield started
    for server in started.values():
        server.__exit__(None, None, None)


@pytest.fixture(params=sorted(VENDORS))
def vendor(request, servers):
    """(fake server, provider, clock) for each vendor, the server's switches reset."""
    server = servers[request.param]
    server.reset()
    clock = Clock()
    return server, VENDORS[request.param][1](server, clock, max_workers=1), clock  # one at a time: orders are asserted


def _message(to="u-1", ref=1):
    return ChannelMessage(ref=ref, to=to, title="New task you can claim", body="WO-1 · Pick: 3 boxes", url="/#/task/7",
                          actions=[{"action": "claim", "title": "Claim"}, {"action": "open", "title": "Open"}])


def test_a_card_reaches_the_person_and_the_token_is_fetched_once(vendor):
    server, provider, _ = vendor
    results = provider.send_many([_message("u-1", 1), _message("u-2", 2)])
    assert [(r.ref, r.outcome) for r in results] == [(1, "sent"), (2, "sent")]
    assert [to for to, _ in server.sent] == ["u-1", "u-2"]
    assert server.token_fetches == 1
    assert "https://baton.example/#/task/7" in repr(server.sent[0][1])  # the card opens the app at the task


def test_the_token_is_refreshed_before_it_expires(vendor):
    server, provider, clock = vendor
    assert provider.send(_message()).ok
    clock.now += server.token_ttl - REFRESH_MARGIN_SECONDS - 1
    assert provider.send(_message()).ok and server.token_fetches == 1
    clock.now += 2  # inside the margin: a new token before the vendor would refuse the old one
    assert provider.send(_message()).ok and server.token_fetches == 2


def test_a_token_the_vendor_refuses_is_fetched_again_once_and_the_message_goes(vendor):
    server, provider, _ = vendor
    assert provider.send(_message()).ok
    server.expire_tokens()
    sends_before = len(server.requests)
    result = provider.send(_message("u-3"))
    assert result.ok, result
    assert server.token_fetches == 2
    # the refused send, a new token, the send again (and DingTalk's send result)
    assert len(server.requests) - sends_before == (4 if isinstance(server, FakeDingTalk) else 3)
    assert [to for to, _ in server.sent][-1] == "u-3"


def test_a_user_the_vendor_does_not_know_is_gone_with_the_vendors_code(vendor):
    server, provider, _ = vendor
    server.unknown.add("ghost")
    result = provider.send(_message("ghost"))
    assert result.outcome == "gone"
    assert result.code in {"invalid_user_id", "81013", "99992360"}
    assert provider.send(_message("u-1")).ok  # others still go


def test_a_rate_limit_holds_back_the_batch_until_the_vendor_allows_again(vendor):
    server, provider, clock = vendor
    server.rate_limited = 1
    results = provider.send_many([_message("u-1", 1), _message("u-2", 2)])
    assert [r.outcome for r in results] == ["retry", "retry"]
    assert results[0].code in {"90018", "45009", "99991400"} and results[0].retry_after > 0
    assert results[1].code == "rate_limited"  # held back without asking the vendor
    assert server.sent == []
    clock.now += results[0].retry_after + 1
    assert provider.send(_message("u-2")).ok


def test_the_client_keeps_below_the_vendors_limit_per_minute(vendor, servers):
    server, _, clock = vendor
    provider = VENDORS[[n for n, s in servers.items() if s is server][0]][1](server, clock, per_minute=2, max_workers=1)
    results = provider.send_many([_message(f"u-{i}", i) for i in range(3)])
    assert [r.outcome for r in results] == ["sent", "sent", "retry"]
    assert results[2].code == "rate_limited" and len(server.sent) == 2


def test_a_vendor_that_is_down_is_retried_later(vendor):
    server, provider, _ = vendor
    assert provider.send(_message()).ok
    server.down = 1
    result = provider.send(_message("u-2"))
    assert (result.outcome, result.code) == ("retry", "500")
    assert provider.send(_message("u-2")).ok


def test_an_unreachable_vendor_is_retried_later():
    provider = DingTalkChannel(app_key="k", app_secret="s", agent_id="1", base_url="http://127.0.0.1:9", timeout=2)
    result = provider.send(_message())
    assert (result.outcome, result.code, result.error) == ("retry", "network", "network: ConnectionError")


def test_a_vendor_slower_than_the_timeout_is_retried_later(vendor):
    server, _, clock = vendor
    make = {FakeDingTalk: _dingtalk, FakeWeCom: _wecom, FakeFeishu: _feishu}[type(server)]
    server.delay = 0.5
    result = make(server, clock, timeout=0.1).send(_message())
    assert (result.outcome, result.code, result.error) == ("retry", "network", "network: ReadTimeout")


def test_the_proxy_environment_is_honoured(vendor, monkeypatch):
    server, _, clock = vendor
    make = {FakeDingTalk: _dingtalk, FakeWeCom: _wecom, FakeFeishu: _feishu}[type(server)]
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{dead}")
    result = make(server, clock).send(_message())
    assert (result.outcome, result.error) == ("retry", "network: ProxyError")  # went to the (dead) proxy
    assert server.requests == []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert make(server, clock).send(_message()).ok


def test_wrong_credentials_fail_without_retrying(servers):
    server = servers["wecom"]
    server.reset()
    provider = WeComChannel(corp_id="key-1", secret="wrong", agent_id=str(FakeWeCom.agent_id), base_url=server.url)
    result = provider.send(_message())
    assert (result.outcome, result.code) == ("failed", "40001")


def test_phone_numbers_are_given_to_sms_in_e164():
    assert e164("138 0013 8000") == "+8613800138000"
    assert e164("+1 (206) 555-0100") == "+12065550100"
    assert e164("0044 7700 900123") == "+447700900123"


@pytest.fixture
def sns(moto_endpoint, monkeypatch):  # noqa: F811
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    requests.post(moto_endpoint + "/moto-api/reset", timeout=5)
    return SnsSmsChannel(region="us-east-1", endpoint_url=moto_endpoint, public_url="https://baton.example")


def test_sms_goes_through_sns(sns, moto_endpoint):  # noqa: F811
    results = sns.send_many([_message("13800138000", 1), _message("12", 2)])
    assert [(r.outcome, r.code) for r in results] == [("sent", None), ("gone", "invalid_number")]
    assert "WO-1" in sns.text(_message())


def test_sms_to_a_number_sns_refuses_is_gone(sns):
    result = sns.send(_message("+86abc"))
    assert result.outcome == "gone"


def test_sms_while_aws_is_unreachable_is_retried(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    provider = SnsSmsChannel(region="us-east-1", endpoint_url="http://127.0.0.1:9")
    result = provider.send(_message("+8613800138000"))
    assert result.outcome == "retry"


def test_channels_and_their_vendors_are_configured_by_the_environment(monkeypatch):
    import app.notify.channels
    from app.config import ConfigError, from_environment

    monkeypatch.setenv("BATON_ENV", "development")
    monkeypatch.delenv("BATON_CHANNELS", raising=False)
    assert from_environment()["CHANNELS"] == ["webpush"]
    monkeypatch.setenv("BATON_CHANNELS", "webpush, dingtalk,sms")
    monkeypatch.setenv("BATON_DINGTALK_APP_KEY", "key-1")
    monkeypatch.setenv("BATON_DINGTALK_APP_SECRET", "secret-1")
    monkeypatch.setenv("BATON_DINGTALK_AGENT_ID", "42")
    config = from_environment()
    assert config["CHANNELS"] == ["webpush", "dingtalk", "sms"]
    assert config["DINGTALK_BASE_URL"] == "https://oapi.dingtalk.com" and config["SMS_PROVIDER"] == "sns"
    assert app.notify.channels.configured(config, "dingtalk") and not app.notify.channels.configured(config, "wecom")
    provider = app.notify.channels.provider(config, "dingtalk")
    assert isinstance(provider, DingTalkChannel) and provider is app.notify.channels.provider(config, "dingtalk")  # one per process
    assert isinstance(app.notify.channels.provider(config, "sms"), SnsSmsChannel)
    monkeypatch.setenv("BATON_CHANNELS", "webpush,pager")
    with pytest.raises(ConfigError, match="pager"):
        from_environment()
    monkeypatch.setenv("BATON_CHANNELS", "sms")
    monkeypatch.setenv("BATON_SMS_PROVIDER", "carrier-pigeon")
    with pytest.raises(ConfigError, match="carrier-pigeon"):
        from_environment()


def test_a_batch_is_sent_concurrently(servers):
    """Latency adds up per connection, not per batch: 64 messages at 50 ms each take far less than 64 × 50 ms."""
    import time

    server = servers["feishu"]
    server.reset()
    server.delay = 0.05
    provider = _feishu(server, Clock(), max_workers=16)
    assert provider.send(_message("warm-up")).ok  # the token first
    started = time.monotonic()
    results = provider.send_many([_message(f"u-{i}", i) for i in range(64)])
    elapsed = time.monotonic() - started
    server.delay = 0.0
    assert [r.ref for r in results] == list(range(64)) and all(r.ok for r in results)
    assert elapsed < 1.6, elapsed  # 64 × 50 ms one after another would be 3.2 s; 16 at a time, 0.2 s


# --- Alibaba Cloud SMS, against a fake Dysmsapi that checks every request's signature -------------------------------


@pytest.fixture(scope="module")
def aliyun_server():
    from tests.notify.vendor_servers import FakeAliyunSms

    with FakeAliyunSms(app_key="LTAI-test", app_secret="secret-aliyun") as server:
        yield server


def _aliyun(server, **kw):
    from app.notify.channels.aliyun_sms import AliyunSmsChannel

    return AliyunSmsChannel(access_key_id=kw.pop("key", "LTAI-test"), access_key_secret=kw.pop("secret", "secret-aliyun"),
                            sign_name="Baton", template_code=kw.pop("template", "SMS_100001"), base_url=server.url,
                            public_url="https://baton.example", **kw)


def test_aliyun_sms_is_signed_and_carries_the_template_and_the_link(aliyun_server):
    aliyun_server.reset()
    message = ChannelMessage(ref=1, to="138 0013 8000", title="有新任务可以抢单", body="WO-1 · 分诊：纸箱漏水",
                             url="/#/task/7", links={"open": "https://baton.example/l/1.2.o.abc.signature"})
    results = _aliyun(aliyun_server).send_many([message, _message("+85291234567", 2)])
    assert [r.outcome for r in results] == ["sent", "sent"], results
    sent = dict(aliyun_server.sent)
    assert sent["13800138000"] == {"title": "有新任务可以抢单", "body": "WO-1 · 分诊：纸箱漏水",
                                   "link": "https://baton.example/l/1.2.o.abc.signature"}
    assert "85291234567" in sent  # outside the mainland: the country code, without "+"


def test_aliyun_sms_refusals_are_told_apart(aliyun_server):
    aliyun_server.reset()
    wrong = _aliyun(aliyun_server, secret="not-the-secret").send(_message("13800138000"))
    assert (wrong.outcome, wrong.code) == ("failed", "SignatureDoesNotMatch")
    assert _aliyun(aliyun_server, key="LTAI-other").send(_message("13800138000")).code == "InvalidAccessKeyId.NotFound"
    assert _aliyun(aliyun_server, template="SMS_9").send(_message("13800138000")).code == "isv.SMS_TEMPLATE_ILLEGAL"
    aliyun_server.unknown.add("13800000000")
    gone = _aliyun(aliyun_server).send(_message("13800000000"))
    assert (gone.outcome, gone.code) == ("gone", "isv.MOBILE_NUMBER_ILLEGAL")
    assert _aliyun(aliyun_server).send(_message("12")).code == "invalid_number"  # never sent
    aliyun_server.rate_limited = 1
    provider = _aliyun(aliyun_server)
    limited = provider.send(_message("13900139000"))
    assert (limited.outcome, limited.code) == ("retry", "isv.BUSINESS_LIMIT_CONTROL")
    assert provider.send(_message("13700137000")).ok  # a number's limit holds back only that number
    aliyun_server.down = 1
    assert _aliyun(aliyun_server).send(_message("13800138000")).outcome == "retry"
    assert [n for n, _ in aliyun_server.sent] == ["13700137000"]


def test_aliyun_sms_is_chosen_by_the_environment(monkeypatch):
    import app.notify.channels
    from app.config import from_environment
    from app.notify.channels.aliyun_sms import AliyunSmsChannel

    monkeypatch.setenv("BATON_ENV", "development")
    monkeypatch.setenv("BATON_CHANNELS", "webpush,sms")
    monkeypatch.setenv("BATON_SMS_PROVIDER", "aliyun")
    config = from_environment()
    assert not app.notify.channels.configured(config, "sms")  # no key, sign name or template yet
    for key, value in {"ACCESS_KEY_ID": "LTAI-1", "ACCESS_KEY_SECRET": "s", "SIGN_NAME": "Baton", "TEMPLATE_CODE": "SMS_1"}.items():
        monkeypatch.setenv(f"BATON_ALIYUN_SMS_{key}", value)
    config = from_environment()
    assert app.notify.channels.configured(config, "sms")
    provider = app.notify.channels.provider(config, "sms")
    assert isinstance(provider, AliyunSmsChannel) and provider.base_url == "https://dysmsapi.aliyuncs.com"
