"""Every tutorial notebook executes end to end in quick mode on CPU and is committed clean."""
from __future__ import annotations

import json
import re

import pytest

from decomr.reproduce import MAX_NOTEBOOK_BYTES, lighten_notebook, list_notebooks, run_notebook

NOTEBOOKS = list_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_executed_light_and_clean(path):
    """Committed with its quick-mode outputs (`make notebooks`): every code cell ran, in order, without
    an error; no widget state; within the size cap; the parameters cell says QUICK = True."""
    raw = path.read_bytes()
    assert len(raw) <= MAX_NOTEBOOK_BYTES, f"{path.name}: {len(raw) / 2**20:.1f} MiB (cap {MAX_NOTEBOOK_BYTES / 2**20:.0f})"
    nb = json.loads(raw)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: execution counts {counts} (run `make notebooks`)"
    assert "widgets" not in nb.get("metadata", {}), "widget state is not committed"
    for cell in code:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{path.name}: an error output"
            text = "".join(out.get("text", "")) if out["output_type"] == "stream" else ""
            assert "Traceback" not in text, f"{path.name}: a traceback in the output"
            for key in out.get("data", {}):
                assert "widget" not in key and "plotly" not in key, f"{path.name}: {key} output (no picture)"
    assert any(c.get("outputs") for c in code), "the notebook shows its outputs"
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert sources and nb["cells"][0]["cell_type"] == "markdown", "starts with a title/intro"
    assert any(re.search(r"^QUICK = True\b", s, flags=re.M) for s in sources), "parameters cell with QUICK = True"
    assert not any(line.lstrip().startswith(("!pip", "!wget", "%pip")) for s in sources for line in s.splitlines())


def test_lighten_notebook_drops_widgets_and_shrinks_pictures():
    import base64
    import io

    import nbformat
    import numpy as np
    from PIL import Image

    noise = (np.random.default_rng(0).random((600, 2000, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    big = base64.b64encode(buf.getvalue()).decode()
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"state": {}}})
    out = nbformat.v4.new_output("display_data", data={"image/png": big, "text/plain": "x",
                                                      "application/vnd.jupyter.widget-view+json": {"model_id": "1"}})
    bar = nbformat.v4.new_output("display_data", data={"text/plain": "HBox(children=(HTML(value='')))",
                                                      "application/vnd.jupyter.widget-view+json": {"model_id": "2"}})
    text = nbformat.v4.new_output("stream", name="stdout", text="kept\n")
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[out, bar, text], execution_count=1)]
    lighten_notebook(nb)
    assert len(nb.cells[0].outputs) == 2 and nb.cells[0].outputs[1]["text"] == "kept\n"  # the bar is gone
    data = nb.cells[0].outputs[0]["data"]
    assert "widgets" not in nb.metadata and set(data) == {"image/png", "text/plain"}
    small = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
    assert small.width == 1400 and len(data["image/png"]) < len(big)


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_in_quick_mode(path, tmp_path):
    run = run_notebook(path, quick=True, out_dir=tmp_path)
    assert run.executed_copy.exists()
