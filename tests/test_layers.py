"""The structure the folders promise: the data flows one way (text -> tree -> engines -> check
-> results -> render -> command line), modules import nothing downstream of them, there are no
import cycles, and an import inside a function is there only to keep a heavy library (torch,
SymPy, FLINT, NumPy, Polars, Rich) off a fast path, or, in the two modules that choose the
path, to keep a command's work off --help and TAB completion; with a comment saying which."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "gradcli"
HEAVY = {"torch", "sympy", "flint", "numpy", "polars", "mpmath", "pandas", "pyarrow", "rich"}
HEAVY |= {"matplotlib"}
HEAVY |= {"typer", "click"}
HEAVY |= {"prompt_toolkit"}  # (0.1-0.25 s: only gradcli repl on a terminal needs it)
#: the modules that choose between the fast paths (TAB completion; --help and --version; a call
#: the warm server takes) and the work of a command: they import what only one side needs
#: inside the function that needs it
FAST_PATH_GATES = {"gradcli.__main__", "gradcli.cli.app", "gradcli.server.client"}

#: what each part of the package may import (besides itself); errors and limits are leaves
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "limits": set(),
    "files": {"errors"},
    "language": {"errors", "limits"},
    "results": {"errors", "limits", "language"},
    "engines": {"errors", "limits", "language", "results"},
    "check": {"errors", "limits", "language", "results", "engines"},
    "explain": {"errors", "limits", "language", "results", "engines", "check"},
    "batch": {"errors", "limits", "files", "language", "results", "engines", "check"},
    "render": {"errors", "limits", "language", "results"},
    "api": {"errors", "limits", "language", "results", "engines", "check", "explain", "batch"},
    "cli": {
        "errors",
        "limits",
        "files",
        "language",
        "results",
        "api",
        "render",
        "batch",
        "server",
        "__init__",
    },
    "server": {"__init__"},  # (the calling side of the warm server: light)
    "daemon": {"cli", "engines", "server", "__main__", "__init__"},  # (the server process)
    "__main__": {"cli", "errors", "server"},
    "__init__": set(),
    "_dev": {"errors", "limits", "language", "results", "engines", "cli", "__init__"},
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module(p): p for p in ROOT.rglob("*.py")}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(module: str) -> list[tuple[int, bool, str]]:
    """(line, inside a function, imported module) for every import of ``module``; imports
    under ``if TYPE_CHECKING:`` do not run and are left out."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: list[tuple[int, bool, str]] = []

    def visit(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                out.extend((child.lineno, inside, a.name) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base_parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*base_parts, *([child.module] if child.module else [])])
                else:
                    base = child.module or ""
                for a in child.names:
                    full = f"{base}.{a.name}"
                    out.append((child.lineno, inside, full if full in MODULES else base))
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return out


def test_the_data_flows_one_way() -> None:
    wrong = []
    for module in MODULES:
        part = _part(module)
        for line, _, target in _imports(module):
            if not target.startswith("gradcli"):
                continue
            to = _part(target)
            if to != part and to not in ALLOWED[part]:
                wrong.append(f"{module}:{line} imports {target}")
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = {
        m: {t for _, inside, t in _imports(m) if not inside and t in MODULES and t != m}
        for m in MODULES
    }
    # (a package's __init__ importing its own modules is no cycle of the flow)
    state: dict[str, int] = {}
    cycles: list[str] = []

    def walk(m: str, trail: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join([*trail[trail.index(t) :], t]))
            elif t not in state:
                walk(t, [*trail, t])
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            walk(m, [m])
    assert cycles == []


def _heavy_modules() -> set[str]:
    heavy: dict[str, bool] = {}

    def check(m: str, seen: frozenset[str]) -> bool:
        if m in heavy:
            return heavy[m]
        found = False
        for _, inside, t in _imports(m):
            if inside:
                continue
            if t.split(".")[0] in HEAVY or (
                t in MODULES and t not in seen and check(t, seen | {m})
            ):
                found = True
        heavy[m] = found
        return found

    for m in MODULES:
        check(m, frozenset())
    return {m for m, h in heavy.items() if h}


def test_imports_inside_functions_keep_heavy_libraries_off_fast_paths() -> None:
    heavy = _heavy_modules()
    wrong = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        for line, inside, target in _imports(module):
            if not inside:
                continue
            top = target.split(".")[0]
            is_heavy = top in HEAVY or (top == "gradcli" and target in heavy)
            text = lines[line - 1]
            above = lines[line - 2].strip() if line >= 2 else ""
            commented = "#" in text or above.startswith("#")
            if not is_heavy and module not in FAST_PATH_GATES:
                wrong.append(f"{module}:{line}: {target} is light: import it at the top")
            elif not commented:
                wrong.append(f"{module}:{line}: say why {target} is imported here")
    assert wrong == []


def test_the_command_lines_fast_paths_import_nothing_heavy() -> None:
    heavy = _heavy_modules()
    assert "gradcli.cli.completion" not in heavy
    assert "gradcli.language.parser" not in heavy
    assert "gradcli.api" not in heavy
