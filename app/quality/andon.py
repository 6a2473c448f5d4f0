"""Pulling the andon, following it and resolving it (docs/design.md §7).

A pull does its effects in one transaction and in this order, each on the andon's timeline:
(1) sales stop — a sale hold on the product or batch and a `product.paused` / `batch.held`
event in the sales outbox; (2) containment — a quarantine work order with one task per
warehouse holding stock, through the engine; (3) with `recall`, a pending recall job that
`recall.run_recall_fanout` works through after the answer. The request does a fixed number of
statements whatever the number of affected orders.

One target, one active andon. A target is a batch, or a whole product; a product-wide andon covers its
batches, and an unfiltered recall covers a filtered one. A pull that an active andon already covers —
a pause under any active andon on the same or a wider target, a recall under an active recall whose
filters reach every line the new one would — creates nothing and answers 409 `andon_active` naming that
andon. A recall pulled on a target whose own active andon does not cover it (a pause, or a recall with
narrower filters) upgrades that andon in place: same id, action recall, the new filters and reason, its
holds become recall holds (the batch reads `recalled`), the recall job is queued (or re-opened) once, and
an `upgraded` event joins its timeline. A recall pulled on a batch under a product-wide pause opens its
own batch andon, since the pause recalls nothing. The product row lock serialises all of this, and the
partial unique indexes on active andons per target make a second one impossible even without it.
"""
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from app.common.bulk import dialect
from app.common.uow import unit_of_work
from app.errors import Conflict, Invalid
from app.extensions import db
from app.notify.nudge import queue_after_commit
from app.flows.models import FlowTemplate
from app.org.models import Department, User, UserRole
from app.notify.messages import system_title
from app.org.service import people_named
from app.notify.service import notify
from app.quality import holds, policy
from app.quality.models import (
    Andon,
    AndonRecall,
    AndonEvent,
    AndonStatus,
    Batch,
    HoldSource,
    Product,
    RecallJob,
    RecallJobStatus,
    SaleHold,
    StockLevel,
)
from app.quality.recall import (
    RECALL_TEMPLATE,
    count_affected_orders,
    recall_progress,
    recall_work_orders,
    record_event,
    stop_recall,
)
from app.workorders.service import cancel_unstarted, create_work_order

QUARANTINE_TEMPLATE = "quarantine"
# The filter columns of an andon, resolved to ids and times (what the recall queries read).
FILTER_COLUMNS = ("warehouse_id", "driver_id", "shipped_from", "shipped_to")


def _target(body: dict) -> tuple[Product, Batch | None]:
    if body["scope"] == "batch":
        batch = db.session.scalar(select(Batch).where(Batch.batch_no == body["batch_no"]))
        if batch is None:
            raise Invalid("Unknown batch.", details={"batch_no": [f"no batch {body['batch_no']!r}"]})
        product = db.session.get(Product, batch.product_id)
        if body.get("sku") and body["sku"] != product.sku:
            raise Invalid("The batch is not a batch of that product.", details={"sku": [f"batch {batch.batch_no} is of {product.sku}"]})
        return product, batch
    product = db.session.scalar(select(Product).where(Product.sku == body["sku"]))
    if product is None:
        raise Invalid("Unknown product.", details={"sku": [f"no product {body['sku']!r}"]})
    return product, None


def _filters(raw: dict | None) -> tuple[dict, dict]:
    """The narrowing filters as given (for display) and resolved to ids (for the queries)."""
    raw = raw or {}
    shown, resolved = {}, {}
    if raw.get("warehouse"):
        warehouse_id = db.session.scalar(select(Department.id).where(Department.code == raw["warehouse"]))
        if warehouse_id is None:
            raise Invalid("Unknown warehouse.", details={"filters.warehouse": [f"no department {raw['warehouse']!r}"]})
        shown["warehouse"], resolved["warehouse_id"] = raw["warehouse"], warehouse_id
    if raw.get("driver"):
        driver_id = db.session.scalar(select(User.id).where(func.lower(User.login) == raw["driver"].lower()))
        if driver_id is None:
            raise Invalid("Unknown driver.", details={"filters.driver": [f"no user {raw['driver']!r}"]})
        shown["driver"], resolved["driver_id"] = raw["driver"], driver_id
    for key in ("shipped_from", "shipped_to"):
        if raw.get(key):
            shown[key], resolved[key] = raw[key].isoformat(), raw[key]
    return shown, resolved


