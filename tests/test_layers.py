"""The package's layers only point down.

decomr is built in layers, each a subpackage for one concept of the paper; a module may import
from its own layer and the layers below, never from a layer above:

    foundations (conventions, paths) -> body -> uv -> render -> models -> losses -> data -> train
    -> eval -> predict -> export -> viz -> experiments -> the command line (decomr.cli, reproduce, info)

The test reads every module's source (``ast``) and checks every ``import decomr....`` and
``from decomr... import``, at module level and inside functions alike: a function-level import
hides a cycle as well as a module-level one does.
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
