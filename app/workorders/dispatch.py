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
- the loads are rows the database keeps (`app.workorders.loads`): `person_loads` (open tasks of any template) and
  `dispatch_seats` (per template: open tasks of it, a copy of the open load, the last turn). A small candidate set
  is read whole by primary key; a big one (more than `WALK_FROM`) is walked in the decision's own order, through
  the index (template, load, turn, person) for least loaded and (template, person) for round robin, a few seats at
  a time, only as far as the first candidates on duty with room: a decision among 10,000 candidates reads a
  handful of rows. A big set is seated once (every member given a seat of the template; `dispatch_pointers.seated`
  remembers it), so the walk misses nobody; sets no template remembers are dropped by `prune_sets`;
- it decides in memory, so a batch of decisions costs a few reads, and `assign` writes them set-based.

Lock order: a writer holds its work order before it asks the desk (creation, completion, a claim); the job
takes the desk first and then only work orders nobody holds (SKIP LOCKED), so neither ever waits on the other. The
load rows are written only when a transaction commits (PostgreSQL), people in id order.
"""
import hashlib
from array import array
from bisect import bisect_right
from datetime import datetime, timezone
from heapq import heapify, heappop, heappush, heapreplace
from typing import NamedTuple

from sqlalchemy import Float, Integer, any_, bindparam, delete, exists, func, insert, literal, select, text, tuple_, update

from app.common.bulk import IdArray, among_bound_ids, among_ids, chunks, dialect, in_list, insert_rows, rows_table, upsert
from app.extensions import db
from app.org.duty import on_duty_at
from app.org.models import User
from app.workorders.models import (DispatchPointer, DispatchSeat, DispatchSet, PersonLoad, Task, TaskCandidate, TaskLoadChange,
                                   TaskStatus, TimelineEvent)
from app.workorders.timers import working_seconds

HANDED_OUT = ("round_robin", "least_loaded")
_TASK = Task.__table__
_POINTER = DispatchPointer.__table__
_SEAT = DispatchSeat.__table__
_SET = DispatchSet.__table__
_PERSON = PersonLoad.__table__
_CHANGE = TaskLoadChange.__table__
_USERS = User.__table__
# A dispatched offer nobody holds, written as the partial index `ix_tasks_dispatch_waiting` states it, so the
# database can prove the index covers the query.
WAITING = text("tasks.dispatch IS NOT NULL AND tasks.status = 'open' AND tasks.assignee_id IS NULL")
NEVER_GIVEN = datetime(1970, 1, 1, tzinfo=timezone.utc)  # a seat's given_at before any turn (app.workorders.loads)
WALK_FROM = 200  # candidate sets bigger than this are walked through the index instead of read whole
FIRST_PAGE, LAST_PAGE = 16, 1024  # seats per read of a walk: doubling from the first to the last
SEATED_KEPT = 64  # candidate sets a template remembers as seated


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


def _turn(given_at: datetime | None) -> tuple:
    return _NEVER if given_at is None or given_at <= NEVER_GIVEN else (1, given_at, 0)


class _Pool:
    """One candidate set (and capacity) within a desk: its members in id order and a heap of those who may be given
    work, by (load, turn, id). A walked pool holds only the seats read so far, up to `frontier`, the (load, given_at,
    id) of the last seat read: every seat not read yet comes after it."""

    __slots__ = ("people", "heap", "walk", "seen", "frontier", "done", "page")

    def __init__(self, people: list[int], heap: list, walk: str | None):
        self.people, self.heap, self.walk = people, heap, walk  # walk: the set's digest when walked
        self.seen: set[int] = {u for _, _, u in heap}
        self.frontier: tuple | None = None
        self.done = not walk
        self.page = FIRST_PAGE


def _lock(template_key: str, now: datetime) -> tuple[dict, list]:
    """Take the template's pointer row for this transaction (created on first use); answer its pointers and seated sets."""
    stmt = upsert(_POINTER).values(template_key=template_key, last_given={}, seated=[], updated_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["template_key"], set_={"updated_at": stmt.excluded.updated_at})
    last_given, seated = db.session.execute(stmt.returning(_POINTER.c.last_given, _POINTER.c.seated)).one()
    return dict(last_given or {}), list(seated or [])