def holding_warehouses(product: Product, batch: Batch | None, warehouse_id: int | None) -> list[dict]:
    """Warehouses holding stock of the product (or batch) now; one quarantine task goes to each.

    For a batch, a warehouse that reports levels only per product (no batch) may hold it too, so it is included.
    """
    stmt = (select(StockLevel.warehouse_id, StockLevel.batch_id, StockLevel.on_hand, Department.code, Department.name)
            .join(Department, Department.id == StockLevel.warehouse_id).where(StockLevel.product_id == product.id))
    if warehouse_id:
        stmt = stmt.where(StockLevel.warehouse_id == warehouse_id)
    per_warehouse: dict[int, dict] = {}
    for row in db.session.execute(stmt.order_by(Department.code)):
        entry = per_warehouse.setdefault(row.warehouse_id, {"code": row.code, "name": row.name, "batch": 0, "product": 0, "has_batch_rows": False})
        if row.batch_id is None:
            entry["product"] += row.on_hand
        else:
            entry["has_batch_rows"] = True
            if batch is None or row.batch_id == batch.id:
                entry["batch"] += row.on_hand
    result = []
    for wid, e in per_warehouse.items():
        if batch is None:
            quantity = e["product"] if not e["has_batch_rows"] else max(e["product"], e["batch"])
        else:
            quantity = e["batch"] if e["has_batch_rows"] else e["product"]
        if quantity > 0:
            result.append({"code": e["code"], "name": e["name"], "label": f"{e['name']} ({e['code']})", "on_hand": quantity,
                           "assignees": {"departments": [wid]}})
    return result


def _recipients(product: Product) -> list[int]:
    """The quality team, and the lead(s) of the product's owner department."""
    ids = set(db.session.scalars(select(UserRole.user_id).join(User, User.id == UserRole.user_id)
                                 .where(UserRole.role == "quality", User.active.is_(True))))
    if product.owner_department_id:
        department = db.session.get(Department, product.owner_department_id)
        if department and department.head_id:
            ids.add(department.head_id)
        ids |= set(db.session.scalars(select(UserRole.user_id).join(User, User.id == UserRole.user_id).where(
            UserRole.role == "lead", User.department_id == product.owner_department_id, User.active.is_(True))))
    return sorted(ids)


def _filters_of(andon: Andon) -> dict:
    return {column: getattr(andon, column) for column in FILTER_COLUMNS}


def filters_cover(wide: dict, narrow: dict) -> bool:
    """Every order line the `narrow` filters reach, the `wide` ones reach too (no filter reaches everything)."""
    for key in ("warehouse_id", "driver_id"):
        if wide.get(key) is not None and wide.get(key) != narrow.get(key):
            return False
    if wide.get("shipped_from") is not None and (narrow.get("shipped_from") is None or narrow["shipped_from"] < wide["shipped_from"]):
        return False
    if wide.get("shipped_to") is not None and (narrow.get("shipped_to") is None or narrow["shipped_to"] > wide["shipped_to"]):
        return False
    return True


def _active_andons_on(product: Product, batch: Batch | None) -> list[Andon]:
    """Active andons on the target itself and, for a batch, the product-wide one: the same target first."""
    on_target = Andon.batch_id == batch.id if batch else Andon.batch_id.is_(None)
    stmt = select(Andon).where(Andon.status == AndonStatus.ACTIVE, Andon.product_id == product.id,
                               or_(on_target, Andon.batch_id.is_(None)) if batch else on_target)
    found = list(db.session.scalars(stmt.execution_options(populate_existing=True)))
    return sorted(found, key=lambda a: (a.batch_id is None) if batch else 0)


def _covers(andon: Andon, action: str, resolved: dict) -> bool:
    """An active andon on the same or a wider target covers a pause always, and a recall when it recalls as widely."""
    return action == "pause" or (andon.action == "recall" and filters_cover(_filters_of(andon), resolved))


