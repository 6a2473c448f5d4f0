"""Handing out pool offers (docs/design.md §16): round robin, least loaded and capacity, decided in one place.

A `pool` step may hand its offer out instead of waiting for a claim: `round_robin` gives it to its candidates in
turn, `least_loaded` to the candidate with the fewest open tasks (claimed and not completed), of equals to the one
a dispatch of the template has not given a task for longest. Only candidates who are active and on duty are given
work. With a `capacity`, nobody is given more than that many open tasks of the template (any version); an offer
nobody has room for waits in the pool and is handed out as soon as someone has room. Offers go out by urgency
(priority, then due time), then first come, first served.

Three writers use this rule: the engine (a step of one work order opens), the bulk writer (a recall opens
thousands) and the hand-out job (`app.workorders.handout`: offers that waited). Each decides through a `Desk`:

- the desk first locks the template's `dispatch_pointers` row (one upsert that also reads the round-robin
  pointers), so decisions about one template's load are taken one after another: two work orders created at
  once cannot both give the 20th task to the same person;
- it reads the candidates' availability, open load, open load of this template and last turn in one query
  (the counts from the index `ix_tasks_assignee_status` (assignee, status, template), turns by primary key);
- it decides in memory, so a batch of decisions costs that one query, and `assign` writes them set-based.

Lock order: a writer holds its work order before it asks the desk (creation, completion, a claim); the job
takes the desk first and then only work orders nobody holds (SKIP LOCKED), so neither ever waits on the other.
"""
from bisect import bisect_right
from datetime import datetime
from heapq import heapify, heappop, heappush, heapreplace
from typing import NamedTuple

from sqlalchemy import Float, Integer, any_, bindparam, case, func, select, text, update

from app.common.bulk import IdArray, among_ids, chunks, dialect, insert_rows, rows_table, upsert
from app.extensions import db
from app.org.duty import on_duty_at
from app.org.models import User
from app.workorders.models import DispatchPointer, DispatchTurn, Task, TaskCandidate, TaskStatus, TimelineEvent
from app.workorders.timers import working_seconds

HANDED_OUT = ("round_robin", "least_loaded")
_TASK = Task.__table__
_POINTER = DispatchPointer.__table__
_TURN = DispatchTurn.__table__
# A dispatched offer nobody holds, written as the partial index `ix_tasks_dispatch_waiting` states it, so the
# database can prove the index covers the query.
WAITING = text("tasks.dispatch IS NOT NULL AND tasks.status = 'open' AND tasks.assignee_id IS NULL")


def dispatch_of(step: dict) -> str | None:
    """How a step's offers are handed out: "round_robin" or "least_loaded"; None when by claim."""
    how = step.get("dispatch")
    return how if how in HANDED_OUT and step.get("mode") == "pool" else None


class Offer(NamedTuple):
    """A pool offer to hand out, as plain data: the task, its step's rule, its candidates and its urgency."""

    task_id: int
    work_order_id: int
    step: str
    how: str
    capacity: int | None
    candidates: tuple[int, ...]
    priority: str
    due_at: datetime | None
    created_at: datetime
    calendar_id: int | None
    number: str
    title: str
    step_title: str
    not_to: int | None = None  # who gave it back: it is not handed straight back to them


def urgency(offer) -> tuple:
    """Most urgent first: priority (P1 first), then due time (none last), then first come, first served."""
    return (offer.priority, offer.due_at is None, offer.due_at or offer.created_at, offer.created_at, offer.task_id)


class _Seat:
    __slots__ = ("available", "load", "kind", "turn")

    def __init__(self, available: bool, load: int, kind: int, turn: tuple):
        self.available, self.load, self.kind, self.turn = available, load, kind, turn


_NEVER = (0, None, 0)  # a person never given a task of the template has waited longest


def _lock(template_key: str, now: datetime) -> dict:
    """Take the template's pointer row for this transaction (created on first use) and answer its pointers."""
    stmt = upsert(_POINTER).values(template_key=template_key, last_given={}, updated_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["template_key"], set_={"updated_at": stmt.excluded.updated_at})
    return dict(db.session.execute(stmt.returning(_POINTER.c.last_given)).scalar_one() or {})


