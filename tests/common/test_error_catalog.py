"""Every message the server can answer an error with has a Chinese entry in app/common/messages_zh.py.

The messages are found where they are written, by walking app/ with `ast`:
- the message given to a domain error (app/errors.py and its subclasses), to marshmallow's ValidationError, to an
  exception whose text becomes a field message (EndpointRefused), to a werkzeug HTTP error or `abort`, and to any
  function of ours that takes a `message: str` (ErrorList.add, a per-field `add`, `_problem`, `error_body`, …);
- the field messages of a `details={...}` given to a domain error;
- what is appended to, or assigned into, a collection of errors (`errors.setdefault(path, []).append(...)`,
  `errors[path] = [...]`, a returned `{path: [...]}`);
- the `error=` of a marshmallow validator, `error_messages=` and `default_error_messages`;
- the messages returned or raised by the few functions whose text reaches an answer through a variable
  (MESSAGE_FUNCTIONS);
- a message held in a variable: what the enclosing function assigns to it, also from a table of tuples.
An f-string becomes a template whose variable parts are placeholders; the catalog's placeholders are named, so
both sides are compared with every placeholder written `{}`.

Besides our own: marshmallow's default messages of every field and validator (and webargs'), read from the
libraries themselves, and werkzeug's descriptions of the HTTP errors app/error_handlers.py answers.
"""
import ast
import functools
import inspect
import pathlib
import re

import marshmallow as ma
import webargs.fields
from werkzeug import exceptions as http

from app.common import i18n
from app.common.messages_zh import MESSAGES
from app.error_handlers import _HTTP_CODES

APP = pathlib.Path(__file__).resolve().parents[2] / "app"

# Exceptions outside app/errors.py whose text becomes a message of an answer.
MESSAGE_CARRIERS = {"ValidationError": 0, "EndpointRefused": 0}
# Functions whose messages reach an answer through a variable (`str(exc)`, a returned problem): their raised and
# returned texts, and the texts they assign to `reason` or `message`, are messages.
MESSAGE_FUNCTIONS = {
    "flows/graph.py": {"measure_duration"},          # its ValueError's text is a field message (flows/schemas.py)
    "flows/conditions.py": {"_value_problem"},
    "org/passwords.py": {"password_problems"},
    "notify/endpoints.py": {"_check"},                # EndpointRefused reasons, kept in a cache (notify/service.py)
}
VALIDATORS = {name for name, cls in vars(ma.validate).items() if inspect.isclass(cls) and issubclass(cls, ma.validate.Validator)}
# Exceptions that may be given a variable: ValidationError(errors), a dict of messages collected where they are added.
FORWARDING = {"ValidationError"}