def own_changes(template_key: str) -> dict[int, list]:
    """This transaction's changes of people's loads not applied to the rows yet (PostgreSQL applies them when it
    commits): per person, [open load, load of the template, last turn of the template]. Usually none."""
    if dialect() != "postgresql":
        return {}  # SQLite applies them at once
    rows = db.session.execute(
        select(_CHANGE.c.user_id, func.sum(_CHANGE.c.delta), func.sum(_CHANGE.c.delta).filter(_CHANGE.c.template_key == template_key),
               func.max(_CHANGE.c.given_at).filter(_CHANGE.c.template_key == template_key))
        .where(_CHANGE.c.txid == func.txid_current()).group_by(_CHANGE.c.user_id)).all()
    return {u: [load or 0, kind or 0, given_at] for u, load, kind, given_at in rows}


class Desk:
    """One template's dispatch within one transaction: locked on creation, people read as needed, decisions in memory.

    `choose` decides one offer; `save` records the round-robin pointers and the turns the decisions took.
    """

    def __init__(self, template_key: str, now: datetime):
        self.template_key = template_key
        self.now = now
        self.last_given, self.seated = _lock(template_key, now)
        self._start = dict(self.last_given)
        self._seated_start = list(self.seated)
        self._pending = own_changes(template_key)
        self._seats: dict[int, _Seat] = {}
        self._pools: dict[tuple, _Pool] = {}
        self._given: dict[int, None] = {}
        self._sequence = 0

    def _seat(self, user_id: int, available, load, kind, given_at) -> _Seat:
        pending = self._pending.get(user_id)
        if pending is not None:
            load, kind = (load or 0) + pending[0], (kind or 0) + pending[1]
            given_at = max(given_at or NEVER_GIVEN, pending[2] or NEVER_GIVEN)
        seat = self._seats[user_id] = _Seat(bool(available), load or 0, kind or 0, _turn(given_at))
        return seat

    def _read(self, users) -> None:
        """Read the seats of `users` not read yet, by primary key."""
        seats = self._seats
        missing = [u for u in dict.fromkeys(users) if u not in seats]
        # PostgreSQL takes the ids as one array however many; SQLite's parameters are counted.
        for part in (chunks(missing) if dialect() != "postgresql" else [missing] if missing else []):
            for user_id, available, load, kind, given_at in db.session.execute(_seats_query(self.template_key, self.now),
                                                                               {"people": part}):
                self._seat(user_id, available, load, kind, given_at)
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
        pool = self._pool(offer)
        if offer.how == "round_robin":
            chosen = self._in_turn(pool, offer)
        else:
            chosen = self._least_loaded(pool, offer)
        if chosen is not None:
            self.given(chosen, offer.step if offer.how == "round_robin" else None)
        return chosen

    def _in_turn(self, pool: _Pool, offer: Offer) -> int | None:
        last = self.last_given.get(offer.step)
        fits = lambda u: u != offer.not_to and self._fits(u, offer.capacity)  # noqa: E731
        if not pool.walk:
            people = pool.people
            start = 0 if last is None else bisect_right(people, last)
            return next((u for u in people[start:] + people[:start] if fits(u)), None)
        # Walked: the seats after the last one given, in id order, then from the first up to it.
        for after, upto in ((last, None), (None, last)) if last is not None else ((None, None),):
            page = FIRST_PAGE
            while True:
                found = self._walk_in_turn(pool, offer.capacity, after, upto, page)
                chosen = next((u for u in found if fits(u)), None)
                if chosen is not None:
                    return chosen
                if len(found) < page:
                    break
                after, page = found[-1], min(2 * page, LAST_PAGE)
        return None

    def _least_loaded(self, pool: _Pool, offer: Offer) -> int | None:
        heap, chosen, passed = pool.heap, None, []
        while True:
            # A walked pool reads on while the best it holds may come after a seat not read yet.
            if not pool.done and (pool.frontier is None or not heap or heap[0] > pool.frontier[0]):
                self._walk_by_load(pool, offer.capacity)
                continue
            if not heap:
                break
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
        return chosen

    def _fits(self, user_id: int, capacity: int | None) -> bool:
        seat = self._seats[user_id]
        return seat.available and (capacity is None or seat.kind < capacity)

    def _pool(self, offer: Offer) -> _Pool:
        """The offer's candidate set in id order and a heap of those on duty with room, by (load, turn, id): built once
        per candidate set and capacity, so a batch of offers to the same people costs a few reads and a heap operation
        each. A big set is walked: only the seats of people changed in this transaction are read now."""
        key = (offer.candidates, offer.capacity)
        pool = self._pools.get(key)
        if pool is None:
            people = sorted(set(offer.candidates))
            walk = self._walkable(people)
            ahead = [u for u in people if u in self._pending or u in self._seats] if walk else people
            self._read(ahead)
            heap = [(self._seats[u].load, self._seats[u].turn, u) for u in ahead if self._fits(u, offer.capacity)]
            heapify(heap)
            pool = self._pools[key] = _Pool(people, heap, walk)
            if walk:
                pool.seen.update(ahead)
        return pool

    def _walkable(self, people: list[int]) -> str | None:
        """The digest of a candidate set walked through the index (big enough, stored and seated), None when it is
        read whole."""
        if len(people) <= WALK_FROM or (dialect() != "postgresql" and len(people) > 30_000):
            return None
        digest = hashlib.sha1(array("q", people).tobytes()).hexdigest()[:24]
        if digest in self.seated:
            return digest
        if not _seat_everyone(self.template_key, people, digest):
            return None
        self.seated = [digest] + [d for d in self.seated if d != digest][:SEATED_KEPT - 1]
        return digest

    def _walk_by_load(self, pool: _Pool, capacity: int | None) -> None:
        """Read the next page of the pool's seats in least-loaded order (only people on duty below the capacity)."""
        seat = _SEAT.c
        stmt = _walk(self.template_key, self.now, pool.walk, capacity).order_by(seat.load, seat.given_at, seat.user_id)
        if pool.frontier is not None:
            stmt = stmt.where(tuple_(seat.load, seat.given_at, seat.user_id) > tuple_(*[literal(v, t) for v, t in zip(
                pool.frontier[1], (Integer(), _SEAT.c.given_at.type, Integer()))]))
        rows = db.session.execute(stmt.limit(pool.page)).all()
        for user_id, load, kind, given_at in rows:
            if user_id in pool.seen:
                continue
            pool.seen.add(user_id)
            known = self._seats.get(user_id) or self._seat(user_id, True, load, kind, given_at)
            if self._fits(user_id, capacity):
                heappush(pool.heap, (known.load, known.turn, user_id))
        if len(rows) < pool.page:
            pool.done = True
        else:
            user_id, load, _, given_at = rows[-1]
            pool.frontier = ((load, _turn(given_at), user_id), (load, given_at, user_id))
            pool.page = min(2 * pool.page, LAST_PAGE)

    def _walk_in_turn(self, pool: _Pool, capacity: int | None, after: int | None, upto: int | None, page: int) -> list[int]:
        """The pool's seats after `after` up to `upto`, in id order, of people on duty below the capacity (and of people
        whose load changed in this transaction, judged in memory)."""
        seat = _SEAT.c
        stmt = _walk(self.template_key, self.now, pool.walk, capacity, also=list(self._pending)).order_by(seat.user_id)
        if after is not None:
            stmt = stmt.where(seat.user_id > after)
        if upto is not None:
            stmt = stmt.where(seat.user_id <= upto)
        found = []
        for user_id, load, kind, given_at in db.session.execute(stmt.limit(page)):
            if user_id not in self._seats:
                self._seat(user_id, True, load, kind, given_at)
            found.append(user_id)
        return found

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
        """Record what the decisions changed: the round-robin pointers and seated sets, and when each person was last
        given a task (a change row: the seat takes it with the loads, at commit on PostgreSQL)."""
        if self.last_given != self._start or self.seated != self._seated_start:
            db.session.execute(update(_POINTER).where(_POINTER.c.template_key == self.template_key)
                               .values(last_given=self.last_given, seated=self.seated))
        if self._given:
            txid = func.txid_current() if dialect() == "postgresql" else literal(0)
            db.session.execute(insert(_CHANGE).values(txid=txid), [
                {"template_key": self.template_key, "user_id": u, "delta": 0, "given_at": self.now} for u in self._given])
        self._start, self._seated_start, self._given = dict(self.last_given), list(self.seated), {}


