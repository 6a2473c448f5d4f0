"""What changed between two versions of a template (the designer's compare): the template's own settings, the
fields of its form, and its steps — added, removed, and changed field by field. Pure: two template bodies in."""

SETTINGS = ("name", "description", "priority", "classification", "owner_department_id")


def _changes(before: dict, after: dict, skip=()) -> list[dict]:
    """`{field, from, to}` for each key whose value differs (a key one side lacks counts as null), in a stable order."""
    keys = [k for k in dict.fromkeys([*before, *after]) if k not in skip]
    return [{"field": k, "from": before.get(k), "to": after.get(k)} for k in keys if before.get(k) != after.get(k)]


def _by(items: list[dict], key: str) -> dict[str, dict]:
    return {item[key]: item for item in items or [] if isinstance(item, dict) and key in item}


def _list_diff(before: list[dict], after: list[dict], key: str, label: str) -> dict:
    old, new = _by(before, key), _by(after, key)
    return {
        "added": [{key: k, label: new[k].get(label)} for k in new if k not in old],
        "removed": [{key: k, label: old[k].get(label)} for k in old if k not in new],
        "changed": [{key: k, label: new[k].get(label), "fields": fields} for k in new if k in old
                    for fields in [_changes(old[k], new[k], skip=(key,))] if fields],
    }


def template_diff(before, after) -> dict:
    """The difference from template version `before` to `after` (FlowTemplate rows or anything with the same attributes)."""
    settings = _changes({k: getattr(before, k) for k in SETTINGS}, {k: getattr(after, k) for k in SETTINGS})
    form = _list_diff(before.form, after.form, "name", "label")
    steps = _list_diff(before.steps, after.steps, "key", "title")
    kept_old = [s["key"] for s in before.steps if s["key"] in _by(after.steps, "key")]
    kept_new = [s["key"] for s in after.steps if s["key"] in _by(before.steps, "key")]
    steps["reordered"] = kept_old != kept_new
    same = not settings and not any(form.values()) and not any(steps.values())
    return {"key": after.key, "from": before.version, "to": after.version, "same": same, "settings": settings, "form": form,
            "steps": steps}