def _shapes(node) -> list[str] | None:
    """The texts an expression can be, with `{}` for each variable part; None when it is not text we can read."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.JoinedStr):
        out = [""]
        for part in node.values:
            out = [o + (part.value if isinstance(part, ast.Constant) else "{}") for o in out]
        return out
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _shapes(node.left), _shapes(node.right)
        if left is None and right is None:
            return None
        return [a + b for a in (left or ["{}"]) for b in (right or ["{}"])]
    if isinstance(node, ast.IfExp):
        body, orelse = _shapes(node.body), _shapes(node.orelse)
        return None if body is None and orelse is None else (body or []) + (orelse or [])
    if isinstance(node, ast.BoolOp):
        found = [_shapes(v) for v in node.values]
        return None if all(f is None for f in found) else [s for f in found if f for s in f]
    return None


def _name(func) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _forwarded(node) -> bool:
    """The text of a caught exception (`str(exc)`, `exc.reason`): its messages are collected where it is raised."""
    if isinstance(node, ast.Call) and _name(node.func) == "str" and len(node.args) == 1 and isinstance(node.args[0], ast.Name):
        return True
    return isinstance(node, ast.Attribute) and node.attr in ("reason", "message")


def _errorish(node) -> bool:
    """A collection of errors or problems, named so: `errors`, `problems`, `self.errors`."""
    name = _name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
    return bool(name) and ("error" in name.lower() or "problem" in name.lower())


class _Walk:
    def __init__(self):
        self.found: dict[str, str] = {}
        self.unread: list[str] = []
        self.trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(APP.rglob("*.py"))}
        self.takers = self._takers()

    def _takers(self) -> dict[str, int]:
        """Callables whose argument at the given position is a message."""
        takers = dict(MESSAGE_CARRIERS)
        domain = {"DomainError"}
        classes = [n for tree in self.trees.values() for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        while True:  # subclasses of subclasses
            more = {c.name for c in classes if any(_name(b) in domain for b in c.bases)} - domain
            if not more:
                break
            domain |= more
        takers.update(dict.fromkeys(domain, 0))
        takers.update({name: 0 for name, cls in vars(http).items() if inspect.isclass(cls) and issubclass(cls, http.HTTPException)})
        for tree in self.trees.values():
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "__init__":
                    params = [a for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
                    for index, arg in enumerate(params):
                        if arg.arg == "message" and arg.annotation is not None and ast.unparse(arg.annotation) == "str":
                            takers[node.name] = index
        return takers

    def note(self, node, where: str, scope=None, module=None, quiet: bool = False) -> None:
        """Collect the message(s) `node` can be; one it cannot read is reported, unless `quiet`."""
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            for element in node.elts:
                self.note(element, where, scope, module, quiet)
            return
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            self.note(node.elt, where, scope, module, quiet)
            return
        if isinstance(node, ast.Starred):
            self.note(node.value, where, scope, module, quiet)
            return
        if _forwarded(node) or isinstance(node, ast.Call) and _name(node.func) in self.takers:
            return  # a caught exception's text, or a helper's call: collected where they are written
        shapes = _shapes(node)
        if shapes is None and isinstance(node, ast.Name) and scope is not None and self._resolve(node.id, scope, module, where, quiet):
            return
        if shapes is None:
            if not quiet:
                self.unread.append(f"{where}: {ast.unparse(node)[:80]}")
            return
        for shape in shapes:
            self.found.setdefault(shape, where)

    def _resolve(self, name: str, scope, module, where: str, quiet: bool = False) -> bool:
        """A message held in a variable: what the function assigns to it (also by unpacking a tuple, from a
        tuple written there or from a module-level table of tuples), or a parameter that forwards one."""
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                a.arg == name for a in scope.args.args + scope.args.kwonlyargs):
            return True  # forwarded: its callers' messages are collected at their call
        resolved = False
        for node in ast.walk(scope):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    self.note(node.value, where, None, module, quiet)
                    resolved = True
                elif isinstance(target, ast.Tuple) and any(isinstance(e, ast.Name) and e.id == name for e in target.elts):
                    index = next(i for i, e in enumerate(target.elts) if isinstance(e, ast.Name) and e.id == name)
                    for tup in self._tuples(node.value, len(target.elts), module):
                        self.note(tup.elts[index], where, quiet=quiet)
                        resolved = True
        return resolved

    def _tuples(self, value, size: int, module):
        for node in ast.walk(value):
            if isinstance(node, ast.Tuple) and len(node.elts) == size:
                yield node
            if isinstance(node, ast.Name):  # a module-level table: NAME = {key: (code, message), ...}
                for top in module.body:
                    if isinstance(top, ast.Assign) and any(isinstance(t, ast.Name) and t.id == node.id for t in top.targets):
                        yield from (n for n in ast.walk(top.value) if isinstance(n, ast.Tuple) and len(n.elts) == size)

    def walk(self) -> dict[str, str]:
        for path, tree in self.trees.items():
            rel = str(path.relative_to(APP))
            self._module(tree, rel)
            for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
                if function.name in MESSAGE_FUNCTIONS.get(rel, ()):
                    self._message_function(function, rel)
        return self.found

    def _module(self, tree, rel: str) -> None:
        scopes = {}
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(function):
                scopes[id(node)] = function  # the innermost function wins: inner ones are walked later
        for node in ast.walk(tree):
            where = f"app/{rel}:{getattr(node, 'lineno', 0)}"
            scope = scopes.get(id(node))
            if isinstance(node, ast.Call):
                self._call(node, where, scope, tree)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Subscript) and _errorish(target.value) and isinstance(node.value, (ast.List, ast.ListComp)):
                        self.note(node.value, where, scope, tree)
                    if isinstance(target, ast.Name) and target.id == "default_error_messages" and isinstance(node.value, ast.Dict):
                        for value in node.value.values:
                            self.note(value, where)
            elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
                for element in node.value.elts:  # `return clean, {path: ["message"]}`
                    if isinstance(element, ast.Dict):
                        for value in element.values:
                            if isinstance(value, ast.List):
                                self.note(value, where)

    def _call(self, node: ast.Call, where: str, scope, module) -> None:
        name = _name(node.func)
        if name in self.takers:
            index = self.takers[name]
            given = node.args[index] if len(node.args) > index else None
            given = given or next((k.value for k in node.keywords if k.arg in ("message", "description")), None)
            if given is None or _forwarded(given):
                pass
            elif name[0].isupper():  # an exception: its message must be readable here
                if isinstance(given, ast.Dict):  # ValidationError({field: [messages]})
                    self.note(ast.List(elts=given.values), where, scope, module)
                elif not (name in FORWARDING and isinstance(given, ast.Name)):
                    self.note(given, where, scope, module)
            else:  # a helper: what it is given is read where it can be (a variable may forward a message)
                self.note(given, where, scope, module, quiet=True)
            for keyword in node.keywords:
                if keyword.arg == "details" and isinstance(keyword.value, ast.Dict):
                    for value in keyword.value.values:
                        if isinstance(value, (ast.List, ast.ListComp)):
                            self.note(value, where, scope, module)
        if name == "abort":
            for given in node.args[1:2] + [k.value for k in node.keywords if k.arg == "description"]:
                self.note(given, where, scope, module)
        if name in ("append", "extend") and isinstance(node.func.value, ast.Call) and _name(node.func.value.func) == "setdefault" \
                and _errorish(node.func.value.func.value) and node.args:
            if _shapes(node.args[0]) is not None or isinstance(node.args[0], (ast.List, ast.ListComp)):
                self.note(node.args[0], where, scope, module)
        for keyword in node.keywords:
            if keyword.arg == "error" and name in VALIDATORS:
                self.note(keyword.value, where)
            if keyword.arg == "error_messages" and isinstance(keyword.value, ast.Dict):
                for value in keyword.value.values:
                    self.note(value, where)

    def _message_function(self, function, rel: str) -> None:
        for node in ast.walk(function):
            where = f"app/{rel}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Return) and node.value is not None:
                if _shapes(node.value) is not None or isinstance(node.value, ast.List):
                    self.note(node.value, where)
            elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                self.note(node.exc.args[0], where)
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ("reason", "message") for t in node.targets):
                if _shapes(node.value) is not None:
                    self.note(node.value, where)


@functools.cache
def _walked() -> _Walk:
    walk = _Walk()
    walk.walk()
    return walk


def app_messages() -> dict[str, str]:
    """Our own messages, as templates with `{}` placeholders, and where each is written."""
    return _walked().found


def library_messages() -> dict[str, str]:
    """marshmallow's and webargs' default messages, and werkzeug's descriptions of the HTTP errors we answer."""
    found: dict[str, str] = {}
    for module in (ma.fields, webargs.fields):
        for name, cls in vars(module).items():
            if inspect.isclass(cls) and issubclass(cls, ma.fields.Field):
                for klass in cls.__mro__:
                    for message in getattr(klass, "default_error_messages", {}).values():
                        found.setdefault(message, f"{module.__name__}.{name}")
    for message in ma.Schema._default_error_messages.values():
        found.setdefault(message, "marshmallow.Schema")
    for name in sorted(VALIDATORS):
        cls = getattr(ma.validate, name)
        for attribute, value in vars(cls).items():
            if (attribute.startswith("message_") or attribute == "default_message") and isinstance(value, str):
                found.setdefault(value, f"marshmallow.validate.{name}.{attribute}")
    # Range's messages are templates of templates: "Must be {min_op} {{min}}." with min_op "greater than" or
    # "greater than or equal to"; what a reader gets is each filled in, never the parts.
    rng = ma.validate.Range
    for part in (rng.message_min, rng.message_max, rng.message_all, rng.message_gte, rng.message_gt, rng.message_lte,
                 rng.message_lt):
        found.pop(part, None)
    for low in (rng.message_gte, rng.message_gt):
        for high in (rng.message_lte, rng.message_lt):
            for template in (rng.message_min.format(min_op=low), rng.message_max.format(max_op=high),
                             rng.message_all.format(min_op=low, max_op=high)):
                found.setdefault(template, "marshmallow.validate.Range")
    found.setdefault("Invalid value.", "webargs.core.Parser.DEFAULT_VALIDATION_MESSAGE")
    for status in _HTTP_CODES:
        found.setdefault(http.default_exceptions[status].description, f"werkzeug {status}")
    return found


