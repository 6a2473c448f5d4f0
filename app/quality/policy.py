"""Who may read andons, products, batches and their traceability, and who resolves an andon (docs/design.md
§5): one place, used by every quality view and service.

Quality, admins and anyone granted `andon.pull` read all of them. A lead reads only what concerns their
departments (their own and every one below it):

- an andon whose product their departments own, or whose containment or recall work orders they may see
  under the work-order policy (their warehouse quarantines the stock, their team calls the customers);
- a product, and the traceability of its batches (customers, drivers, delivery times), only when their
  departments own the product.

Anything else is answered 404, as if it did not exist: a lead of another department learns nothing from it.
An andon's detail lists only the recall work orders the caller may open, and names no work-order number
the caller could not open.
"""
from sqlalchemy import exists, false, or_, select

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.org.models import User
from app.quality.models import Andon, AndonEvent, AndonRecall, Product
from app.workorders.models import WorkOrder
from app.workorders.policy import lead_department_ids, work_order_filter

READER_ROLES = ("quality", "admin", "lead")


def reads_everything(user: User | None) -> bool:
    """Quality, admins and holders of andon.pull; None is an API key the view already checked for its scope."""
    return user is None or user.has_role("quality", "admin") or user.can("andon.pull")


def can_read(user: User) -> bool:
    """May read some andons, products or traces at all (leads: those of their departments)."""
    return reads_everything(user) or user.has_role("lead")


def andon_filter(user: User):
    """A WHERE clause on Andon selecting the andons `user` may read; None when every one."""
    if reads_everything(user):
        return None
    departments = lead_department_ids(user)
    if not departments:
        return false()
    visible = work_order_filter(user)
    owned = Andon.product_id.in_(select(Product.id).where(Product.owner_department_id.in_(departments)))
    containment = exists().where(WorkOrder.id == Andon.containment_work_order_id, visible)
    recalls = exists().where(AndonRecall.andon_id == Andon.id, WorkOrder.id == AndonRecall.work_order_id, visible)
    return or_(owned, containment, recalls)


def readable_andon(user: User, andon_id: int) -> Andon:
    """The andon if `user` may read it; 404 otherwise."""
    clause = andon_filter(user)
    stmt = select(Andon).where(Andon.id == andon_id)
    andon = db.session.scalar(stmt if clause is None else stmt.where(clause))
    if andon is None:
        raise NotFound("No such andon.")
    return andon


def can_read_product(user: User | None, product: Product) -> bool:
    """A product, its batches and their traceability: every reader, or a lead whose departments own the product."""
    if reads_everything(user):
        return True
    return product.owner_department_id is not None and product.owner_department_id in lead_department_ids(user)


def recall_work_order_filter(user: User):
    """The work-order policy's WHERE clause for listing an andon's recall work orders (None: every one)."""
    if user.has_role("admin", "quality"):
        return None  # the work-order policy gives them every andon and recall work order anyway
    return work_order_filter(user)


# Timeline details that name work orders by number: (event kind, keys).
NUMBERED_EVENTS = {"containment_opened": ("number",), "recall_batch": ("first", "last")}


def timeline_for(user: User, andon: Andon, events: list[AndonEvent], *, every_recall_visible: bool) -> list:
    """The andon's timeline as `user` may see it: work-order numbers they could not open are left out.

    `every_recall_visible`: the caller may open every recall work order of the andon (else no recall number is named).
    """
    if user.has_role("admin", "quality"):
        return [{"id": e.id, "kind": e.kind, "actor_id": e.actor_id, "at": e.at, "details": e.details or {}} for e in events]
    shown = {"recall_batch": every_recall_visible,
             "containment_opened": bool(andon.containment_work_order_id) and bool(db.session.scalar(
                 select(WorkOrder.id).where(WorkOrder.id == andon.containment_work_order_id, work_order_filter(user))))}
    timeline = []
    for event in events:
        hidden = () if shown.get(event.kind, True) else NUMBERED_EVENTS[event.kind]
        details = {k: v for k, v in (event.details or {}).items() if k not in hidden}
        timeline.append({"id": event.id, "kind": event.kind, "actor_id": event.actor_id, "at": event.at, "details": details})
    return timeline


def require_resolver(user: User, andon: Andon) -> None:
    """Quality, admins and the person who pulled it may resolve an andon (after `readable_andon`: 404 first)."""
    if not (user.has_role("quality", "admin") or andon.created_by_id == user.id):
        raise Forbidden("Only quality, an admin or the person who pulled it can resolve this andon.", code="not_allowed")