def _seats_query(template_key: str, now: datetime):
    """Each of the ids in `people`: on duty at `now` or not (their switch and shifts, `app.org.duty`), open load, open
    load of the template, last turn (one statement, by primary keys)."""
    return (select(_USERS.c.id, _USERS.c.active & on_duty_at(now, _USERS), _PERSON.c.open, _SEAT.c.held, _SEAT.c.given_at)
            .select_from(_USERS)
            .outerjoin(_PERSON, _PERSON.c.user_id == _USERS.c.id)
            .outerjoin(_SEAT, (_SEAT.c.template_key == template_key) & (_SEAT.c.user_id == _USERS.c.id))
            .where(among_bound_ids(_USERS.c.id, "people", dialect())))


def _walk(template_key: str, now: datetime, digest: str, capacity: int | None, also: list[int] = ()):
    """The template's seats of the members of the stored set `digest` who are active, on duty at `now` and below
    `capacity` (or among `also`), as (user, load, load of the template, last turn); the caller orders and limits it,
    and the seats are read in that order through the index. Membership is a probe of `dispatch_sets` per seat read."""
    eligible = _USERS.c.active & on_duty_at(now, _USERS)
    if capacity is not None:
        room = _SEAT.c.held < capacity
        eligible = eligible & (room | among_ids(_SEAT.c.user_id, also) if also else room)
    # OFFSET 0 keeps the probe a probe: PostgreSQL does not turn it into a join it might drive from the set (and read
    # all of it) on statistics that know nothing of a set stored a moment ago.
    member = exists(select(1).where(_SET.c.digest == digest, _SET.c.user_id == _SEAT.c.user_id).offset(0))
    return (select(_SEAT.c.user_id, _SEAT.c.load, _SEAT.c.held, _SEAT.c.given_at)
            .join(_USERS, _USERS.c.id == _SEAT.c.user_id)
            .where(_SEAT.c.template_key == template_key, member, eligible))