def _already_active(andon: Andon, message: str) -> Conflict:
    return Conflict(message, code="andon_active", details={"andon_id": andon.id})


def pull_andon(*, user: User, body: dict, now: datetime, tz: str, recall_lanes: int = 1) -> tuple[Andon, bool]:
    """Stop sales of a product or batch, open its containment and, for a recall, queue the fan-out; answers (andon, created).

    `created` is False when the pull upgraded the target's active andon to a recall instead of opening a new one.
    One unit of work: the sales stop, the containment work order and the recall job commit together, or not at all.
    """
    try:
        with unit_of_work():
            return _pull(user=user, body=body, now=now, tz=tz, recall_lanes=recall_lanes)
    except IntegrityError:
        # The unique index on active andons per target: another pull got there first (only possible without the lock).
        product, batch = _target(body)
        winner = next((a for a in _active_andons_on(product, batch) if a.batch_id == (batch.id if batch else None)), None)
        if winner is None:
            raise
        raise _already_active(winner, f"Andon {winner.id} is already active on this {winner.scope}.") from None


def _pull(*, user: User, body: dict, now: datetime, tz: str, recall_lanes: int) -> tuple[Andon, bool]:
    product, batch = _target(body)
    shown, resolved = _filters(body.get("filters"))
    needed = {QUARANTINE_TEMPLATE, RECALL_TEMPLATE} if body["action"] == "recall" else {QUARANTINE_TEMPLATE}
    installed = set(db.session.scalars(select(FlowTemplate.key).where(FlowTemplate.key.in_(needed), FlowTemplate.is_current.is_(True),
                                                                      FlowTemplate.active.is_(True))))
    if needed - installed:
        raise Conflict(f"Flow templates {sorted(needed - installed)} are missing or inactive; `flask db upgrade` installs them.",
                       code="template_missing")
    # Locking the product serialises pulls, resolves and shortage checks of one product: the andons read next are current.
    db.session.get(Product, product.id, with_for_update=True, populate_existing=True)
    wanted = {column: resolved.get(column) for column in FILTER_COLUMNS}
    active = _active_andons_on(product, batch)
    covering = next((a for a in active if _covers(a, body["action"], wanted)), None)
    if covering is not None:
        raise _already_active(covering, f"Andon {covering.id} is already active on this {covering.scope} and covers this pull.")
    same = next((a for a in active if a.batch_id == (batch.id if batch else None)), None)
    if same is not None:
        # Only a recall gets here: the target's own andon is a pause, or a recall with other filters.
        if same.action == "recall" and not filters_cover(wanted, _filters_of(same)):
            raise _already_active(same, f"Andon {same.id} already recalls this {same.scope} with other filters; "
                                        "pull with filters that cover both, or resolve it first.")
        return _upgrade(same, user=user, product=product, batch=batch, body=body, shown=shown, wanted=wanted, now=now,
                        recall_lanes=recall_lanes), False
    return _open(user=user, product=product, batch=batch, body=body, shown=shown, resolved=resolved, now=now, tz=tz,
                 recall_lanes=recall_lanes), True


def _queue_recall(andon: Andon, *, user: User, now: datetime, recall_lanes: int) -> RecallJob:
    """Queue the andon's recall fan-out: a new job, or its job re-opened (pending) when it has one."""
    job = db.session.scalar(select(RecallJob).where(RecallJob.andon_id == andon.id).with_for_update())
    if job is None:
        job = RecallJob(andon_id=andon.id, status=RecallJobStatus.PENDING, lanes=max(1, recall_lanes), created_at=now, updated_at=now)
        db.session.add(job)
    else:
        job.status, job.finished_at, job.updated_at = RecallJobStatus.PENDING, None, now
    db.session.flush()
    record_event(andon_id=andon.id, kind="recall_queued", actor_id=user.id, now=now,
                 details={"job_id": job.id, "affected_orders": andon.affected_orders})
    # In AWS the fan-out starts on the jobs queue once this commits; locally (and as a safety net) the sweep runs it.
    for lane in range(job.lanes if dialect() == "postgresql" else 1):
        queue_after_commit(db.session, "JOBS_QUEUE_URL", {"kind": "recall", "andon_id": andon.id, "lane": lane})
    return job


