"""What opening a work order writes, which tasks opening a step creates and who gets each: one planner for
every writer.

The engine opens one work order's step row by row (`engine.activate_step`); the bulk writer opens the same step
for thousands of work orders in a few set-based statements (`workorders/bulk.py`). Both ask this planner, so a
recall's task and a hand-opened one get the same instances and the same handlers, with the same stand-ins for
people who are away and the same fallback when nobody is left. Due times and timers come from
`app.flows.timing` (`due_at`, `timer_plan`), the reporting line and stand-ins from `app.org.lines`.

Pure apart from reading who is who: the planner writes nothing. It remembers every resolution it made, so
planning a step for 100,000 work orders costs the queries of its distinct assignee specs, not of its work orders.
"""
import json
from datetime import datetime
from typing import NamedTuple

from app.calendars.service import clock as calendar_clock
from app.calendars.worktime import WorkingTime
from app.flows.forms import MAX_FOR_EACH_ITEMS
from app.org.service import department_calendars
from app.workorders.models import WorkOrderStatus
from app.workorders.handlers import available_handlers_many, fallback_handlers, resolve_specs


def work_order_values(*, template, body: dict, source: str, department_id: int | None, created_by_id: int | None,
                      now: datetime) -> dict:
    """The columns of a new work order of `template` opened with `body` (title, data, refs, …), all but its
    number and due time, which the writers fill in (the engine after its steps open, the bulk writer at once)."""
    classification = template.classification or {}
    business = body.get("business") or classification.get("business") or []
    problem = body.get("problem") or classification.get("problem") or []
    return {
        "template_id": template.id, "template_key": template.key, "template_version": template.version,
        "title": body["title"][:300], "description": body.get("description") or "",
        "priority": body.get("priority") or template.priority, "status": WorkOrderStatus.OPEN.value, "source": source,
        **{f"business_{i}": business[i - 1] if len(business) >= i else None for i in (1, 2, 3)},
        **{f"problem_{i}": problem[i - 1] if len(problem) >= i else None for i in (1, 2, 3)},
        "product_sku": body.get("product_sku"), "tags": sorted(set(body.get("tags") or [])), "emotion": body.get("emotion"),
        "order_no": body.get("order_no"), "customer_ref": body.get("customer_ref"), "batch_no": body.get("batch_no"),
        "data": body.get("data") or {}, "department_id": department_id or template.owner_department_id,
        "created_by_id": created_by_id, "created_at": now, "updated_at": now, "started_at": None, "resolved_at": None,
        "cancelled_at": None, "contact_count": body.get("contact_count") or 1, "return_count": 0, "escalation_level": 0,
    }


def opened_details(template, source: str) -> dict:
    """The details of a work order's `created` event."""
    return {"template": template.key, "version": template.version, "source": source}


def step_instances(step: dict, work_order) -> list[tuple[int | None, str | None, dict | None]]:
    """(index, label, own assignee spec) for each instance of a step; one instance unless `for_each`.

    At most MAX_FOR_EACH_ITEMS: creation and completion refuse longer lists, so only a list stored before that
    rule is cut short (and the activation says so on the timeline).
    """
    if not step.get("for_each"):
        return [(None, None, None)]
    items = work_order.data.get(step["for_each"]) or []
    instances = []
    for i, item in enumerate(items[:MAX_FOR_EACH_ITEMS] if isinstance(items, list) else []):
        if isinstance(item, dict):
            label = str(item.get("label") or item.get("name") or item.get("code") or i + 1)
            instances.append((i, label[:200], item.get("assignees")))
        else:
            instances.append((i, str(item)[:200], None))
    return instances


class PlannedTask(NamedTuple):
    """A task an activation opens, as plain data: its instance, and the handlers it is offered or assigned to."""

    instance: int | None
    label: str | None
    members: list[int]
    substitutions: dict


class ActivatedTask(NamedTuple):
    """A task an activation stored."""

    id: int
    assignee_id: int | None
    members: list[int]


