"""The notification catalogue (app/notify/messages.py): the one place that says what a notification reads and opens."""
import ast
import pathlib
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from app.notify.messages import MESSAGES, addressed, buttons, render

APP = pathlib.Path(__file__).resolve().parents[2] / "app"


def test_every_kind_reads_in_both_languages_with_the_same_values():
    for kind, texts in MESSAGES.items():
        assert set(texts) == {"en", "zh-CN"}, kind
        en, zh = texts["en"], texts["zh-CN"]
        names = lambda pair: {f for text in pair for f in _fields(text)}  # noqa: E731
        assert names(en) == names(zh), kind


def _fields(text: str) -> set[str]:
    import string
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_links_tags_and_data_follow_what_the_notification_is_about():
    assert addressed("task.offered", {"task_id": 7}) == ("/#/task/7", "task-7", {"task_id": 7, "actions": ["claim", "open"]})
    assert addressed("task.assigned", {"task_id": 7}) == ("/#/task/7", "task-7", {"task_id": 7})
    assert addressed("task.escalated", {"task_id": 7, "level": 2}) == ("/#/task/7", "esc-7", {"task_id": 7, "level": 2})
    # several tasks of one step for one person: one notification that opens the work order
    assert addressed("task.assigned", {"work_order_id": 3, "step": "pick", "tasks": 4}) == (
        "/#/wo/3", "wo-3-pick", {"work_order_id": 3, "tasks": 4, "actions": ["open"]})
    assert addressed("work_order.returned", {"work_order_id": 3, "task_id": 9}) == ("/#/task/9", "wo-3", {})
    assert addressed("work_order.returned", {"work_order_id": 3, "task_id": None}) == ("/#/wo/3", "wo-3", {})
    assert addressed("andon.pulled", {"andon_id": 5}) == ("/#/andon/5", "andon-5", {"andon_id": 5})
    assert addressed("task.offered", {"template": "recall", "first": "R-1", "work_orders": 50}) == (
        "/#/inbox", "bulk-recall-R-1", {"work_orders": 50, "actions": ["open"]})


def test_words_and_times_are_said_in_the_readers_language_and_zone():
    params = {"scope": "batch", "target": "B-1", "reason": "smell"}
    assert render("andon.pulled", "zh-CN", params)[1] == "批次 B-1：smell"
    assert render("andon.pulled", "en", params)[1] == "Batch B-1: smell"
    due = datetime(2026, 12, 5, 21, 10, tzinfo=timezone.utc)
    shanghai = ZoneInfo("Asia/Shanghai")
    same_day = datetime(2026, 12, 6, 1, 0, tzinfo=timezone.utc)
    _, body = render("task.reminder", "zh-CN", {"number": "W-1", "step": "分诊", "due": due}, zone=shanghai, now=same_day)
    assert body == "W-1 · 分诊 将于 05:10 到期"
    _, body = render("task.reminder", "en", {"number": "W-1", "step": "Triage", "due": due}, zone=shanghai, now=due.replace(hour=10))
    assert body == "W-1 · Triage is due 12-06 05:10"  # another day where the reader is: the date is said


def test_buttons_follow_the_readers_language():
    claimable = {"task_id": 1, "actions": ["claim", "open"]}
    assert [b["title"] for b in buttons(claimable, "zh-CN")] == ["抢单", "查看"]
    assert [b["title"] for b in buttons(claimable, "en")] == ["Claim", "Open"]
    assert buttons({"task_id": 1}, "en") == [] and buttons({"actions": ["open"]}, "zh-CN") == []


def test_domain_code_builds_no_app_links_and_quotes_no_bilingual_words():
    """Links and words belong to the catalogue; domain code names kinds and ids (docstrings may quote terms)."""
    found = []
    for path in APP.rglob("*.py"):
        # The catalogues themselves (notifications', server errors' Chinese), and flow templates written as data (the
        # demo's and the system flows'), whose bilingual names and titles an admin edits like any other template's.
        if path.relative_to(APP).as_posix() in ("notify/messages.py", "common/messages_zh.py", "quality/system.py") \
                or path.name == "demo.py" \
                or "seed" in path.parts[-1]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if "/#/" in node.value or any("\u4e00" <= ch <= "\u9fff" for ch in node.value):
                    found.append(f"{path.relative_to(APP)}:{node.lineno}: {node.value[:40]!r}")
    assert not found, found
