"""Every tutorial notebook executes end to end in quick mode on CPU and is committed clean."""
from __future__ import annotations

import json

import pytest

from decomr.reproduce import list_notebooks, run_notebook

NOTEBOOKS = list_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, f"{path.name} has outputs"
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert sources and nb["cells"][0]["cell_type"] == "markdown", "starts with a title/intro"
    assert any("QUICK = True" in s for s in sources), "has a parameters cell with QUICK = True"
    assert not any(line.lstrip().startswith(("!pip", "!wget", "%pip")) for s in sources for line in s.splitlines())


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_in_quick_mode(path, tmp_path):
    run = run_notebook(path, quick=True, out_dir=tmp_path)
    assert run.executed_copy.exists()