class ActivationPlanner:
    """Plans activations; one instance may plan many work orders and remembers what it resolved.

    A work order here is anything with `data`, `department_id` (its owning department) and `created_by_id`:
    the fallback when nobody named can take the work is that department's head, else the creator.
    """

    def __init__(self, *, now: datetime):
        self.now = now  # who is on duty (their switch and their shifts) is read at this moment
        self._named: dict[tuple, list[int]] = {}  # (spec, the data value it reads) -> the active people it names
        self._available: dict[tuple, tuple[list[int], dict]] = {}  # people named -> (handlers, stand-ins)
        self._fallback: dict[tuple, list[int]] = {}  # (department, creator) -> handlers
        self._spec_keys: dict[int, tuple[str, object]] = {}  # id(spec) -> its key text (specs are kept alive below)
        self._kept: list = []
        self._department_calendars: dict[int | None, int | None] | None = None
        self._clocks: dict[int, WorkingTime] = {}

    def clock(self, step: dict, department_id: int | None) -> WorkingTime | None:
        """The business calendar a task of `step` counts its SLA, reminder and escalations on, for a work order of
        `department_id`: the step's `sla_calendar` ("business": the department's, inherited from its parents), or
        None for the wall clock (no SLA, "24x7", or a department tree without a calendar)."""
        choice = step.get("sla_calendar")
        if not step.get("sla") or choice in (None, "24x7"):
            return None
        if choice == "business":
            if self._department_calendars is None:
                self._department_calendars = department_calendars()
            calendar_id = self._department_calendars.get(department_id)
            if calendar_id is None:
                return None
        else:
            calendar_id = choice
        if calendar_id not in self._clocks:
            self._clocks[calendar_id] = calendar_clock(calendar_id)
        return self._clocks[calendar_id]

    def plan(self, *, work_order, step: dict, only_users: list[int] | None = None) -> list[PlannedTask]:
        """The tasks activating `step` of `work_order` opens: one per instance (one per handler in `each` mode).

        `only_users` (a return to a step) offers every instance to those people instead of the step's assignees.
        Every spec not resolved before is resolved in one set-based pass, however many instances name it.
        """
        instances = step_instances(step, work_order)
        if only_users is not None:
            named = [sorted(set(only_users))] * len(instances)
        else:
            keys, missing = [], {}
            for _, _, own_spec in instances:
                spec = own_spec if own_spec else step.get("assignees")
                key = self._key(spec, work_order.data)
                keys.append(key)
                if key not in self._named:
                    missing.setdefault(key, spec)
            if missing:
                self._named.update(zip(missing, resolve_specs(list(missing.values()), work_order.data)))
            named = [self._named[key] for key in keys]
        unseen = [n for n in dict.fromkeys(tuple(n) for n in named) if n not in self._available]
        if unseen:
            self._available.update(zip(unseen, available_handlers_many([list(n) for n in unseen], self.now)))
        planned = []
        for (index, label, _), people in zip(instances, named):
            handlers, substitutions = self._available[tuple(people)]
            if not handlers:
                handlers = self._fallback_for(work_order)
                substitutions = {"fallback": handlers}
            groups = [[h] for h in handlers] if step["mode"] == "each" else [handlers]
            planned.extend(PlannedTask(index, label, members, substitutions) for members in groups)
        return planned

    def _key(self, spec, data: dict) -> tuple:
        """A spec and, when it names people from the data, the value it reads there."""
        text = self._spec_keys.get(id(spec))
        if text is None:
            text = self._spec_keys[id(spec)] = json.dumps(spec, sort_keys=True, default=str)
            self._kept.append(spec)  # ids stay unique while the spec is alive
        source = spec.get("from_data") if isinstance(spec, dict) else None
        return (text, repr(data.get(source)) if isinstance(source, str) else None)

    def _fallback_for(self, work_order) -> list[int]:
        key = (work_order.department_id, work_order.created_by_id)
        if key not in self._fallback:
            self._fallback[key] = fallback_handlers(work_order, self.now)
        return self._fallback[key]
