"""Open loads kept by the database (docs/design.md §16): `person_loads` and `dispatch_seats`, exact in every transaction.

A person's open load is the number of tasks they hold claimed and not completed; their load of a template, the same
for that template's tasks. Dispatch orders candidates by them, so they are kept as rows instead of being counted for
every decision: least loaded then reads a template's seats in their own order through `ix_dispatch_seats_order`
and stops at the first candidates on duty with room, instead of counting the open tasks of everyone.

Triggers on `tasks` keep them, so every writer does without remembering to: the ORM, set-based Core updates, raw
SQL, the bulk writer, hand-backs, transfers. A task counts while `status = 'claimed'` and `assignee_id` is set;
each insert, update of its status, holder or template, and delete that changes that writes a change row (-1 for
the old holder and template, +1 for the new) to `task_load_changes`. The desk writes a change row too when it gives
someone a turn (`given_at`). The change rows are then applied:

- PostgreSQL: by a deferred constraint trigger, when the transaction commits. The first one to fire applies all of
  the transaction's changes in one go, people in id order: a person's row is locked only at commit and always in
  the same order, so two transactions that change the loads of the same people (a completion that hands the next
  step to someone, a bulk hand-out, a transfer) never wait on each other in a circle. Until the commit the
  transaction's own changes are still rows, which the desk reads and adds (`own_changes`). One change alone (a
  claim, a completion) is applied by three plain statements instead of the set-based ones; both functions plan their
  statements once (`plan_cache_mode = force_generic_plan`), as PL/pgSQL otherwise planned them again at every call.
- SQLite: at once, row by row (SQLite has one writer at a time).

`RECOUNT` rebuilds every row from `tasks` (the migration's backfill; the benchmarks after a load that skipped the
triggers); a test checks the rows always agree with it. Anything that writes tasks with triggers off (PostgreSQL's
`session_replication_role = replica`) must recount after. A migration that rebuilds `tasks` on SQLite
(`batch_alter_table` copies the table) drops its triggers: it must create them again (`statements("sqlite")`, as
of its revision).
"""
from sqlalchemy import event, text

NEVER_GIVEN_SQL = "1970-01-01 00:00:00.000000"  # given_at of a seat never given a task: before every real turn

_COUNTS = "status = 'claimed' AND assignee_id IS NOT NULL"