def prune_sets() -> int:
    """Drop the stored candidate sets no template remembers as seated (`dispatch_pointers.seated` keeps the last
    SEATED_KEPT of each; a set seated by a transaction that then rolled back is remembered by none); answers how many.

    A desk stores a new set in a transaction of its own, committed at once, and names it in its pointer row only when
    its own transaction commits. On PostgreSQL the pointers are therefore locked against change while this runs
    (`SHARE ROW EXCLUSIVE`: desks wait for the moment it takes, readers do not), which also waits for every desk
    holding one: a set being seated is never taken for garbage. Commits."""
    if dialect() == "postgresql":
        db.session.execute(text("LOCK TABLE dispatch_pointers IN SHARE ROW EXCLUSIVE MODE"))
    remembered = {digest for (seated,) in db.session.execute(select(_POINTER.c.seated)) for digest in seated or []}
    gone = sorted(set(db.session.scalars(select(_SET.c.digest).distinct())) - remembered)
    for batch in chunks(gone):
        db.session.execute(delete(_SET).where(in_list(_SET.c.digest, batch)))
    db.session.commit()
    return len(gone)


def _seat_everyone(template_key: str, people: list[int], digest: str) -> bool:
    """Store the set under `digest` and give every one of `people` a seat of the template (held 0, never given:
    whoever holds a task of it has one already), so walks in the template's order miss nobody.

    On PostgreSQL in a transaction of its own, committed at once, which takes the people's load rows in id order
    (a seat's copy of the load then cannot miss a change committing meanwhile): it holds nothing a commit applying
    loads waits on for long, and waits on nothing this transaction holds. Answers whether every person of the set
    has a seat now (someone created in this very transaction cannot be seen there: the set is then read whole)."""
    never = literal(NEVER_GIVEN, _SEAT.c.given_at.type)
    if dialect() == "postgresql":
        ids = bindparam("people", people, type_=IdArray())
        chosen = _USERS.c.id == any_(ids)
        with db.engine.connect() as conn:
            _fill_set(conn, template_key, digest, chosen, never, lock=True)
            conn.commit()
    else:
        _fill_set(db.session, template_key, digest, _USERS.c.id.in_(people), never, lock=False)
    members = db.session.scalar(select(func.count()).select_from(_SET).where(_SET.c.digest == digest))
    seated = db.session.scalar(select(func.count()).select_from(_SET).join(
        _SEAT, (_SEAT.c.template_key == template_key) & (_SEAT.c.user_id == _SET.c.user_id)).where(_SET.c.digest == digest))
    return members == seated and members > 0


def _fill_set(conn, template_key: str, digest: str, chosen, never, lock: bool) -> None:
    conn.execute(upsert(_SET).from_select(["digest", "user_id"], select(literal(digest), _USERS.c.id).where(chosen))
                 .on_conflict_do_nothing())
    conn.execute(upsert(_PERSON).from_select(["user_id", "open"], select(_USERS.c.id, literal(0)).where(chosen).order_by(_USERS.c.id))
                 .on_conflict_do_nothing())
    members = select(_SET.c.user_id).where(_SET.c.digest == digest)
    if lock:
        conn.execute(select(func.count()).select_from(
            select(_PERSON.c.user_id).where(_PERSON.c.user_id.in_(members)).order_by(_PERSON.c.user_id)
            .with_for_update(read=True).subquery()))
    conn.execute(upsert(_SEAT).from_select(
        ["template_key", "user_id", "held", "load", "given_at"],
        select(literal(template_key), _PERSON.c.user_id, literal(0), _PERSON.c.open, never)
        .where(_PERSON.c.user_id.in_(members)).order_by(_PERSON.c.user_id))
        .on_conflict_do_nothing())


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