def _notify_pulled(andon: Andon, *, user: User, product: Product, batch: Batch | None, now: datetime) -> None:
    target = batch.batch_no if batch else product.sku
    recipients = _recipients(product)
    notify(user_ids=recipients, kind="andon.pulled", params={"scope": "batch" if batch else "product", "target": target,
                                                              "reason": andon.reason},
           about={"andon_id": andon.id}, priority="P1", now=now)
    record_event(andon_id=andon.id, kind="notified", actor_id=user.id, now=now, details={"users": recipients})


def _open(*, user: User, product: Product, batch: Batch | None, body: dict, shown: dict, resolved: dict, now: datetime, tz: str,
          recall_lanes: int) -> Andon:
    """A new andon on a target with none active: its effects in order, one transaction."""
    andon = Andon(scope=body["scope"], product_id=product.id, batch_id=batch.id if batch else None, action=body["action"],
                  reason=body["reason"], filters=shown, status=AndonStatus.ACTIVE, created_by_id=user.id, created_at=now,
                  **resolved)
    db.session.add(andon)
    db.session.flush()
    target = batch.batch_no if batch else product.sku
    record_event(andon_id=andon.id, kind="pulled", actor_id=user.id, now=now,
                 details={"scope": andon.scope, "target": target, "action": andon.action, "reason": andon.reason, "filters": shown})

    # (1) Sales stop at once.
    hold = SaleHold(product_id=None if batch else product.id, batch_id=batch.id if batch else None, source=HoldSource.ANDON,
                    andon_id=andon.id, recall=andon.action == "recall", active=True, created_at=now)
    db.session.add(hold)
    db.session.flush()
    stopped, event = _stop_sales(andon, product=product, batch=batch, now=now)
    record_event(andon_id=andon.id, kind="sales_stopped", actor_id=user.id, now=now,
                 details={**stopped, "sales_event": event.kind, "sales_event_id": event.id})

    # (2) Containment: one quarantine task per warehouse holding stock, through the engine.
    warehouses = holding_warehouses(product, batch, andon.warehouse_id)
    containment = create_work_order(body={
        "template": QUARANTINE_TEMPLATE, "title": system_title("quarantine", target=target, reason=andon.reason), "source": "andon",
        "product_sku": product.sku, "batch_no": batch.batch_no if batch else None,
        "data": {"andon_id": andon.id, "sku": product.sku, "batch_no": batch.batch_no if batch else None, "reason": andon.reason,
                 "warehouses": warehouses},
    }, created_by=user, department_id=None, now=now, tz=tz)
    andon.containment_work_order_id = containment.id
    record_event(andon_id=andon.id, kind="containment_opened", actor_id=user.id, now=now,
                 details={"work_order_id": containment.id, "number": containment.number, "warehouses": [w["code"] for w in warehouses]})

    # (3) Recall: counted now, fanned out by the job.
    andon.affected_orders = count_affected_orders(andon)
    if andon.action == "recall":
        _queue_recall(andon, user=user, now=now, recall_lanes=recall_lanes)

    _notify_pulled(andon, user=user, product=product, batch=batch, now=now)
    return andon


def _stop_sales(andon: Andon, *, product: Product, batch: Batch | None, now: datetime):
    """Derive the target's status from its holds and tell the sales channel; answers (what it reads now, the event)."""
    if batch:
        holds.refresh_batch(batch, now=now, emit=False)
        event = holds.queue_sales_event(kind="batch.held", now=now, payload={
            "batch_no": batch.batch_no, "sku": product.sku, "status": batch.status, "andon_id": andon.id, "action": andon.action,
            "reason": andon.reason})
        return {"batch_no": batch.batch_no, "batch_status": batch.status}, event
    holds.refresh_product(product, now=now, emit=False)
    event = holds.queue_sales_event(kind="product.paused", now=now, payload={
        "sku": product.sku, "name": product.name, "sale_status": product.sale_status, "andon_id": andon.id,
        "action": andon.action, "reason": andon.reason})
    return {"sku": product.sku, "sale_status": product.sale_status}, event


