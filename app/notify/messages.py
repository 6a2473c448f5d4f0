"""What a notification says and where it leads: its texts per language, its link, its tag and its buttons.

Domain code names a kind, the people, the values the text quotes and what the notification is about
(`task_id`, `work_order_id`, `andon_id`, …); everything the reader sees is decided here, once. The system's own
work-order titles (a recall, a quarantine, a restock) are written here too.
"""
from datetime import datetime, timedelta, timezone, tzinfo

MESSAGES = {
    "task.offered": {
        "en": ("New task you can claim", "{number} · {step}: {title}"),
        "zh-CN": ("有新任务可以抢单", "{number} · {step}：{title}"),
    },
    "task.assigned": {
        "en": ("A task is yours", "{number} · {step}: {title}"),
        "zh-CN": ("您有新任务", "{number} · {step}：{title}"),
    },
    "task.transferred": {
        "en": ("A task was transferred to you", "{number} · {step}: {title}"),
        "zh-CN": ("有任务转给了您", "{number} · {step}：{title}"),
    },
    "task.taken": {
        "en": ("Task taken", "{who} took {number} · {step}"),
        "zh-CN": ("任务已被领取", "{who} 领取了 {number} · {step}"),
    },
    "task.reminder": {
        "en": ("Due soon", "{number} · {step} is due {due}"),
        "zh-CN": ("即将超时", "{number} · {step} 将于 {due} 到期"),
    },
    "task.escalated": {
        "en": ("Overdue work escalated to you (level {level})", "{number} · {step}: {title}"),
        "zh-CN": ("超时工单升级给您（第 {level} 级）", "{number} · {step}：{title}"),
    },
    "work_order.resolved": {
        "en": ("Work order resolved", "{number}: {title}"),
        "zh-CN": ("工单已办结", "{number}：{title}"),
    },
    "work_order.escalated": {
        "en": ("Work order escalated", "{number}: {title} — {reason}"),
        "zh-CN": ("工单已升级", "{number}：{title} — {reason}"),
    },
    "work_order.returned": {
        "en": ("Task returned to you", "{number} · {step}: {reason}"),
        "zh-CN": ("任务被退回给您", "{number} · {step}：{reason}"),
    },
    "andon.pulled": {
        "en": ("Andon pulled", "{scope} {target}: {reason}"),
        "zh-CN": ("已拉灯（安灯）", "{scope} {target}：{reason}"),
    },
    "channel.test": {
        "en": ("Test message from Baton", "{name}, this is how Baton reaches you on {channel}."),
        "zh-CN": ("Baton 测试消息", "{name}，Baton 将这样通过{channel}联系您。"),
    },
}

#: Values quoted in a text that are words themselves, said in the reader's language: the parameters of each
#: kind that hold one, and the words.
WORDED = {"andon.pulled": {"scope"}, "channel.test": {"channel"}}
WORDS = {
    "en": {"batch": "Batch", "product": "Product", "webpush": "push notifications", "dingtalk": "DingTalk",
           "wecom": "WeCom", "feishu": "Feishu", "sms": "SMS"},
    "zh-CN": {"batch": "批次", "product": "产品", "webpush": "推送通知", "dingtalk": "钉钉", "wecom": "企业微信",
              "feishu": "飞书", "sms": "短信"},
}
#: The buttons a push offers on a task the reader may claim.
BUTTONS = {
    "en": {"claim": "Claim", "open": "Open"},
    "zh-CN": {"claim": "抢单", "open": "查看"},
}
#: Titles of the work orders the system opens itself. A title is stored once for every reader, so it is
#: written in both languages.
TITLES = {
    "recall": "召回 Recall {order_no} · {target}",
    "quarantine": "隔离 Quarantine {target}: {reason}",
    "restock": "补货 Restock {sku} {name}",
}
#: Where a channel's test message leads: the person's settings, where they asked for it.
SETTINGS_URL = "/#/settings"
#: What a notification's data may carry besides the ids it is about.
_DATA_KEYS = ("task_id", "level", "andon_id", "work_order_id", "tasks", "work_orders")


def system_title(kind: str, **params) -> str:
    """The title of a work order the system opens (at most 300 characters, the column's width)."""
    return TITLES[kind].format_map(params)[:300]


def entry_point_url(*, origin: str, code: str) -> str:
    """What a printed QR entry point encodes: the app's scanned-code screen, at this server's public origin."""
    return f"{origin.rstrip('/')}/#/qr/{code}"


