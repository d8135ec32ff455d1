"""The shape of the code: plugins use only hostline's public names, and the
core's modules import each other without a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hostline

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "src" / "hostline"
#: Importable by plugins beside the names ``hostline`` re-exports.
PUBLIC_MODULES = {"hostline", "hostline.testing"}


def _imports(tree: ast.AST, *, runtime_only: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth; with ``runtime_only``, not those
    under ``if TYPE_CHECKING:``."""
    out: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if (runtime_only and isinstance(child, ast.If)
                    and "TYPE_CHECKING" in ast.unparse(child.test)):
                walk_else(child)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append(child)
            walk(child)

    def walk_else(node: ast.If) -> None:
        for child in node.orelse:
            walk(ast.Module(body=[child], type_ignores=[]))

    walk(tree)
    return out


def _public(module: str, names: list[str]) -> list[str]:
    """What of ``from module import names`` is not public API."""
    if module in PUBLIC_MODULES:
        bad = [n for n in names if module == "hostline" and n not in hostline.__all__
               and n != "hookspecs"]
        return [f"hostline.{n}" for n in bad]
    if module.startswith("hostline."):
        head = module.split(".")[1]
        if head in hostline.__all__:  # a public submodule (hostline.markdown)
            return []
        return [module]
    return []


def test_plugins_import_only_public_hostline_names() -> None:
    offences = []
    for path in sorted(ROOT.glob("plugins/*/src/**/*.py")):
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                bad = _public(node.module, [a.name for a in node.names])
            elif isinstance(node, ast.Import):
                bad = [b for a in node.names for b in _public(a.name, [])]
            else:
                continue
            offences += [f"{path.relative_to(ROOT)}:{node.lineno}: {b}" for b in bad]
    assert offences == [], "plugins must use names re-exported by hostline:\n" + "\n".join(
        offences)


def _graph(package: Path) -> dict[str, set[str]]:
    """Module -> modules of ``package`` it imports (at any depth, not
    counting ``if TYPE_CHECKING:`` blocks)."""
    modules: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")), runtime_only=True):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                target = (f"{base}.{node.module}" if node.module else base) if node.level \
                    else (node.module or "")
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in modules else target)
            else:
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


PACKAGES = [CORE, *sorted(p for p in ROOT.glob("plugins/*/src/*") if (p / "__init__.py").exists())]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_imports_have_no_cycle(package: Path) -> None:
    """Imports inside functions count too: a lazy import is still a dependency."""
    graph = _graph(package)
    # The package itself re-exports its modules; its modules never import it.
    top = package.name
    graph.pop(top)
    assert not any(top in deps for deps in graph.values())
    done: set[str] = set()
    cycles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append(" -> ".join([*path[path.index(node):], node]))
            return
        if node in done:
            return
        for dep in sorted(graph[node]):
            visit(dep, [*path, node])
        done.add(node)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == []


def test_no_core_module_is_over_500_lines() -> None:
    """One concept per module keeps each one readable in a sitting."""
    long = {str(p.relative_to(CORE)): n for p in CORE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert long == {}
