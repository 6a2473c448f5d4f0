"""Who may read the figures (docs/design.md §8): one place, used by the views and the summary.

Admins read every work order's figures; a lead reads those of the work orders in which their department, or
one below it, takes part. Recording an evaluation is steering a work order (app.workorders.policy).
"""
from app.metrics.grouping import Scope
from app.org.models import User
from app.workorders.policy import lead_department_ids

#: Who may read dashboards, exports and the effort weights; what each of them reads is `scope_for`.
READER_ROLES = ("lead", "admin")


def scope_for(user: User) -> Scope:
    """The departments whose work orders `user` reads figures of."""
    if user.has_role("admin"):
        return Scope(None)
    return Scope(frozenset(lead_department_ids(user)))