class Desk:
    """One template's dispatch within one transaction: locked on creation, people read once, decisions in memory.

    `choose` decides one offer; `save` writes the round-robin pointers and the turns the decisions took.
    """

    def __init__(self, template_key: str, now: datetime):
        self.template_key = template_key
        self.now = now
        self.last_given = _lock(template_key, now)
        self._start = dict(self.last_given)
        self._seats: dict[int, _Seat] = {}
        self._pools: dict[tuple, tuple[list[int], list]] = {}
        self._given: dict[int, None] = {}
        self._sequence = 0

    def _read(self, users) -> None:
        seats = self._seats
        missing = [u for u in dict.fromkeys(users) if u not in seats]
        # PostgreSQL takes the ids as one array however many; SQLite's parameters are counted.
        for part in (chunks(missing) if dialect() != "postgresql" else [missing] if missing else []):
            rows = db.session.execute(_seats_query(self.template_key, self.now), {"people": part}).all()
            for user_id, available, load, kind, given_at in rows:
                seats[user_id] = _Seat(bool(available), load or 0, kind or 0, (1, given_at, 0) if given_at else _NEVER)
            for user_id in part:
                if user_id not in seats:
                    seats[user_id] = _Seat(False, 0, 0, _NEVER)  # no such person

    def has_room(self, user_id: int, capacity: int | None) -> bool:
        """Whether `user_id` may hold one more open task of the template under `capacity`."""
        self._read([user_id])
        return capacity is None or self._seats[user_id].kind < capacity

    def choose(self, offer: Offer) -> int | None:
        """Who gets `offer`, by its step's rule; None when no candidate on duty has room (it waits in the pool).

        round_robin: the first candidate (by id) after the one the step last gave a task to, going round; least_loaded:
        the fewest open tasks, then the longest wait since a task of the template, then the lowest id. Either way only
        people on duty below the capacity, and never the one who gave this task back.
        """
        people, heap = self._pool(offer)
        if offer.how == "round_robin":
            last = self.last_given.get(offer.step)
            start = 0 if last is None else bisect_right(people, last)
            chosen = next((u for u in people[start:] + people[:start] if u != offer.not_to and self._fits(u, offer.capacity)), None)
        else:
            chosen, passed = None, []
            while heap:
                load, turn, user_id = heap[0]
                seat = self._seats[user_id]
                if (load, turn) != (seat.load, seat.turn):  # given a task since it was queued: queue it as it is now
                    heapreplace(heap, (seat.load, seat.turn, user_id))
                elif not self._fits(user_id, offer.capacity):
                    heappop(heap)  # full: within this desk a person's load only grows
                elif user_id == offer.not_to:
                    passed.append(heappop(heap))
                else:
                    chosen = user_id
                    break
            for entry in passed:
                heappush(heap, entry)
        if chosen is not None:
            self.given(chosen, offer.step if offer.how == "round_robin" else None)
        return chosen

    def _fits(self, user_id: int, capacity: int | None) -> bool:
        seat = self._seats[user_id]
        return seat.available and (capacity is None or seat.kind < capacity)

    def _pool(self, offer: Offer) -> tuple[list[int], list]:
        """The offer's candidates in id order, and a heap of those on duty by (load, turn, id): built once per
        candidate set and capacity, so a batch of offers to the same people costs one read and a heap operation each."""
        key = (offer.candidates, offer.capacity)
        pool = self._pools.get(key)
        if pool is None:
            people = sorted(set(offer.candidates))
            self._read(people)
            heap = [(self._seats[u].load, self._seats[u].turn, u) for u in people if self._fits(u, offer.capacity)]
            heapify(heap)
            pool = self._pools[key] = (people, heap)
        return pool

    def given(self, user_id: int, step: str | None) -> None:
        """Count a task given to `user_id` in their load and turn; `step`: the round robin whose turn moves to them
        (None: least_loaded, or their own claim)."""
        self._read([user_id])
        seat = self._seats[user_id]
        seat.load += 1
        seat.kind += 1
        self._sequence += 1
        seat.turn = (1, self.now, self._sequence)
        if step is not None:
            self.last_given[step] = user_id
        self._given[user_id] = None

    def save(self) -> None:
        """Write what the decisions changed: the round-robin pointers, and when each person was last given a task."""
        if self.last_given != self._start:
            db.session.execute(update(_POINTER).where(_POINTER.c.template_key == self.template_key)
                               .values(last_given=self.last_given))
        if self._given:
            stmt = upsert(_TURN)
            db.session.execute(stmt.on_conflict_do_update(index_elements=["template_key", "user_id"],
                                                          set_={"given_at": stmt.excluded.given_at}),
                               [{"template_key": self.template_key, "user_id": u, "given_at": self.now} for u in self._given])
        self._start, self._given = dict(self.last_given), {}


def _people(column):
    """`column` among the ids of the parameter `people`: one array on PostgreSQL, an expanded list on SQLite."""
    if dialect() == "postgresql":
        return column == any_(bindparam("people", type_=IdArray()))
    return column.in_(bindparam("people", expanding=True))


def _seats_query(template_key: str, now: datetime):
    """Each of the ids in `people`: on duty at `now` or not (their switch and shifts, `app.org.duty`), open load, open load of the template, last turn (one statement,
    the counts from the index on (assignee, status, template) alone)."""
    users = User.__table__
    load = (select(_TASK.c.assignee_id.label("user_id"), func.count().label("load"),
                   func.sum(case((_TASK.c.template_key == template_key, 1), else_=0)).label("kind"))
            .where(_people(_TASK.c.assignee_id), _TASK.c.status == TaskStatus.CLAIMED.value)
            .group_by(_TASK.c.assignee_id).subquery())
    return (select(users.c.id, users.c.active & on_duty_at(now, users), load.c.load, load.c.kind, _TURN.c.given_at).select_from(users)
            .outerjoin(load, load.c.user_id == users.c.id)
            .outerjoin(_TURN, (_TURN.c.template_key == template_key) & (_TURN.c.user_id == users.c.id))
            .where(_people(users.c.id)))


