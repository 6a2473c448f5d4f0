"""Template versions that work orders run on, kept per process for the hot paths (PostgreSQL).

A version that a work order runs on is never edited again (`service.replace_template` makes a new version then),
so the steps of a running work order can be read from memory instead of the database. The cache is still checked:
its key is the row's id *and* its `xmin`, the id of the transaction that wrote the row, which every write of the
row changes (an edit in place, a row deleted and written again under the same id after a restore). A statement
that reads a task already reads its work order's template row: it answers `xmin` alongside, at no extra cost,
and a stale entry is simply never found again.
"""
import threading

from sqlalchemy import text

from app.extensions import db
from app.flows.models import FlowTemplate

_LIMIT = 1024  # versions kept per process; a company runs on far fewer at once
_cache: dict[tuple[int, int, int], "TemplateVersion"] = {}
_lock = threading.Lock()

# The column a statement answers so that the cache can be checked (PostgreSQL's system column, as a number).
XMIN = "flow_templates.xmin::text::bigint"


class TemplateVersion:
    """The parts of a template version a task's answer and its notifications read: plain, immutable data."""

    __slots__ = ("id", "key", "version", "name", "priority", "steps", "form", "classification", "owner_department_id",
                 "_steps")

    def __init__(self, template: FlowTemplate):
        self.id, self.key, self.version = template.id, template.key, template.version
        self.name, self.priority, self.steps = template.name, template.priority, template.steps
        self.form, self.classification = template.form or [], template.classification or {}
        self.owner_department_id = template.owner_department_id
        self._steps = {step["key"]: step for step in template.steps}

    def step(self, key: str) -> dict:
        return self._steps[key]


def current_version(key: str) -> tuple[TemplateVersion, int] | None:
    """The current, active version of template `key` and its xmin, as this process last saw it (read when unknown);
    None when there is none. A writer that relies on it checks the id and xmin in its statement (`CURRENT_GUARD`)
    and calls `forget(key)` when they no longer hold."""
    seen = _current.get((id(db.engine), key))
    if seen is None:
        row = db.session.execute(_CURRENT, {"key": key}).first()
        if row is None:
            return None
        seen = (row.id, row.xmin)
        with _lock:
            if len(_current) >= _LIMIT:
                _current.clear()
            _current[(id(db.engine), key)] = seen
    return running_version(*seen), seen[1]


def forget(key: str) -> None:
    """The current version of `key` is not the one remembered (a new version, deactivated): read it again next time."""
    _current.pop((id(db.engine), key), None)


_current: dict[tuple[int, str], tuple[int, int]] = {}
_CURRENT = text(f"SELECT id, {XMIN} AS xmin FROM flow_templates WHERE key = :key AND is_current AND active")
# The condition a statement writes under when it relies on `current_version`: still the current, active version,
# never written since.
CURRENT_GUARD = f"""SELECT 1 FROM flow_templates WHERE flow_templates.id = :template_id AND flow_templates.is_current
    AND flow_templates.active AND {XMIN} = :template_xmin"""


def running_version(template_id: int, xmin: int) -> TemplateVersion:
    """The template version `template_id` as written by transaction `xmin`, from memory, else read once."""
    key = (id(db.engine), template_id, xmin)
    version = _cache.get(key)
    if version is None:
        version = TemplateVersion(db.session.get(FlowTemplate, template_id))
        with _lock:
            if len(_cache) >= _LIMIT:
                _cache.clear()  # a new working set builds up again in a few requests
            _cache[key] = version
    return version


HELD = "baton.template_versions"  # the session's info key of the versions it holds


def held(template_id: int) -> FlowTemplate:
    """The template version a work order runs on, as the session's object, held for the rest of the session.

    The session's identity map holds objects weakly: a use case that asks for its work order's template three times
    (a completion: the form's check, the router, the answer) would read it three times. A version a work order runs
    on never changes, so the session keeps the first it read (until it is removed at the end of the request)."""
    session = db.session()
    versions = session.info.setdefault(HELD, {})
    template = versions.get(template_id)
    if template is None:
        template = versions[template_id] = session.get(FlowTemplate, template_id)
    return template
