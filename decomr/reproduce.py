"""Execute the tutorial notebooks (quick mode on CPU by default) — the project's main job.

Each notebook has a parameters cell containing ``QUICK = True``; :func:`run_notebook` executes a
copy with that line set to the requested mode, in the ``notebooks/`` folder, and fails on the first
error. Executed copies go to ``data/executed_notebooks/`` for inspection; figures are written by
the notebooks to ``figures/``.

The committed notebooks carry their quick-mode outputs so that they read well on a repository
page: ``make notebooks`` (``decomr reproduce --commit-outputs``) executes them in order and writes
them back made light by :func:`lighten_notebook` (no widget state, live widgets replaced by their
static pictures, large PNGs re-encoded, at most :data:`MAX_NOTEBOOK_BYTES` each).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from decomr import paths

NOTEBOOK_DIR = paths.REPO_ROOT / "notebooks"
_QUICK_LINE = re.compile(r"^(QUICK\s*=\s*)(True|False)\b", re.MULTILINE)
#: Size cap of a committed notebook with its outputs.
MAX_NOTEBOOK_BYTES = 3 * 2**20
#: Widget MIME types: meaningless without the kernel that made them (their pictures stay).
_WIDGET_TYPES = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json",
                 "application/vnd.plotly.v1+json")


@dataclass(frozen=True)
class NotebookRun:
    """Result of one executed notebook."""

    path: Path
    seconds: float
    executed_copy: Path


def list_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered tutorial notebooks (``NN_name.ipynb``), in order."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def set_quick(nb, quick: bool) -> None:
    """Set ``QUICK = ...`` in the notebook's parameters cell (the first cell that defines it).

    Raises:
        ValueError: the notebook has no parameters cell with a ``QUICK = True/False`` line.
    """
    for cell in nb.cells:
        if cell.cell_type == "code" and _QUICK_LINE.search(cell.source):
            cell.source = _QUICK_LINE.sub(rf"\g<1>{quick}", cell.source, count=1)  # the comment stays
            return
    raise ValueError("notebook has no parameters cell with a 'QUICK = True' line")


def lighten_notebook(nb, max_png_bytes: int = 120_000, max_width: int = 1400) -> None:
    """Make an executed notebook light enough to commit (in place).

    Drops widget state and widget/plotly MIME data (their ``image/png`` fallback and text stay,
    :mod:`decomr.viz.static`); re-encodes PNGs larger than ``max_png_bytes`` with a 256-colour
    palette (and at most ``max_width`` pixels wide); removes execution timing metadata.
    """
    import base64
    import io

    from PIL import Image

    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                kept.append(out)
                continue
            had_widget = any(key in data for key in _WIDGET_TYPES)
            for key in _WIDGET_TYPES:
                data.pop(key, None)
            if had_widget and set(data) <= {"text/plain"}:
                continue  # a widget without a picture (e.g. a tqdm bar): its repr says nothing
            kept.append(out)
            html = data.get("text/html", "")
            if len(html) > 100_000:  # e.g. a plotly figure carrying plotly.js: keep its picture or a note
                data.pop("text/html")
                data.setdefault("text/plain", "(interactive figure: run the notebook to see it)")
            if "image/png" in data:
                raw = base64.b64decode(data["image/png"])
                if len(raw) > max_png_bytes:
                    img = Image.open(io.BytesIO(raw)).convert("RGB")
                    if img.width > max_width:
                        img = img.resize((max_width, round(img.height * max_width / img.width)), Image.LANCZOS)
                    buf = io.BytesIO()
                    img.quantize(256, method=Image.Quantize.MEDIANCUT).save(buf, format="PNG", optimize=True)
                    if buf.tell() < len(raw):
                        data["image/png"] = base64.b64encode(buf.getvalue()).decode("ascii")
                out.get("metadata", {}).pop("image/png", None)  # stale width/height hints
        if "outputs" in cell:
            cell.outputs = kept


def run_notebook(path: str | Path, quick: bool = True, timeout: int = 1200, out_dir: Path | None = None,
                 in_place: bool = False) -> NotebookRun:
    """Execute one notebook in a fresh kernel and save the executed copy.

    Args:
        path: the ``.ipynb`` file.
        quick: value given to ``QUICK`` in the parameters cell.
        timeout: seconds allowed per cell.
        out_dir: where the executed copy goes (default ``data/executed_notebooks``).
        in_place: also write the executed notebook back to ``path``, made light by
            :func:`lighten_notebook` (quick mode only: committed notebooks show quick outputs).

    Raises:
        FileNotFoundError: no such notebook.
        nbclient.exceptions.CellExecutionError: a cell failed (the message shows the traceback).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"notebook not found: {path}")
    nb = nbformat.read(path, as_version=4)
    set_quick(nb, quick)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    seconds = time.perf_counter() - start
    out_dir = out_dir or paths.sub_dir("executed_notebooks")
    copy = Path(out_dir) / path.name
    nbformat.write(nb, copy)
    if in_place:
        if not quick:
            raise ValueError("in_place: only quick-mode outputs are committed (quick=True)")
        lighten_notebook(nb)
        text = nbformat.writes(nb) + "\n"
        if len(text.encode()) > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"{path.name}: {len(text.encode()) / 2**20:.1f} MiB with its outputs, more than the "
                             f"{MAX_NOTEBOOK_BYTES / 2**20:.0f} MiB cap: draw lighter figures")
        paths.atomic_write_bytes(path, text.encode())
    return NotebookRun(path=path, seconds=seconds, executed_copy=copy)


def reproduce(quick: bool = True, only: list[str] | None = None, commit_outputs: bool = False) -> list[NotebookRun]:
    """Execute the notebooks in order (all, or those whose number/name starts with ``only``);
    with ``commit_outputs``, write each back with its (light) outputs (:func:`run_notebook`)."""
    from tqdm.auto import tqdm

    notebooks = list_notebooks()
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(o) for o in only)]
        if not notebooks:
            raise ValueError(f"only: no notebook matches {only}; available: {[p.name for p in list_notebooks()]}")
    runs = []
    for nb in (bar := tqdm(notebooks, desc="notebooks", unit="nb")):
        bar.set_postfix_str(nb.name)
        runs.append(run_notebook(nb, quick=quick, in_place=commit_outputs))
    for r in runs:
        print(f"{r.path.name:40s} {r.seconds:7.1f} s")
    print(f"figures written to {paths.figures_dir()}")
    return runs
