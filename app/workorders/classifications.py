"""The business and problem trees (3 levels each) that classification pickers offer."""
from sqlalchemy import select

from app.extensions import db
from app.workorders.models import Classification

TREES = ("business", "problem")


def trees() -> dict:
    """{business: [{name, children: [...]}], problem: [...]}, sorted by name at each level."""
    result = {tree: [] for tree in TREES}
    index: dict[tuple, dict] = {}
    rows = db.session.scalars(select(Classification).order_by(Classification.tree, Classification.level_1,
                                                              Classification.level_2, Classification.level_3))
    for row in rows:
        parent_list = result[row.tree]
        path = (row.tree,)
        for name in (row.level_1, row.level_2, row.level_3):
            if not name:
                break
            path = path + (name,)
            node = index.get(path)
            if node is None:
                node = {"name": name, "children": []}
                index[path] = node
                parent_list.append(node)
            parent_list = node["children"]
    return result


def add_path(*, tree: str, path: list[str]) -> bool:
    """Add a path (and so its ancestors) to a tree; False if it was already there."""
    levels = (path + ["", "", ""])[:3]
    exists = db.session.scalar(select(Classification.id).where(
        Classification.tree == tree, Classification.level_1 == levels[0], Classification.level_2 == levels[1],
        Classification.level_3 == levels[2]))
    if exists:
        return False
    db.session.add(Classification(tree=tree, level_1=levels[0], level_2=levels[1], level_3=levels[2]))
    db.session.commit()
    return True
