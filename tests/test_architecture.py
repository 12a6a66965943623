"""How the code is wired (STYLE "Layout"): apps import downward only (the import-linter contract
in pyproject.toml, run by `make lint`), no import cycles between the modules of one app, imports
at module level, jobs modules as entry points only, and every cross-app reaction declared in
apps.core.reactions."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp
import pytest

from apps.core import reactions

APPS = Path(__file__).resolve().parent.parent / "apps"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("apps")


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    edges = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_the_modules_of_an_app(graph):
    # given every app's modules
    apps = graph.find_children("apps")
    # when the cycles inside each app are listed
    cycles = {
        app: found
        for app in sorted(apps)
        if (
            found := _cycles(
                graph, {m for m in graph.modules if m == app or m.startswith(app + ".")}
            )
        )
    }
    # then there are none
    assert cycles == {}


def _function_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    found.append(f"{path.relative_to(APPS.parent)}:{inner.lineno}")
    return found


def test_imports_are_at_module_level():
    # given the app modules (AppConfig.ready may import: the app registry is loading then)
    paths = [p for p in APPS.rglob("*.py") if "migrations" not in p.parts and p.name != "apps.py"]
    # when imports inside functions are listed
    inside = [where for path in sorted(paths) for where in _function_imports(path)]
    # then there are none: an import that needs hiding in a function hides a cycle
    assert inside == []


def test_jobs_modules_are_entry_points_that_no_module_calls(graph):
    # given the jobs modules (RQ runs them by dotted path, apps.core.jobs)
    jobs = {m for m in graph.modules if m.endswith(".jobs") and m != "apps.core.jobs"}
    assert jobs, "no jobs modules found"
    # when the app modules importing them are listed
    importers = {m: sorted(graph.find_modules_that_directly_import(m)) for m in sorted(jobs)}
    # then none imports them
    assert importers == {m: [] for m in sorted(jobs)}


def test_cross_app_reactions_are_declared_and_subscribed_once():
    # given the apps are loaded (AppConfig.ready subscribed the reactions)
    # then recorded customer events reach automatic distributions, and only through this link
    assert reactions.subscriptions() == {
        "customer_events": ["apps.distributions.pipeline.queue.schedule_consume"]
    }


def test_an_undeclared_reaction_topic_is_refused():
    with pytest.raises(ValueError, match="declare it"):
        reactions.subscribe("customer_evnts", print)