def decide(desk: Desk, offers: list[Offer]) -> list[tuple[Offer, int]]:
    """Hand out `offers` in order of urgency; answers (offer, person) for those someone had room for."""
    decisions = []
    for offer in sorted(offers, key=urgency):
        chosen = desk.choose(offer)
        if chosen is not None:
            decisions.append((offer, chosen))
    desk.save()
    return decisions


def waiting_ahead(template_key: str, step: str, new_ids: list[int]) -> tuple | None:
    """The urgency of the step's most urgent offer already waiting (other than `new_ids`), None when none waits.

    A new offer behind it waits its turn too: the hand-out job gives the waiting ones out in order first.
    """
    row = db.session.execute(
        select(_TASK.c.priority, _TASK.c.due_at, _TASK.c.created_at, _TASK.c.id)
        .where(_TASK.c.template_key == template_key, _TASK.c.step == step, WAITING, ~among_ids(_TASK.c.id, new_ids))
        .order_by(_TASK.c.priority, _TASK.c.due_at.is_(None), _TASK.c.due_at, _TASK.c.created_at, _TASK.c.id).limit(1)
    ).first()
    if row is None:
        return None
    priority, due_at, created_at, task_id = row
    return (priority, due_at is None, due_at or created_at, created_at, task_id)


def hand_out_new(*, template_key: str, step: str, offers: list[Offer], now: datetime,
                 actor_id: int | None) -> tuple[list[tuple[Offer, int]], list[dict]]:
    """Hand out the offers a step just opened (the engine's and the bulk writer's); answers the decisions written
    and the notifications telling each person. Offers behind one already waiting stay in the pool for the job."""
    if not offers:
        return [], []
    desk = Desk(template_key, now)
    head = waiting_ahead(template_key, step, [o.task_id for o in offers])
    decisions = decide(desk, [o for o in offers if head is None or urgency(o) < head])
    return assign(decisions, now=now, actor_id=actor_id), assigned_notices(decisions, template_key)


def assign(decisions: list[tuple[Offer, int]], *, now: datetime, actor_id: int | None) -> list[tuple[Offer, int]]:
    """Write decisions set-based: each task claimed by its person if it is still an open offer nobody holds (so it is
    given once, whatever runs at once), off the candidates' inboxes, and `assigned` on its timeline. Answers the
    decisions written; the caller starts the work orders and sends the notifications."""
    if not decisions:
        return []
    rows = [{"id": o.task_id, "user_id": u, "seconds": working_seconds(o.calendar_id, o.created_at, now)}
            for o, u in decisions]
    given = rows_table(rows, id=Integer, user_id=Integer, seconds=Float)
    taken = set(db.session.scalars(
        update(_TASK).where(_TASK.c.id == given.c.id, _TASK.c.status == TaskStatus.OPEN.value, _TASK.c.assignee_id.is_(None))
        .values(status=TaskStatus.CLAIMED.value, assignee_id=given.c.user_id, claimed_at=now, claimed_effective_at=now,
                claim_working_seconds=given.c.seconds, version=_TASK.c.version + 1)
        .returning(_TASK.c.id)))
    written = [(o, u) for o, u in decisions if o.task_id in taken]
    if not written:
        return []
    db.session.execute(update(TaskCandidate.__table__).where(among_ids(TaskCandidate.__table__.c.task_id, taken))
                       .values(is_open=False))
    insert_rows(TimelineEvent.__table__, [
        {"work_order_id": o.work_order_id, "task_id": o.task_id,
         "details": {"step": o.step, "to_user": u, "dispatch": o.how, "capacity": o.capacity}}
        for o, u in written], kind="assigned", actor_id=actor_id, at=now, occurred_at=None)
    return written


def assigned_notices(decisions: list[tuple[Offer, int]], template_key: str) -> list[dict]:
    """`task.assigned` for each person given work: one per task, or one for all a person was given at once."""
    by_person: dict[int, list[Offer]] = {}
    for offer, user_id in decisions:
        by_person.setdefault(user_id, []).append(offer)
    requests = []
    for user_id, offers in by_person.items():
        first = offers[0]
        if len(offers) == 1:
            requests.append({"user_ids": [user_id], "kind": "task.assigned", "priority": first.priority,
                             "params": {"number": first.number, "step": first.step_title, "title": first.title},
                             "about": {"task_id": first.task_id}})
            continue
        urgent = min(o.priority for o in offers)
        numbers = sorted({o.number for o in offers})
        if len(numbers) == 1:  # several instances of one work order's step
            about = {"work_order_id": first.work_order_id, "step": first.step, "tasks": len(offers)}
            span = numbers[0]
        else:
            about = {"template": template_key, "first": numbers[0], "work_orders": len(numbers), "tasks": len(offers)}
            span = f"{numbers[0]} … {numbers[-1]}"
        requests.append({"user_ids": [user_id], "kind": "task.assigned", "priority": urgent, "about": about,
                         "params": {"number": span, "step": first.step_title, "title": f"{first.title} ×{len(offers)}"}})
    return requests
