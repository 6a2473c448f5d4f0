"""Error answers in the reader's language (docs/design.md §9, §15): `message` and the field messages in `details`
follow `Accept-Language` (zh-CN or en, English otherwise); the code never changes."""
import re

import pytest

from app.common import i18n
from tests.conftest import assert_error

V1 = "/api/v1"
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
ENGLISH = {"Accept-Language": "en"}
HAN = re.compile(r"[\u4e00-\u9fff]")


def _in_both(send):
    """The same request sent in Chinese, in English and with no Accept-Language: (zh, en, none) responses."""
    return send(CHINESE), send(ENGLISH), send({})


def _said_in(response, language: str):
    assert response.headers["Content-Language"] == language
    assert "Accept-Language" in response.headers.get("Vary", "")


def _chinese(text: str) -> bool:
    return bool(HAN.search(text))


def test_a_bad_request_is_answered_in_the_readers_language(client, auth, demo):
    admin = auth.headers("admin")
    zh, en, none = _in_both(lambda lang: client.post(f"{V1}/groups", json={"name": 7}, headers={**admin, **lang}))
    zh_error, en_error, plain = (assert_error(r, 422, "validation_error") for r in (zh, en, none))
    assert zh_error["message"] == "有些填写内容需要修改。"
    assert zh_error["details"] == {"name": ["应为文本。"]}
    assert en_error["message"] == plain["message"] == "The request is not valid."
    assert en_error["details"] == plain["details"] == {"name": ["Not a valid string."]}
    _said_in(zh, "zh-CN")
    _said_in(en, "en")
    _said_in(none, "en")


def test_a_length_message_in_details_is_chinese(client, auth, demo):
    lead = auth.headers("lead.cs")
    body = {"template": "complaint", "title": "Too many tags", "tags": [f"t{i}" for i in range(21)]}
    zh, en, _ = _in_both(lambda lang: client.post(f"{V1}/work-orders", json=body, headers={**lead, **lang}))
    assert assert_error(en, 422, "validation_error")["details"]["tags"] == ["Longer than maximum length 20."]
    error = assert_error(zh, 422, "validation_error")
    assert error["details"]["tags"] == ["长度不能超过 20。"]
    assert error["message"] == "有些填写内容需要修改。"


def test_a_domain_conflict_is_chinese_with_the_same_code(client, auth, demo):
    lead, agent1, agent2 = auth.headers("lead.cs"), auth.headers("cs.agent1"), auth.headers("cs.agent2")
    created = client.post(f"{V1}/work-orders", json={"template": "complaint", "title": "A parcel arrived broken"}, headers=lead)
    assert created.status_code == 201, created.json
    task_id = created.json["tasks"][0]["id"]
    assert client.post(f"{V1}/tasks/{task_id}/claim", json={}, headers=agent1).status_code == 200
    zh, en, none = _in_both(lambda lang: client.post(f"{V1}/tasks/{task_id}/claim", json={}, headers={**agent2, **lang}))
    zh_error, en_error, plain = (assert_error(r, 409, "task_taken") for r in (zh, en, none))
    assert en_error["message"] == plain["message"] == "Someone else has taken this task."
    assert zh_error["message"] == "此任务已被其他人抢先领取。"
    assert zh_error["details"] == en_error["details"]  # context (status, who) is data, not words
    _said_in(zh, "zh-CN")


def test_a_duplicate_name_is_chinese_with_the_name_kept(client, auth, demo):
    admin = auth.headers("admin")
    assert client.post(f"{V1}/groups", json={"name": "Pickers"}, headers=admin).status_code == 201
    error = assert_error(client.post(f"{V1}/groups", json={"name": "Pickers"}, headers={**admin, **CHINESE}), 409, "name_taken")
    assert error["message"] == "群组 Pickers 已存在。"
    assert error["details"] == {"name": ["已被使用"]}


def test_not_found_is_chinese(client, auth, demo):
    admin = auth.headers("admin")
    zh, en, _ = _in_both(lambda lang: client.get(f"{V1}/work-orders/999999", headers={**admin, **lang}))
    assert assert_error(en, 404, "not_found")["message"] == "No such work order."
    assert assert_error(zh, 404, "not_found")["message"] == "没有这个工单。"
    zh, en, _ = _in_both(lambda lang: client.get(f"{V1}/no-such-thing", headers={**admin, **lang}))
    assert not _chinese(assert_error(en, 404, "not_found")["message"])
    assert assert_error(zh, 404, "not_found")["message"].startswith("找不到请求的地址。")
    _said_in(zh, "zh-CN")


