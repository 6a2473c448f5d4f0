"""Template versions that work orders run on, kept per process for the hot paths (PostgreSQL).

A version that a work order runs on is never edited again (`service.replace_template` makes a new version then),
so the steps of a running work order can be read from memory instead of the database. The cache is still checked:
its key is the row's id *and* its `xmin`, the id of the transaction that wrote the row, which every write of the
row changes (an edit in place, a row deleted and written again under the same id after a restore). A statement
that reads a task already reads its work order's template row: it answers `xmin` alongside, at no extra cost,
and a stale entry is simply never found again.
"""
import threading

from app.extensions import db
from app.flows.models import FlowTemplate

_LIMIT = 1024  # versions kept per process; a company runs on far fewer at once
_cache: dict[tuple[int, int, int], "TemplateVersion"] = {}
_lock = threading.Lock()

# The column a statement answers so that the cache can be checked (PostgreSQL's system column, as a number).
XMIN = "flow_templates.xmin::text::bigint"


class TemplateVersion:
    """The parts of a template version a task's answer and its notifications read: plain, immutable data."""

    __slots__ = ("id", "key", "version", "name", "priority", "steps", "_steps")

    def __init__(self, template: FlowTemplate):
        self.id, self.key, self.version = template.id, template.key, template.version
        self.name, self.priority, self.steps = template.name, template.priority, template.steps
        self._steps = {step["key"]: step for step in template.steps}

    def step(self, key: str) -> dict:
        return self._steps[key]


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
