"""Notification texts in each supported language."""

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
}


def render(kind: str, locale: str, params: dict) -> tuple[str, str]:
    """Title and body for a notification kind in the user's language (English as fallback)."""
    texts = MESSAGES[kind].get(locale) or MESSAGES[kind]["en"]
    if None in params.values():
        params = {k: ("" if v is None else v) for k, v in params.items()}
    return texts[0].format_map(params), texts[1].format_map(params)