def test_http_errors_and_sign_in_failures_are_chinese(client, demo):
    r = client.delete(f"{V1}/auth/login", headers=CHINESE)
    assert assert_error(r, 405, "method_not_allowed")["message"] == "此地址不支持该请求方法。"
    assert "POST" in r.headers["Allow"]
    r = client.get(f"{V1}/me", headers={"Accept-Language": "zh-Hans-CN"})
    assert assert_error(r, 401, "unauthorized")["message"] == "请先登录。"
    r = client.post(f"{V1}/auth/login", json={"login": "admin", "password": "wrong"}, headers={"Accept-Language": "zh"},
                    environ_base={"REMOTE_ADDR": "10.77.0.1"})
    assert assert_error(r, 401, "invalid_credentials")["message"] == "登录名或密码不正确。"
    r = client.post(f"{V1}/groups", data="{", content_type="application/json", headers=CHINESE)
    assert _chinese(assert_error(r, 401)["message"])


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_language_we_do_not_speak_is_answered_in_english(client, demo):
    for header in ("fr-FR,fr;q=0.9", "de", "*", "zh;q=0"):
        r = client.get(f"{V1}/me", headers={"Accept-Language": header})
        assert assert_error(r, 401)["message"] == "Sign in first.", header
        assert r.headers["Content-Language"] == "en"


# The language and the catalog, without a request.

@pytest.mark.parametrize(("header", "language"), [
    ("zh-CN,zh;q=0.9", "zh-CN"),
    ("zh-Hans", "zh-CN"),
    ("zh-Hans-CN", "zh-CN"),
    ("zh_CN", "zh-CN"),
    ("zh-TW", "zh-CN"),
    ("ZH", "zh-CN"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    ("en;q=0.5, zh-Hans;q=0.9", "zh-CN"),  # the higher q wins, even over an exact match werkzeug would prefer
    ("fr, zh;q=0.5", "zh-CN"),
    ("fr, de", "en"),
    ("", "en"),
    (None, "en"),
    ("zh;q=0, en", "en"),
    (";;;,,", "en"),
])
def test_negotiate(header, language):
    assert i18n.negotiate(header) == language


def test_translate_fills_templates_and_leaves_unknown_messages_english():
    zh = "zh-CN"
    assert i18n.translate("Longer than maximum length 20.", zh) == "长度不能超过 20。"
    assert i18n.translate("Must be greater than or equal to 1 and less than or equal to 5.", zh) == "须在 1 到 5 之间。"
    assert i18n.translate("Must be one of: pause, recall.", zh) == "只能是以下之一：pause, recall。"
    assert i18n.translate("Template 'audit' exists; PUT /templates/audit makes a new version.", zh) \
        == "模板 'audit' 已存在；用 PUT /templates/audit 创建新版本。"
    # the most specific entry wins; a message in a placeholder named {message} is said in turn
    assert i18n.translate("Andon 7 is already active on this batch.", zh) == "安灯 7 已在此批次上生效。"
    assert i18n.translate("'P900D' is too long: must be at most 366 days (P366D)", zh) == "'P900D' 太长：最多 366 天（P366D）"
    assert i18n.translate("at least 3 photos", zh) == "至少 3 张照片"
    for unknown in ("Something nobody wrote down.", "", "must"):
        assert i18n.translate(unknown, zh) == unknown
    assert i18n.translate(None, zh) is None
    assert i18n.translate("Longer than maximum length 20.", "en") == "Longer than maximum length 20."


def test_translate_details_says_messages_and_keeps_data():
    details = {
        "tags": ["Longer than maximum length 20."],
        "rows": [{"row": 3, "column": "login", "message": "required"}],
        "status": "claimed",
        "by": {"id": 4, "name": "required"},
        "steps.0.when": {"nested": ["must be any or all"]},
        "retry_after": 30,
    }
    assert i18n.translate_details(details, "zh-CN") == {
        "tags": ["长度不能超过 20。"],
        "rows": [{"row": 3, "column": "login", "message": "必填"}],
        "status": "claimed",
        "by": {"id": 4, "name": "required"},
        "steps.0.when": {"nested": ["须为 any 或 all"]},
        "retry_after": 30,
    }
    assert i18n.translate_details(details, "en") is details