def link_screen(token: str) -> str:
    """Where a card's signed link opens the app: the screen that redeems it under the reader's session."""
    return f"/#/link/{token}"


def link_refused(reason: str) -> str:
    """Where a card's link that cannot be used opens the app: a page saying why (`expired`, `invalid`)."""
    return f"/#/link-refused/{reason}"


def addressed(kind: str, about: dict) -> tuple[str, str, dict]:
    """(url, tag, data) of a notification `about` something: the screen it opens, and the tag that makes a newer
    notification about the same thing replace the older one on the phone.

    `about` holds ids: `task_id` (a task), else `work_order_id` (a work order; with `step`, several tasks of one
    step given to one person at once), else `andon_id`, else `template` and `first` (a batch of work orders
    opened together, announced once and opening the inbox). `level`, `tasks` and `work_orders` ride along in data.
    """
    task_id, work_order_id, andon_id = about.get("task_id"), about.get("work_order_id"), about.get("andon_id")
    if andon_id is not None:
        url, tag = f"/#/andon/{andon_id}", f"andon-{andon_id}"
    elif kind.startswith("work_order."):  # one tag per work order, opening the task it concerns when there is one
        url = f"/#/task/{task_id}" if task_id is not None else f"/#/wo/{work_order_id}"
        tag = f"wo-{work_order_id}"
    elif task_id is not None:
        url, tag = f"/#/task/{task_id}", (f"esc-{task_id}" if kind == "task.escalated" else f"task-{task_id}")
    elif work_order_id is not None:
        url, tag = f"/#/wo/{work_order_id}", f"wo-{work_order_id}-{about['step']}"
    else:
        url, tag = "/#/inbox", f"bulk-{about['template']}-{about['first']}"
    if kind.startswith("work_order."):
        return url, tag, {}
    data = {key: about[key] for key in _DATA_KEYS if key in about}
    if task_id is not None:
        data.pop("work_order_id", None)
        if kind == "task.offered":  # a task the reader may claim from the notification itself
            data["actions"] = ["claim", "open"]
    elif kind.startswith("task."):
        data["actions"] = ["open"]
    return url, tag, data


def buttons(data: dict, locale: str) -> list[dict]:
    """The push's buttons in the reader's language: claim and open for a task the reader may claim."""
    if "claim" not in (data.get("actions") or []):
        return []
    words = BUTTONS.get(locale) or BUTTONS["en"]
    return [{"action": "claim", "title": words["claim"]}, {"action": "open", "title": words["open"]}]


def _said(value, locale: str, zone: tzinfo, now: datetime | None, *, word: bool):
    if word:
        return (WORDS.get(locale) or WORDS["en"])[value]
    if isinstance(value, datetime):  # a time, in the reader's zone: "14:30", or "12-06 14:30" on another day
        local = value.astimezone(zone)
        same_day = now is None or now.astimezone(zone).date() == local.date()
        return local.strftime("%H:%M" if same_day else "%m-%d %H:%M")
    return "" if value is None else value


def render(kind: str, locale: str, params: dict, *, zone: tzinfo = timezone.utc, now: datetime | None = None) -> tuple[str, str]:
    """Title and body for a notification kind in the reader's language (English as fallback); times are given in
    the reader's `zone`, words in their language."""
    texts = MESSAGES[kind].get(locale) or MESSAGES[kind]["en"]
    words = WORDED.get(kind, ())
    said = {k: _said(v, locale, zone, now, word=k in words) for k, v in params.items() if k != "step_titles"}
    # The step in the reader's language where the template gives its title per language (flows.forms.step_words).
    if isinstance(params.get("step_titles"), dict) and params["step_titles"].get(locale):
        said["step"] = params["step_titles"][locale]
    return texts[0].format_map(said), texts[1].format_map(said)


