"""Imports point down only: every module of the five apps, read with ast (nothing is imported).

Layers, low to high: chatpresets (with chatpresets.llm, which imports no other app at all), tenancy
(with tenancy.metering, which imports of the rest of tenancy only its models), audit, presets,
conversations. The project's wiring (chatpresets' settings, urls, routing, asgi and celery, and
the package's __init__, which loads Celery) joins every app together and is left out; nothing else
may import it. Imports under `if TYPE_CHECKING:` count: a type is a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.server import ROOT

APPS = ("chatpresets", "tenancy", "audit", "presets", "conversations")  # low to high
RANK = {app: rank for rank, app in enumerate(APPS)}
WIRING = {f"chatpresets.{name}" for name in ("settings", "urls", "routing", "asgi", "celery")}
# chatpresets/__init__.py loads the Celery app at startup, as Celery's Django setup asks: wiring too.
WIRING_SOURCES = {*WIRING, "chatpresets"}
LLM = "chatpresets.llm"
METERING = "tenancy.metering"
# What metering may use of the rest of tenancy: the rows its limits are read from.
METERING_MAY_IMPORT = ("tenancy.models",)


@dataclass(frozen=True)
class Edge:
    source: str  # the importing module
    target: str  # the imported module (or package, or name's module)
    where: str  # path:line


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def app_modules() -> dict[str, Path]:
    return {module_name(path): path for app in APPS for path in sorted((ROOT / app).rglob("*.py"))}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def within_any(name: str, packages: Iterable[str]) -> bool:
    return any(within(name, package) for package in packages)


def app_of(name: str) -> str | None:
    top = name.split(".")[0]
    return top if top in RANK else None


def imported(module: str, path: Path, tree: ast.AST, known: Iterable[str]) -> Iterator[Edge]:
    """Every module of the five apps that `module` imports, resolving relative and `from pkg import mod`."""
    known = set(known)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        yield from (Edge(module, target, where) for target in dict.fromkeys(targets) if app_of(target))


def edges(sources: dict[str, str] | None = None) -> list[Edge]:
    """Import edges of the apps' modules (or of `sources`, module name to code, for the checks' own test)."""
    if sources is None:
        modules = app_modules()
        sources = {name: path.read_text() for name, path in modules.items()}
        paths = modules
    else:
        paths = {name: ROOT / (name.replace(".", "/") + ".py") for name in sources}
    found = []
    for name, code in sources.items():
        if name in WIRING_SOURCES:
            continue
        found.extend(imported(name, paths[name], parse(code), sources))
    return found


def parse(code: str) -> ast.AST:
    """ast.parse, once more if it raised SystemError: CPython 3.11 keeps one AST recursion counter per
    interpreter, so a parse in another thread of the test process can throw this one's count off
    ("AST constructor recursion depth mismatch"); the same source parses cleanly on the next try."""
    try:
        return ast.parse(code)
    except SystemError:
        return ast.parse(code)


def violation(edge: Edge) -> str | None:
    """Why this import points up, or None when it is allowed."""
    source_app, target_app = app_of(edge.source), app_of(edge.target)
    assert source_app
    assert target_app
    if edge.target in WIRING:
        return "nothing may import the project's wiring"
    if RANK[target_app] > RANK[source_app]:
        return f"{source_app} sits below {target_app}"
    if within(edge.source, LLM) and target_app != "chatpresets":
        return "chatpresets.llm imports no other app"
    rest_of_tenancy = target_app == "tenancy" and not within(edge.target, METERING)
    if within(edge.source, METERING) and rest_of_tenancy and not within_any(edge.target, METERING_MAY_IMPORT):
        return f"tenancy.metering may import only {', '.join(METERING_MAY_IMPORT)} of the rest of tenancy"
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle of a small directed graph, found once from its first node."""
    found: list[list[str]] = []

    def walk(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == trail[0]:
                found.append([*trail, nxt])
            elif nxt not in trail and nxt > trail[0]:
                walk(nxt, [*trail, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def app_graph(found: list[Edge]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for edge in found:
        source, target = app_of(edge.source), app_of(edge.target)
        if source != target:
            graph.setdefault(str(source), set()).add(str(target))
    return graph


def test_no_import_points_to_a_higher_layer() -> None:
    problems = [f"{e.where} {e.source} imports {e.target}: {why}" for e in edges() if (why := violation(e))]
    assert not problems, "imports that point up:\n" + "\n".join(problems)


def test_the_apps_import_each_other_without_cycles() -> None:
    found = cycles(app_graph(edges()))
    assert not found, "app-level import cycles: " + "; ".join(" -> ".join(cycle) for cycle in found)


def test_the_walk_sees_every_app_and_the_lower_layers() -> None:
    modules = app_modules()
    assert {app_of(name) for name in modules} == set(APPS)
    assert any(within(name, LLM) for name in modules)
    assert any(within(name, METERING) for name in modules)
    assert app_graph(edges())["conversations"] >= {"chatpresets", "tenancy", "presets", "audit"}


def test_the_check_names_each_kind_of_upward_import() -> None:
    sources = {
        "tenancy.bad": "from audit import services\n",
        "chatpresets.llm.bad": "import tenancy.models\n",
        "tenancy.metering.bad": "from tenancy import services\n",
        "tenancy.services": "",
        "audit.bad": "from presets.models import Preset\n",
        "presets.fine": "from audit import services\nfrom tenancy.models import Membership\n",
        "tenancy.metering.fine": "from tenancy.models import Membership\nfrom . import quota\n",
        "tenancy.metering.quota": "",
    }
    flagged = {e.source: why for e in edges(sources) if (why := violation(e))}
    assert set(flagged) == {"tenancy.bad", "chatpresets.llm.bad", "tenancy.metering.bad", "audit.bad"}
    assert flagged["tenancy.metering.bad"].startswith("tenancy.metering may import only")
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