def _upgrade(andon: Andon, *, user: User, product: Product, batch: Batch | None, body: dict, shown: dict, wanted: dict,
             now: datetime, recall_lanes: int) -> Andon:
    """A recall pulled on a target whose active andon does not recall as widely: that andon becomes this recall."""
    before = {"action": andon.action, "reason": andon.reason, "filters": andon.filters or {}}
    andon.action = "recall"
    andon.reason = body["reason"]
    andon.filters = shown
    for column, value in wanted.items():
        setattr(andon, column, value)
    for hold in db.session.scalars(select(SaleHold).where(SaleHold.andon_id == andon.id, SaleHold.active.is_(True))):
        hold.recall = True
    db.session.flush()
    stopped, event = _stop_sales(andon, product=product, batch=batch, now=now)
    andon.affected_orders = count_affected_orders(andon)
    record_event(andon_id=andon.id, kind="upgraded", actor_id=user.id, now=now, details={
        "from": before, "action": "recall", "reason": andon.reason, "filters": shown, **stopped,
        "sales_event": event.kind, "sales_event_id": event.id})
    _queue_recall(andon, user=user, now=now, recall_lanes=recall_lanes)
    _notify_pulled(andon, user=user, product=product, batch=batch, now=now)
    return andon


def resolve_andon(*, user: User, andon_id: int, note: str, now: datetime, open_work: str = "keep",
                  reason: str | None = None) -> tuple[Andon, dict | None]:
    """Close an andon: its holds are released, and sales resume where no other andon or shortage holds them.

    `open_work` says what becomes of its containment and recall work orders still open: `keep` them for their
    handlers to finish (Part I), or `cancel_unstarted`: those nobody has started are cancelled with `reason`, each
    with its own timeline event, and the started ones are kept. Answers the andon and, for the latter, the counts.
    """
    andon = policy.readable_andon(user, andon_id)  # 404 for whoever may not even read it
    policy.require_resolver(user, andon)
    product = db.session.get(Product, andon.product_id, with_for_update=True, populate_existing=True)
    andon = db.session.get(Andon, andon_id, with_for_update=True, populate_existing=True)
    if andon.status != AndonStatus.ACTIVE:
        raise Conflict("This andon is already resolved.", code="andon_resolved")
    andon.status = AndonStatus.RESOLVED
    andon.resolved_at = now
    andon.resolved_by_id = user.id
    andon.resolution_note = note
    released = list(db.session.scalars(select(SaleHold).where(SaleHold.andon_id == andon.id, SaleHold.active.is_(True))))
    for hold in released:
        hold.active = False
        hold.released_at = now
    db.session.flush()
    job = stop_recall(andon=andon, now=now)
    if job is not None and job.status == RecallJobStatus.CANCELLED:
        record_event(andon_id=andon.id, kind="recall_stopped", actor_id=user.id, now=now, details={"work_orders": job.created})
    events = []
    batch = db.session.get(Batch, andon.batch_id) if andon.batch_id else None
    if batch:
        events.append(holds.refresh_batch(batch, now=now, emit=True))
    events.append(holds.refresh_product(product, now=now, emit=True))
    remaining = [holds.reason_of(h) for h in holds.active_holds(product_id=product.id)]
    if batch:
        remaining += [holds.reason_of(h) for h in holds.active_holds(batch_id=batch.id)]
    record_event(andon_id=andon.id, kind="resolved", actor_id=user.id, now=now, details={
        "note": note, "sale_status": product.sale_status, "batch_status": batch.status if batch else None,
        "still_held_by": remaining, "sales_events": [e.kind for e in events if e]})
    closed = None
    if open_work == "cancel_unstarted":
        work = [andon.containment_work_order_id] if andon.containment_work_order_id else []
        work += list(db.session.scalars(select(AndonRecall.work_order_id).where(AndonRecall.andon_id == andon.id)))
        closed = cancel_unstarted(work_order_ids=work, reason=reason, details={"andon_id": andon.id}, actor_id=user.id, now=now)
        record_event(andon_id=andon.id, kind="open_work_closed", actor_id=user.id, now=now, details={**closed, "reason": reason})
    db.session.commit()
    return andon, closed