POSTGRESQL = [
    # One change row per side of a change that counts: the old holder loses the task, the new one gains it.
    """CREATE OR REPLACE FUNCTION baton_task_load_change() RETURNS trigger LANGUAGE plpgsql
  SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.status = 'claimed' AND OLD.assignee_id IS NOT NULL THEN
    INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (txid_current(), OLD.template_key, OLD.assignee_id, -1);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.status = 'claimed' AND NEW.assignee_id IS NOT NULL THEN
    INSERT INTO task_load_changes (txid, template_key, user_id, delta) VALUES (txid_current(), NEW.template_key, NEW.assignee_id, 1);
  END IF;
  RETURN NULL;
END $$""",
    # All of the transaction's changes at once, at commit: people in id order, then their seats. A single change (a
    # claim, a completion, a hand-back) takes three plain statements instead of the set-based ones.
    """CREATE OR REPLACE FUNCTION baton_apply_task_loads() RETURNS trigger LANGUAGE plpgsql
  SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  keys text[];
  people integer[];
  deltas integer[];
  turns timestamptz[];
  now_open integer;
BEGIN
  WITH gone AS (DELETE FROM task_load_changes WHERE txid = txid_current() RETURNING template_key, user_id, delta, given_at)
  SELECT array_agg(template_key), array_agg(user_id), array_agg(delta), array_agg(given_at) INTO keys, people, deltas, turns FROM gone;
  IF people IS NULL THEN
    RETURN NULL;  -- an earlier firing in this transaction applied them all
  END IF;
  IF cardinality(people) = 1 THEN
    INSERT INTO person_loads AS p (user_id, open) VALUES (people[1], deltas[1])
      ON CONFLICT (user_id) DO UPDATE SET open = p.open + excluded.open RETURNING p.open INTO now_open;
    UPDATE dispatch_seats AS s SET load = now_open WHERE s.user_id = people[1] AND s.load <> now_open;
    IF deltas[1] <> 0 OR turns[1] IS NOT NULL THEN
      INSERT INTO dispatch_seats AS s (template_key, user_id, held, load, given_at)
        VALUES (keys[1], people[1], deltas[1], now_open, coalesce(turns[1], timestamptz '1970-01-01 00:00:00+00'))
        ON CONFLICT (template_key, user_id) DO UPDATE SET held = s.held + excluded.held,
          given_at = CASE WHEN excluded.given_at > timestamptz '1970-01-01 00:00:00+00' THEN excluded.given_at ELSE s.given_at END;
    END IF;
    RETURN NULL;
  END IF;
  INSERT INTO person_loads AS p (user_id, open)
    SELECT c.user_id, sum(c.delta) FROM unnest(people, deltas) AS c(user_id, delta) GROUP BY c.user_id ORDER BY c.user_id
    ON CONFLICT (user_id) DO UPDATE SET open = p.open + excluded.open;
  UPDATE dispatch_seats AS s SET load = p.open FROM person_loads AS p
    WHERE p.user_id = ANY(people) AND s.user_id = p.user_id AND s.load <> p.open;
  INSERT INTO dispatch_seats AS s (template_key, user_id, held, load, given_at)
    SELECT c.template_key, c.user_id, sum(c.delta), min(p.open), coalesce(max(c.given_at), timestamptz '1970-01-01 00:00:00+00')
    FROM unnest(keys, people, deltas, turns) AS c(template_key, user_id, delta, given_at) JOIN person_loads AS p ON p.user_id = c.user_id
    GROUP BY c.user_id, c.template_key HAVING sum(c.delta) <> 0 OR max(c.given_at) IS NOT NULL ORDER BY c.user_id, c.template_key
    ON CONFLICT (template_key, user_id) DO UPDATE SET held = s.held + excluded.held,
      given_at = CASE WHEN excluded.given_at > timestamptz '1970-01-01 00:00:00+00' THEN excluded.given_at ELSE s.given_at END;
  RETURN NULL;
END $$""",
    f"""CREATE TRIGGER tasks_load_insert AFTER INSERT ON tasks FOR EACH ROW
  WHEN (NEW.{_COUNTS.replace(' AND ', ' AND NEW.')}) EXECUTE FUNCTION baton_task_load_change()""",
    """CREATE TRIGGER tasks_load_update AFTER UPDATE OF status, assignee_id, template_key ON tasks FOR EACH ROW
  WHEN (((OLD.status = 'claimed' AND OLD.assignee_id IS NOT NULL) OR (NEW.status = 'claimed' AND NEW.assignee_id IS NOT NULL))
        AND (OLD.status, OLD.assignee_id, OLD.template_key) IS DISTINCT FROM (NEW.status, NEW.assignee_id, NEW.template_key))
  EXECUTE FUNCTION baton_task_load_change()""",
    f"""CREATE TRIGGER tasks_load_delete AFTER DELETE ON tasks FOR EACH ROW
  WHEN (OLD.{_COUNTS.replace(' AND ', ' AND OLD.')}) EXECUTE FUNCTION baton_task_load_change()""",
    """CREATE CONSTRAINT TRIGGER task_load_changes_apply AFTER INSERT ON task_load_changes DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION baton_apply_task_loads()""",
]

POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS tasks_load_insert ON tasks",
    "DROP TRIGGER IF EXISTS tasks_load_update ON tasks",
    "DROP TRIGGER IF EXISTS tasks_load_delete ON tasks",
    "DROP TRIGGER IF EXISTS task_load_changes_apply ON task_load_changes",
    "DROP FUNCTION IF EXISTS baton_task_load_change()",
    "DROP FUNCTION IF EXISTS baton_apply_task_loads()",
]


def _sqlite_change(side: str, delta: int) -> str:
    return (f"INSERT INTO task_load_changes (txid, template_key, user_id, delta) "
            f"VALUES (0, {side}.template_key, {side}.assignee_id, {delta});")


_OLD_COUNTS = "OLD.status = 'claimed' AND OLD.assignee_id IS NOT NULL"
_NEW_COUNTS = "NEW.status = 'claimed' AND NEW.assignee_id IS NOT NULL"
_MOVED = "(OLD.status IS NOT NEW.status OR OLD.assignee_id IS NOT NEW.assignee_id OR OLD.template_key IS NOT NEW.template_key)"
_OPEN_OF_NEW = "(SELECT open FROM person_loads WHERE user_id = NEW.user_id)"

