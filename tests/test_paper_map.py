"""The paper <-> code map in notebooks/README.md points at code and notebook sections that exist."""
from __future__ import annotations

import importlib
import json
import re
import types

import pytest

from decomr.paths import REPO_ROOT

MAP = REPO_ROOT / "notebooks" / "README.md"


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def _rows():
    return [line for line in MAP.read_text().splitlines() if line.startswith("| ") and "`decomr." in line]


def test_every_named_function_exists():
    names = sorted({n for line in _rows() for n in re.findall(r"`(decomr(?:\.\w+)+)`", line)})
    assert len(names) > 40
    missing = []
    for name in names:
        try:
            obj = _resolve(name)
            assert callable(obj) or isinstance(obj, types.ModuleType)
        except (ImportError, AttributeError, AssertionError):
            missing.append(name)
    assert not missing, f"notebooks/README.md names code that does not exist: {missing}"


def _sections():
    found = {}
    for path in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        nb = json.loads(path.read_text())
        heads = "".join("".join(c["source"]) + "\n" for c in nb["cells"] if c["cell_type"] == "markdown")
        found[path.name[:2]] = {int(m) for m in re.findall(r"^## (\d+)\.", heads, flags=re.M)}
    return found


def test_every_notebook_section_exists():
    sections = _sections()
    refs = []
    for line in _rows():
        cell = line.rstrip(" |").rsplit("|", 1)[-1]
        for nb, a, b in re.findall(r"(\d\d) §(\d+)(?:–(\d+))?", cell):
            refs.append((nb, int(a), int(b or a)))
    assert len(refs) > 25
    bad = [r for r in refs if r[0] not in sections or not set(range(r[1], r[2] + 1)) <= sections[r[0]]]
    assert not bad, f"notebooks/README.md points at notebook sections that do not exist: {bad}"


@pytest.mark.parametrize("eq", range(1, 11))
def test_every_equation_is_mapped(eq):
    assert any(line.startswith(f"| Eq. {eq} |") for line in _rows())
