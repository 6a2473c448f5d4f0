"""Where the work comes from: the Pareto of problem categories and tags by responsible department.

Pareto: work orders of the period per problem category (the path down to `level`, 3 by
default), most frequent first, with each one's share and the running share; the "vital few" are
the categories that together make 80 % of the work orders — every category up to and including
the one whose running share reaches 80 %. Work orders without a category count as
"(unclassified)", so the shares add up to the whole.

Tags: each tag may name the department responsible for it (seed 002, the `tags` table); work
orders are counted per tag under that department (unmapped tags under no department). A
department's `work_orders` counts each work order once, however many of its tags it carries.
"""
from collections import defaultdict

from sqlalchemy import func, select

from app.extensions import db
from app.metrics.grouping import department_names, path_label
from app.workorders.models import Tag

PARETO_SHARE = 0.8


def pareto(*, categories: dict, level: int = 3) -> dict:
    """Problem categories (paths down to `level`, with their work orders) by frequency, with running shares."""
    counts = categories
    total = sum(counts.values())
    items = sorted(({"category": list(path), "label": path_label(path), "work_orders": n} for path, n in counts.items()),
                   key=lambda item: (-item["work_orders"], item["label"]))
    running, vital = 0, 0
    for item in items:
        reached_before = total and running / total >= PARETO_SHARE
        running += item["work_orders"]
        item["share"] = item["work_orders"] / total
        item["cumulative_share"] = running / total
        item["vital"] = not reached_before
        vital += item["vital"]
    return {"level": level, "threshold": PARETO_SHARE, "total": total, "vital_few": vital, "items": items}


def tags_by_department(*, sources: list) -> list[dict]:
    """Work orders per tag, under the department each tag maps to."""
    per_tag: dict = defaultdict(int)
    per_department: dict = defaultdict(int)
    for pairs in sources:
        tagged = select(Tag.department_id.label("department_id"), pairs.c.tag, pairs.c.work_order_id, pairs.c.tags_on_work_order) \
            .select_from(pairs).outerjoin(Tag, Tag.name == pairs.c.tag).subquery("tagged")
        for department_id, tag, count in db.session.execute(
                select(tagged.c.department_id, tagged.c.tag, func.count()).group_by(tagged.c.department_id, tagged.c.tag)):
            per_tag[(department_id, tag)] += int(count)
            per_department[department_id] += int(count)
        # A work order with several tags of one department counts once there: take the repeats off, looking
        # only at work orders with more than one tag (few). Closed and open work orders never overlap.
        several = select(tagged.c.department_id, tagged.c.work_order_id, func.count().label("tags")) \
            .where(tagged.c.tags_on_work_order > 1).group_by(tagged.c.department_id, tagged.c.work_order_id).subquery("several")
        for department_id, repeats in db.session.execute(
                select(several.c.department_id, func.sum(several.c.tags - 1)).group_by(several.c.department_id)):
            per_department[department_id] -= int(repeats or 0)
    names = department_names()
    departments: dict = {}
    for (department_id, tag), count in per_tag.items():
        entry = departments.setdefault(department_id, {
            "department_id": department_id,
            "department": names.get(department_id, "(none)") if department_id is not None else "(none)",
            "work_orders": per_department[department_id],
            "tags": [],
        })
        entry["tags"].append({"tag": tag, "work_orders": count})
    for entry in departments.values():
        entry["tags"].sort(key=lambda t: (-t["work_orders"], t["tag"]))
    return sorted(departments.values(), key=lambda d: (-d["work_orders"], d["department"]))
