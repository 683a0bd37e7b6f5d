"""The package's layers only point down.

decomr is built in layers, each a subpackage for one concept of the paper; a module may import
from its own layer and the layers below, never from a layer above:

    foundations (conventions, paths) -> body -> uv -> render -> models -> losses -> data -> train
    -> eval -> predict -> export -> viz -> experiments -> the command line (decomr.cli, reproduce, info)

The test reads every module's source (``ast``) and checks every ``import decomr....`` and
``from decomr... import``, at module level and inside functions alike: a function-level import
hides a cycle as well as a module-level one does.

Imports of decomr sit at module level, so that a cycle fails at import time: only the lazy entry
points (:data:`LAZY_ENTRY_POINTS`) import decomr inside functions. Optional or heavy third-party
packages (libigl, onnx, playwright, plotting back ends) may still be imported where they are used.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "decomr"

#: Lowest first; names in one tuple share a layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("conventions", "paths", "_lazy"),
    ("body",),
    ("uv",),
    ("render",),
    ("models",),
    ("losses",),
    ("data",),
    ("train",),
    ("eval",),
    ("predict",),
    ("export",),
    ("viz",),
    ("experiments",),
    ("cli", "reproduce", "info", "__main__", "__init__"),
)
RANK = {name: k for k, names in enumerate(LAYERS) for name in names}

#: The only modules that import decomr inside functions, on purpose: ``import decomr`` stays light
#: (``decomr.Predictor`` on first use), ``_lazy`` resolves the subpackages' lazy names, and the
#: command line imports a subcommand when it runs (``decomr info`` stays fast).
LAZY_ENTRY_POINTS = ("__init__.py", "_lazy.py", "cli/__init__.py")


def _part(dotted: str) -> str:
    """``decomr.uv.atlas`` -> ``uv``; ``decomr`` -> ``__init__``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def internal_imports(path: Path) -> list[tuple[str, int]]:
    """(imported decomr module, line) of every import of decomr in a file, however nested."""
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "decomr":
            if node.module == "decomr":  # from decomr import uv
                found.extend((f"decomr.{a.name}", node.lineno) for a in node.names)
            else:
                found.append((node.module, node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}:{node.lineno}: relative import; decomr uses absolute imports")
        elif isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "decomr")
    return found


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """``file:line: layer -> higher layer`` for every import that points up."""
    bad = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        here = rel.parts[0].removesuffix(".py")
        for module, line in internal_imports(path):
            there = _part(module)
            if RANK[there] > RANK[here]:
                bad.append(f"decomr/{rel}:{line}: {here} imports {module} (a layer above)")
    return bad


def _is_internal(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and bool(node.module) and node.module.split(".")[0] == "decomr"
    return isinstance(node, ast.Import) and any(a.name.split(".")[0] == "decomr" for a in node.names)


def function_level_imports(package: Path = PACKAGE, allowed: tuple[str, ...] = LAZY_ENTRY_POINTS) -> list[str]:
    """``file:line: import (in function)`` for every import of decomr below module level (inside a
    function, a lambda or a class body), outside the ``allowed`` files (paths relative to ``package``)."""
    bad: dict[tuple[str, int], str] = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel in allowed:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for scope in ast.walk(tree):
            if not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            for node in ast.walk(scope):
                if _is_internal(node):  # scopes come outermost first: the innermost one names it
                    name = getattr(scope, "name", "<lambda>")
                    bad[(rel, node.lineno)] = f"decomr/{rel}:{node.lineno}: {ast.unparse(node)} (in {name})"
    return [bad[k] for k in sorted(bad)]


def test_every_part_of_the_package_has_a_layer():
    parts = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert parts == set(RANK), f"give these a layer: {sorted(parts - set(RANK))}; gone: {sorted(set(RANK) - parts)}"


def test_imports_only_point_down():
    bad = upward_imports()
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_the_check_catches_an_upward_import(tmp_path):
    pkg = tmp_path / "decomr"
    (pkg / "body").mkdir(parents=True)
    (pkg / "body" / "model.py").write_text("def f():\n    from decomr.train.loop import Trainer\n    return Trainer\n")
    (pkg / "train").mkdir()
    (pkg / "train" / "loop.py").write_text("from decomr.body.model import f\n")
    assert upward_imports(pkg) == ["decomr/body/model.py:2: body imports decomr.train.loop (a layer above)"]
    (pkg / "body" / "rel.py").write_text("from .model import f\n")
    with pytest.raises(AssertionError, match="relative import"):
        upward_imports(pkg)


def test_lazy_entry_points_exist():
    missing = [rel for rel in LAZY_ENTRY_POINTS if not (PACKAGE / rel).is_file()]
    assert not missing, f"LAZY_ENTRY_POINTS names files that are gone: {missing}"


def test_imports_of_decomr_are_at_module_level():
    bad = function_level_imports()
    assert not bad, ("imports of decomr inside functions (move them to the module's imports; "
                     "a cycle this reveals is broken by moving code, not by a local import):\n" + "\n".join(bad))


def test_the_check_catches_a_function_level_import(tmp_path):
    pkg = tmp_path / "decomr"
    (pkg / "body").mkdir(parents=True)
    (pkg / "cli").mkdir()
    (pkg / "body" / "base.py").write_text("X = 1\n")
    (pkg / "body" / "model.py").write_text(
        "import json\n\nfrom decomr.body.base import X\n\n\n"
        "def f():\n    import numpy\n    from decomr.body import base\n    return base, numpy\n\n\n"
        "class C:\n    def g(self):\n        def h():\n            import decomr.body.base\n        return h\n")
    (pkg / "__init__.py").write_text("def __getattr__(name):\n    from decomr import body\n    return body\n")
    (pkg / "cli" / "__init__.py").write_text("def main():\n    from decomr.body.model import f\n    return f()\n")
    assert function_level_imports(pkg, allowed=("__init__.py", "cli/__init__.py")) == [
        "decomr/body/model.py:8: from decomr.body import base (in f)",
        "decomr/body/model.py:15: import decomr.body.base (in h)",
    ]
    assert function_level_imports(pkg, allowed=()) == [
        "decomr/__init__.py:2: from decomr import body (in __getattr__)",
        "decomr/body/model.py:8: from decomr.body import base (in f)",
        "decomr/body/model.py:15: import decomr.body.base (in h)",
        "decomr/cli/__init__.py:2: from decomr.body.model import f (in main)",
    ]