SQLITE = [
    f"CREATE TRIGGER tasks_load_insert AFTER INSERT ON tasks WHEN {_NEW_COUNTS} BEGIN {_sqlite_change('NEW', 1)} END",
    f"""CREATE TRIGGER tasks_load_update_old AFTER UPDATE OF status, assignee_id, template_key ON tasks
  WHEN {_OLD_COUNTS} AND {_MOVED} BEGIN {_sqlite_change('OLD', -1)} END""",
    f"""CREATE TRIGGER tasks_load_update_new AFTER UPDATE OF status, assignee_id, template_key ON tasks
  WHEN {_NEW_COUNTS} AND {_MOVED} BEGIN {_sqlite_change('NEW', 1)} END""",
    f"CREATE TRIGGER tasks_load_delete AFTER DELETE ON tasks WHEN {_OLD_COUNTS} BEGIN {_sqlite_change('OLD', -1)} END",
    f"""CREATE TRIGGER task_load_changes_apply AFTER INSERT ON task_load_changes BEGIN
  INSERT INTO person_loads (user_id, open) VALUES (NEW.user_id, NEW.delta)
    ON CONFLICT (user_id) DO UPDATE SET open = open + excluded.open;
  UPDATE dispatch_seats SET load = {_OPEN_OF_NEW} WHERE user_id = NEW.user_id;
  INSERT INTO dispatch_seats (template_key, user_id, held, load, given_at)
    VALUES (NEW.template_key, NEW.user_id, NEW.delta, {_OPEN_OF_NEW}, coalesce(NEW.given_at, '{NEVER_GIVEN_SQL}'))
    ON CONFLICT (template_key, user_id) DO UPDATE SET held = held + excluded.held,
      given_at = CASE WHEN excluded.given_at > '{NEVER_GIVEN_SQL}' THEN excluded.given_at ELSE given_at END;
  DELETE FROM task_load_changes WHERE id = NEW.id;
END""",
]

SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {name}" for name in (
    "tasks_load_insert", "tasks_load_update_old", "tasks_load_update_new", "tasks_load_delete", "task_load_changes_apply")]

# Every row again from `tasks` (turns and seats kept): people's open loads, each seat's load of its template, the
# copies of the open loads. Statements that run as they are on both databases.
RECOUNT = [
    f"""INSERT INTO person_loads (user_id, open)
  SELECT assignee_id, count(*) FROM tasks WHERE {_COUNTS} GROUP BY assignee_id
  ON CONFLICT (user_id) DO UPDATE SET open = excluded.open""",
    """UPDATE person_loads SET open = 0 WHERE open <> 0
  AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.assignee_id = person_loads.user_id AND tasks.status = 'claimed')""",
    f"""INSERT INTO dispatch_seats (template_key, user_id, held, load, given_at)
  SELECT template_key, assignee_id, count(*), 0, '{NEVER_GIVEN_SQL}' FROM tasks WHERE {_COUNTS} GROUP BY template_key, assignee_id
  ON CONFLICT (template_key, user_id) DO UPDATE SET held = excluded.held""",
    """UPDATE dispatch_seats SET held = 0 WHERE held <> 0 AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.template_key = dispatch_seats.template_key
  AND tasks.assignee_id = dispatch_seats.user_id AND tasks.status = 'claimed')""",
    """UPDATE dispatch_seats SET load = coalesce((SELECT open FROM person_loads WHERE person_loads.user_id = dispatch_seats.user_id), 0)""",
]


def statements(dialect: str) -> list[str]:
    """The functions and triggers that keep the loads, for `dialect` ("postgresql" or "sqlite")."""
    return POSTGRESQL if dialect == "postgresql" else SQLITE


def recount(connection) -> None:
    """Rebuild every person's load and every seat's counts from `tasks` (on a SQLAlchemy connection)."""
    for statement in RECOUNT:
        connection.execute(text(statement))


def install(metadata) -> None:
    """Create the triggers with the tables (`create_all`: tests, benchmarks) and drop them with them."""

    @event.listens_for(metadata, "after_create")
    def _create(target, connection, **kw):
        # create_all on a database that has the tables already (checkfirst) still fires this: create them afresh.
        drop = POSTGRESQL_DROP if connection.dialect.name == "postgresql" else SQLITE_DROP
        for statement in drop + statements(connection.dialect.name):
            connection.execute(text(statement))

    @event.listens_for(metadata, "before_drop")
    def _drop(target, connection, **kw):
        for statement in POSTGRESQL_DROP if connection.dialect.name == "postgresql" else SQLITE_DROP:
            connection.execute(text(statement))