def list_andons(*, user: User, filters: dict):
    """The andons `user` may read, newest first, as a select for pagination."""
    stmt = select(Andon).order_by(Andon.created_at.desc(), Andon.id.desc())
    visible = policy.andon_filter(user)
    if visible is not None:
        stmt = stmt.where(visible)
    if filters.get("status"):
        stmt = stmt.where(Andon.status == filters["status"])
    if filters.get("scope"):
        stmt = stmt.where(Andon.scope == filters["scope"])
    if filters.get("sku"):
        stmt = stmt.where(Andon.product_id.in_(select(Product.id).where(Product.sku == filters["sku"])))
    if filters.get("batch_no"):
        stmt = stmt.where(Andon.batch_id.in_(select(Batch.id).where(Batch.batch_no == filters["batch_no"])))
    return stmt


def present_andons(andons: list[Andon]) -> list[dict]:
    """Andons as the API shows them, loading their products, batches, people and jobs in a few queries."""
    if not andons:
        return []
    products = {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_({a.product_id for a in andons})))}
    batch_ids = {a.batch_id for a in andons if a.batch_id}
    batches = {b.id: b for b in db.session.scalars(select(Batch).where(Batch.id.in_(batch_ids)))} if batch_ids else {}
    people = people_named({u for a in andons for u in (a.created_by_id, a.resolved_by_id)})
    jobs = {j.andon_id: j for j in db.session.scalars(select(RecallJob).where(RecallJob.andon_id.in_([a.id for a in andons])))}

    views = []
    for a in andons:
        job = jobs.get(a.id)
        views.append({
            "id": a.id, "status": a.status, "scope": a.scope, "action": a.action, "sku": products[a.product_id].sku,
            "product_name": products[a.product_id].name, "batch_no": batches[a.batch_id].batch_no if a.batch_id else None,
            "reason": a.reason, "filters": a.filters or {}, "affected_orders": max(a.affected_orders, job.created if job else 0),
            "containment_work_order_id": a.containment_work_order_id,
            "recall": {"status": job.status, "created": job.created, "batches": job.batches, "finished_at": job.finished_at} if job else None,
            "created_by": people.get(a.created_by_id), "created_at": a.created_at, "resolved_at": a.resolved_at,
            "resolved_by": people.get(a.resolved_by_id), "resolution_note": a.resolution_note,
        })
    return views


def andon_detail(*, user: User, andon_id: int, recalls_page: int = 1, recalls_per_page: int = 50, just_pulled: bool = False) -> dict:
    """An andon with its live recall progress, the recall work orders created so far and its timeline, as `user` may see them."""
    andon = policy.readable_andon(user, andon_id)
    view = present_andons([andon])[0]
    if just_pulled:
        # The fan-out has not started: nothing to aggregate, and the pull answers without reading the recall tables.
        items, total = [], 0
        progress = {"affected": andon.affected_orders, "created": 0, "contacted": 0, "picked_up": 0, "received": 0, "closed": 0}
    else:
        items, total = recall_work_orders(andon, page=recalls_page, per_page=recalls_per_page,
                                          visible=policy.recall_work_order_filter(user))
        progress = recall_progress(andon)
    product = db.session.get(Product, andon.product_id)
    batch = db.session.get(Batch, andon.batch_id) if andon.batch_id else None
    events = list(db.session.scalars(select(AndonEvent).where(AndonEvent.andon_id == andon.id).order_by(AndonEvent.id)))
    timeline = policy.timeline_for(user, andon, events, every_recall_visible=total == progress["created"])
    people = people_named({e["actor_id"] for e in timeline})
    view.update(
        recall_work_orders=items, recall_work_orders_total=total, progress=progress,
        sale_status=product.sale_status, batch_status=batch.status if batch else None,
        timeline=[{**e, "actor": people.get(e["actor_id"])} for e in timeline],
    )
    return view

