"""Packages import one way, and no import hides inside a function to dodge a cycle.

The layers, lowest first: a package may import only from the packages before it (and from itself).
A lower layer that must reach a higher one takes a callback that the higher one registers
(e.g. `flows.service.register_usage_check`, `workorders.service.register_detail_part`, the guard's
authenticator and idempotency's caller, which the app factory hands in).
"""
import ast
import pathlib

APP = pathlib.Path(__file__).resolve().parent.parent / "app"

LAYERS = [
    "errors", "extensions", "config", "aws", "common", "calendars", "org", "auth", "notify", "flows", "workorders", "escalation",
    "quality", "metrics",
    # The wiring above every domain: the app factory and what it assembles.
    "jobs", "seed", "web", "error_handlers", "gunicorn_conf", "cli", "__init__", "wsgi",
]
# Where an import inside a function is expected: the factory and the CLI wire things up lazily, and the push
# nudge loads boto3 (through app.aws) only when a queue is configured.
LAZY_IMPORTS_ALLOWED = {"__init__.py", "cli.py", "notify/nudge.py"}


def _package(path: pathlib.Path) -> str:
    parts = path.relative_to(APP).parts
    return parts[0] if len(parts) > 1 else path.stem


def _submodule(name: str) -> str:
    """`from app import x`: a module or package of the app, or a name the app package itself defines."""
    return name if (APP / name).is_dir() or (APP / f"{name}.py").exists() else "__init__"


def _app_imports(tree: ast.AST):
    """(module imported, line, inside a function?) for every `app.*` import, wherever it is."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(n) for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"app.{_submodule(alias.name)}" for alias in node.names] if node.module == "app" else [node.module]
        else:
            continue
        for name in names:
            if name.startswith("app."):
                yield name.split(".")[1], node.lineno, id(node) in inside


def _edges():
    for path in sorted(APP.rglob("*.py")):
        source = _package(path)
        for target, line, lazy in _app_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if target != source:
                yield source, target, f"{path.relative_to(APP.parent)}:{line}", lazy, path


def test_every_package_is_in_a_layer():
    packages = {_package(path) for path in APP.rglob("*.py")}
    assert packages <= set(LAYERS), f"place these in LAYERS: {sorted(packages - set(LAYERS))}"


def test_packages_import_only_from_lower_layers():
    upward = [f"{where}: {source} imports {target}" for source, target, where, _, _ in _edges()
              if LAYERS.index(target) > LAYERS.index(source)]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_there_is_no_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for source, target, _, _, _ in _edges():
        graph.setdefault(source, set()).add(target)
    state: dict[str, str] = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_no_import_of_the_app_hides_in_a_function():
    hidden = [where for _, _, where, lazy, path in _edges()
              if lazy and str(path.relative_to(APP)) not in LAZY_IMPORTS_ALLOWED]
    assert not hidden, "move these imports to the top of their module:\n" + "\n".join(hidden)


def test_the_check_sees_an_upward_import(tmp_path):
    """The walk finds imports inside functions too (a check that cannot fail is no check)."""
    tree = ast.parse("def f():\n    from app.metrics.summary import x\n")
    assert list(_app_imports(tree)) == [("metrics", 2, True)]
