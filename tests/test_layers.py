"""The core's imports point down: no cycle, no import from a higher layer, no paper importing another."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cocorr_core"
# Lower numbers sit lower; a module may import its own layer or any layer below it.
LAYERS = {"__init__": 0, "ground": 0, "data": 1, "linalg": 1, "models": 2, "measures": 3, "training": 3,
          "kernels": 3, "lipschitz": 3, "attacks": 4, "runs": 5, "papers": 6, "catalog": 7, "cli": 8}
WORKAROUNDS = ("importlib", "inspect")   # imports by name at run time, signature sniffing
ALLOWED = ("importlib.metadata",)         # installed package versions, for provenance


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Every package module imported anywhere in the file (function bodies included)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    modules = {module_name(p, root) for p in root.rglob("*.py")}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{a.name}" for a in node.names} & modules  # `from . import data`
            found |= submodules or {target}
    return {m for m in found if m in modules and m != name}


def layer_of(module: str) -> tuple[int, str | None]:
    """(layer rank, paper name or None) of a dotted module name inside the package."""
    parts = module.split(".")[1:] or ["__init__"]
    paper = parts[1] if parts[0] == "papers" and len(parts) > 1 else None
    return LAYERS[parts[0]], paper


def violations(root: Path) -> list[str]:
    graph = {module_name(p, root): imports_of(p, root) for p in sorted(root.rglob("*.py"))}
    problems = []
    for mod, targets in graph.items():
        rank, paper = layer_of(mod)
        for t in sorted(targets):
            t_rank, t_paper = layer_of(t)
            if t_rank > rank:
                problems.append(f"upward import: {mod} -> {t}")
            if paper and t_paper and paper != t_paper:
                problems.append(f"paper-to-paper import: {mod} -> {t}")
    # cycles: depth-first search with colours
    state: dict[str, int] = {}

    def visit(mod: str, stack: list[str]) -> None:
        state[mod] = 1
        for t in sorted(graph.get(mod, ())):
            if state.get(t) == 1:
                problems.append("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[mod] = 2

    for mod in graph:
        if mod not in state:
            visit(mod, [mod])
    return problems


def test_the_package_imports_only_point_down():
    assert violations(PACKAGE) == []


def test_every_module_belongs_to_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer_of(module_name(path, PACKAGE))  # a KeyError names a module outside every layer


def test_no_runtime_import_workarounds():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for n in names:
                if n not in ALLOWED:
                    assert n.split(".")[0] not in WORKAROUNDS, f"{path.relative_to(PACKAGE)} imports {n}"


def _write(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "cocorr_core"
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    return pkg


@pytest.mark.parametrize("files, expected", [
    ({"__init__.py": "", "models.py": "from .runs import store\n", "runs/__init__.py": "",
      "runs/store.py": ""}, "upward import: cocorr_core.models -> cocorr_core.runs"),
    ({"__init__.py": "", "training.py": "def f():\n    from .measures import x\n",
      "measures.py": "from .training import y\n"}, "import cycle"),
    ({"__init__.py": "", "papers/__init__.py": "", "papers/a/__init__.py": "from ..b import thing\n",
      "papers/b/__init__.py": ""}, "paper-to-paper import: cocorr_core.papers.a -> cocorr_core.papers.b"),
    ({"__init__.py": "", "papers/__init__.py": "", "papers/a/__init__.py": "from ...cli import main\n",
      "cli.py": ""}, "upward import: cocorr_core.papers.a -> cocorr_core.cli"),
])
def test_the_walker_finds_each_kind_of_violation(tmp_path, files, expected):
    found = violations(_write(tmp_path, files))
    assert any(v.startswith(expected) for v in found), found


def test_the_walker_accepts_a_clean_tree(tmp_path):
    pkg = _write(tmp_path, {"__init__.py": "", "ground/__init__.py": "", "ground/errors.py": "",
                            "models.py": "from .ground.errors import x\n", "papers/__init__.py": "",
                            "papers/a/__init__.py": "from ...models import y\nfrom . import z\n",
                            "papers/a/z.py": "", "cli.py": "from .papers import a\n"})
    assert violations(pkg) == []
