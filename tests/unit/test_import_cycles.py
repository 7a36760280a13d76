"""No import cycles inside ``lastcall``, read from the source (nothing is imported).

A cycle means two modules that cannot be understood, tested or loaded apart;
each one so far was a missing interface (a Protocol, a shared vocabulary
module). The graph is built with ``ast``: every ``import``/``from ... import``
of a ``lastcall`` module, wherever it stands: a function-level import is still
a dependency, and so is one under ``if TYPE_CHECKING:`` (a module that needs
another's types to be understood depends on it; hiding the import from the
interpreter only hides the cycle).

Strongly connected components are found with Tarjan's algorithm; any
component of two or more modules (or a module importing itself) fails the
test, unless it is listed in ``KNOWN_CYCLES`` below.
"""

from __future__ import annotations

import ast
import pathlib

import lastcall

ROOT = pathlib.Path(lastcall.__file__).parent

#: Cycles being removed right now by other work (issue 10: a ``CycleOwner``
#: Protocol for ``RequestCycle``, a stream-handler Protocol in
#: ``server/multiplexed.py`` for the RFC 8441 WebSocket stream). Each entry is
#: the set of modules in the cycle (a cycle found must be one of them or
#: smaller); empty this list as they land, and never add to it.
KNOWN_CYCLES: list[frozenset[str]] = []


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The ``lastcall`` modules that ``tree`` (module ``name``) imports, anywhere."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()

    def target(dotted: str) -> str | None:
        # ``from a.b import c`` may name a submodule ``a.b.c`` or an attribute of ``a.b``.
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lastcall"):
                    hit = target(alias.name)
                    if hit:
                        found.add(hit)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            if base.startswith("lastcall"):
                for alias in node.names:
                    hit = target(f"{base}.{alias.name}")
                    if hit:
                        found.add(hit)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(name)
    # Importing ``a.b.c`` runs ``a`` and ``a.b`` first, but a package's own
    # ``__init__`` importing its children is how packages work, not a cycle:
    # only edges to the named module count.
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(files)
    return {
        name: _imports(ast.parse(path.read_text()), name, path.name == "__init__.py", modules)
        for name, path in files.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def test_the_checker_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]


def test_the_graph_sees_relative_and_function_level_imports() -> None:
    graph = import_graph()
    # engine.py imports ``from .control_frames import ControlFrames`` at module level.
    assert "lastcall.engines.http2.control_frames" in graph["lastcall.engines.http2.engine"]
    assert "lastcall.engines.phases" in graph["lastcall.engines.http3.sending"]


def test_no_import_cycles() -> None:
    found = sorted(cycles(import_graph()), key=sorted)
    # A known cycle may shrink while its owner works on it, never grow.
    unexpected = [sorted(c) for c in found if not any(c <= known for known in KNOWN_CYCLES)]
    assert unexpected == [], f"import cycles: {unexpected}"


def test_known_cycles_are_still_there() -> None:
    """A cycle that was removed must leave ``KNOWN_CYCLES`` too, so it cannot come back."""
    found = set(cycles(import_graph()))
    gone = [sorted(k) for k in KNOWN_CYCLES if not any(c <= k for c in found)]
    assert gone == [], f"remove from KNOWN_CYCLES: {gone}"


def test_http3_does_not_import_http2() -> None:
    graph = import_graph()
    for name, imported in graph.items():
        if name.startswith("lastcall.engines.http3"):
            assert not [m for m in imported if m.startswith("lastcall.engines.http2")], name