#: How a due time is explained (the dry run, and the task screen once calendars exist).
DUE = {
    "en": {"none": "No SLA: not due at any time.",
           "wall": "{sla} after {start} ({zone}), counted on the wall clock.",
           "working": "{sla} of working time on the calendar “{calendar}” ({zone}) from {start}.",
           "skipped": " Not counted: {gaps}.", "more": "and {count} more", "list": "; ",
           "uncovered": " The calendar has no holiday data after {date}: every week after it is counted as usual.",
           "units": ("{} d", "{} h", "{} min", "{} s"), "join": " "},
    "zh-CN": {"none": "无时限要求。",
              "wall": "自 {start}（{zone}）起 {sla}，按自然时间计算。",
              "working": "自 {start} 起 {sla}工作时间，按日历“{calendar}”（{zone}）计算。",
              "skipped": "不计入：{gaps}。", "more": "另有 {count} 段", "list": "；",
              "uncovered": "该日历 {date} 之后没有节假日数据，之后按平常的周作息计算。",
              "units": ("{}天", "{}小时", "{}分钟", "{}秒"), "join": ""},
}
# Why a period is not counted (calendars.worktime.Gap.reason), and the names of China's public holidays
# (calendars.library keys, from the holiday library's own names).
GAP_REASONS = {
    "en": {"holiday": "holiday", "weekend": "weekend", "break": "break", "off_hours": "outside working hours"},
    "zh-CN": {"holiday": "节假日", "weekend": "休息日", "break": "午间休息", "off_hours": "非工作时间"},
}
HOLIDAY_NAMES = {
    "en": {"new_years_day": "New Year's Day", "spring_festival": "Spring Festival", "tomb_sweeping_day": "Qingming Festival",
           "labour_day": "Labour Day", "dragon_boat_festival": "Dragon Boat Festival", "national_day": "National Day",
           "mid_autumn_festival": "Mid-Autumn Festival", "anti_fascist_70th_day": "Victory Day (70th anniversary)"},
    "zh-CN": {"new_years_day": "元旦", "spring_festival": "春节", "tomb_sweeping_day": "清明节", "labour_day": "劳动节",
              "dragon_boat_festival": "端午节", "national_day": "国庆节", "mid_autumn_festival": "中秋节",
              "anti_fascist_70th_day": "抗战胜利70周年纪念日"},
}
CALENDAR_NAMES = {  # the built-in calendars by key, in each language (their stored name is the English one)
    "en": {"cn-standard": "China standard (Mon–Fri 09:00–18:00, public holidays and make-up days)"},
    "zh-CN": {"cn-standard": "中国标准工作日（周一至周五 9:00–18:00，含法定节假日与调休）"},
}
GAPS_SHOWN = 4


def calendar_name(key: str | None, name: str, locale: str) -> str:
    """A calendar's name in the reader's language: the built-in ones are translated, the others are as named."""
    return (CALENDAR_NAMES.get(locale) or CALENDAR_NAMES["en"]).get(key or "", name)


def holiday_name(key: str | None, locale: str) -> str:
    return (HOLIDAY_NAMES.get(locale) or HOLIDAY_NAMES["en"]).get(key or "", "")


def say_duration(duration: timedelta, locale: str) -> str:
    """A duration as people say it: "1 d 4 h" / "1天4小时"."""
    words = DUE.get(locale) or DUE["en"]
    seconds = int(duration.total_seconds())
    parts = [(seconds // 86400, 0), (seconds % 86400 // 3600, 1), (seconds % 3600 // 60, 2), (seconds % 60, 3)]
    said = [words["units"][unit].format(count) for count, unit in parts if count]
    return words["join"].join(said) or words["units"][3].format(0)


def due_explanation(sla: timedelta | None, start: str, zone: str, locale: str, *, calendar: str | None = None,
                    gaps: list[tuple[str, str, str, str | None]] = (), uncovered_after: str | None = None) -> str:
    """Why something is due when it is: `sla` after `start` (local time text) in `zone`, or never without an SLA.

    With a `calendar` the SLA is working time, and `gaps` are the periods not counted: (from, to, reason, holiday key).
    """
    words = DUE.get(locale) or DUE["en"]
    if sla is None:
        return words["none"]
    if calendar is None:
        return words["wall"].format(sla=say_duration(sla, locale), start=start, zone=zone)
    text = words["working"].format(sla=say_duration(sla, locale), calendar=calendar, start=start, zone=zone)
    if gaps:
        reasons = GAP_REASONS.get(locale) or GAP_REASONS["en"]
        said = [f"{begin}–{end} {holiday_name(name, locale) or reasons[reason]}" for begin, end, reason, name in gaps[:GAPS_SHOWN]]
        if len(gaps) > GAPS_SHOWN:
            said.append(words["more"].format(count=len(gaps) - GAPS_SHOWN))
        text += words["skipped"].format(gaps=words["list"].join(said))
    if uncovered_after:
        text += words["uncovered"].format(date=uncovered_after)
    return text