def _shape(template: str) -> str:
    return re.sub(r"\{[^{}]*\}", "{}", template)


def test_every_message_has_a_chinese_entry():
    catalog = {_shape(english) for english in MESSAGES}
    wanted = {**library_messages(), **app_messages()}
    missing = sorted(f"{where}: {message!r}" for message, where in wanted.items() if _shape(message) not in catalog)
    assert not missing, f"{len(missing)} messages have no entry in app/common/messages_zh.py:\n" + "\n".join(missing)


def test_the_walk_reads_every_message_given_to_a_domain_error():
    walk = _walked()
    assert not walk.unread, "messages the walk cannot read; write them where they are raised, or teach the walk:\n" \
        + "\n".join(walk.unread)


def test_the_walk_finds_messages_of_each_kind():
    walk = _walked()
    for rel, names in MESSAGE_FUNCTIONS.items():
        defined = {n.name for n in ast.walk(walk.trees[APP / rel]) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert names <= defined, f"MESSAGE_FUNCTIONS names what app/{rel} no longer defines: {sorted(names - defined)}"
    found = walk.found
    for message in ("Someone else has taken this task.",              # Conflict
                    "This task is already completed.",                # a table of (code, message)
                    "A {} task cannot be {}ed.",                      # a default in that lookup
                    "Longer than maximum length {}.",                 # errors[key] = [f"..."]
                    "must be an object",                              # return {}, {prefix: [...]}
                    "is in the future",                               # errors.setdefault(...).append(...)
                    "Andon {} is already active on this {}.",         # a helper taking `message: str`
                    "unknown product {}",                             # ErrorList.add
                    "must use https",                                 # EndpointRefused
                    "{} must be longer than zero",                    # measure_duration's ValueError
                    "must be a text or a number",                     # _value_problem's return
                    "not a phone number such as +86 138 0000 0000"):  # a validator's error=
        assert message in found, message


def test_catalog_templates_are_well_formed():
    for english, chinese in MESSAGES.items():
        found = re.findall(r"\{([^{}]*)\}", english)
        names = set(found)
        assert all(name.isidentifier() for name in found), f"name every placeholder with a word: {english!r}"
        assert len(names) == len(found), f"a name may stand for one part only: {english!r}"
        assert set(re.findall(r"\{(\w*)\}", chinese)) <= names, f"{chinese!r} uses a placeholder {english!r} has not"
        assert not re.search(r"\}\{", english), f"two placeholders side by side cannot be told apart: {english!r}"
        assert re.sub(r"\{\w+\}", "", english).strip(), f"a template of placeholders alone would match anything: {english!r}"
        assert chinese != english, english
        filled = _fill(english)
        assert i18n.translate(filled, "zh-CN") != filled, f"{english!r} does not match its own message"


def _fill(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"<{m.group(1)}>", template)
