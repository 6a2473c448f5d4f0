"""The reporting line and the stand-ins: who acts for a person who is away, and whom an escalation reaches.

One rule, read set-based: the people a batch needs and everyone their reporting lines and delegate chains lead
to are read in one recursive query, whatever the batch's size and the lines' length. The engine finds
handlers' stand-ins through it, the fallback handler of a step nobody was found for too, and the sweep and a
lead's manual escalation reach managers through it.
"""
from datetime import datetime

import functools

from sqlalchemy import bindparam, select

from app.common.bulk import among_bound_ids, dialect
from app.common.types import UTCDateTime
from app.extensions import db
from app.org.duty import MAX_SHIFT, on_duty_at
from app.org.models import User


@functools.cache
def _reach(dialect_name: str):
    """People with everyone up their lines and down their delegate chains, and whether each is on duty at :now: built
    once per dialect (building it costs more than running it)."""
    people = User.__table__
    start = select(people.c.id, people.c.manager_id, people.c.delegate_id).where(among_bound_ids(people.c.id, "ids", dialect_name))
    reach = start.cte("reach", recursive=True)
    above = people.alias("above")
    reach = reach.union(select(above.c.id, above.c.manager_id, above.c.delegate_id).join(
        reach, (above.c.id == reach.c.manager_id) | (above.c.id == reach.c.delegate_id)))
    on_duty = on_duty_at(bindparam("now", type_=UTCDateTime()), earliest=bindparam("earliest", type_=UTCDateTime()))
    return select(User.id, User.manager_id, User.delegate_id, User.active, on_duty.label("on_duty")) \
        .where(User.id.in_(select(reach.c.id)))


class People:
    """The people a batch needs, with everyone their reporting lines and delegate chains lead to.

    Everyone's availability is read at `now` by the one rule of `app.org.duty` (their switch, and their shifts).

    - `chain(u, n)`: the reporting line above `u`, nearest first, at most `n` long (a loop in the line ends it).
    - `stand_in(u)`: `u` when active and on duty, else the first active, on-duty person down `u`'s delegate chain.
    - `manager_at_level(u, level)`: the stand-in of the manager `level` steps up; when that manager has none, the
      next one up the line; past the top of the line, the top (then up from there).
    - `managers_at_level(us, level)`: the same for work waiting on several people, counted from those of them
      who report to none of the others (`frontline`).
    """

    def __init__(self, user_ids=(), *, now: datetime):
        self.now = now  # on duty is read at this moment (shifts, app.org.duty)
        self.rows: dict[int, tuple] = {}
        # Many tasks share a reporting line: each answer is worked out once per batch.
        self.lines: dict[int, list[int]] = {}
        self.stand_ins: dict[int, int | None] = {}
        self.reached: dict[tuple[int, int], int | None] = {}
        self.add(user_ids)

    def add(self, user_ids) -> None:
        """Read `user_ids` and everyone up their reporting lines and down their delegate chains, in one recursive
        statement (UNION drops a row met twice, so a loop in a line ends the walk)."""
        wanted = {u for u in user_ids if u and u not in self.rows}
        if not wanted:
            return
        for row in db.session.execute(_reach(dialect()), {
            "ids": list(wanted), "now": self.now, "earliest": self.now - MAX_SHIFT,
        }):
            self.rows.setdefault(row.id, row)

    def exists(self, user_id: int) -> bool:
        return user_id in self.rows

    def available(self, user_id: int) -> bool:
        row = self.rows.get(user_id)
        return row is not None and row.active and row.on_duty

    def chain(self, user_id: int, levels: int) -> list[int]:
        """The reporting line above a user, nearest first."""
        if user_id not in self.lines:
            line, seen = [], {user_id}
            user = self.rows.get(user_id)
            while user is not None and user.manager_id:
                if user.manager_id in seen:
                    break
                user = self.rows.get(user.manager_id)
                if user is None:
                    break
                seen.add(user.id)
                line.append(user.id)
            self.lines[user_id] = line
        return self.lines[user_id][:levels]

    def stand_in(self, user_id: int) -> int | None:
        """The person themselves when on duty, else the first available delegate down their chain; None if nobody."""
        if user_id not in self.stand_ins:
            seen, found = set(), None
            node = self.rows.get(user_id)
            while node is not None and node.id not in seen:
                if node.active and node.on_duty:
                    found = node.id
                    break
                seen.add(node.id)
                node = self.rows.get(node.delegate_id) if node.delegate_id else None
            self.stand_ins[user_id] = found
        return self.stand_ins[user_id]

    def manager_at_level(self, user_id: int, level: int) -> int | None:
        """Whom one person's escalation at `level` reaches: the manager that many steps up, or the top of the line."""
        key = (user_id, level)
        if key not in self.reached:
            chain = self.chain(user_id, level + 10)
            target = None
            for manager in (chain[level - 1:] if len(chain) >= level else chain[-1:]):
                target = self.stand_in(manager)
                if target is not None:
                    break
            self.reached[key] = target
        return self.reached[key]

    def frontline(self, user_ids: list[int]) -> list[int]:
        """Those of `user_ids` nobody else among them reports to, directly or not, in the same order.

        Work offered to a warehouse's staff and to its lead (who also picks) waits on the staff: counting an
        escalation's levels from the lead too would reach a level above the one meant (level 2 at the general
        manager instead of the operations manager)."""
        people = set(user_ids)
        above = {m for u in people for m in self.chain(u, len(self.rows))}
        below = [u for u in user_ids if u not in above]
        return below or list(user_ids)  # a loop in the line: everyone is above someone

    def managers_at_level(self, user_ids: list[int], level: int) -> list[int]:
        """Ids of whom an escalation at `level` of work waiting on `user_ids` reaches, in their order: the manager
        that many steps up from each of them who reports to none of the others (`frontline`)."""
        reached: dict[int, None] = {}
        for user_id in self.frontline(user_ids):
            target = self.manager_at_level(user_id, level)
            if target is not None:
                reached[target] = None
        return list(reached)
