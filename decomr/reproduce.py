"""Execute the tutorial notebooks (quick mode on CPU by default) — the project's main job.

Each notebook has a parameters cell containing ``QUICK = True``; :func:`run_notebook` executes a
copy with that line set to the requested mode, in the ``notebooks/`` folder, and fails on the first
error. The committed notebooks stay without outputs; executed copies go to
``data/executed_notebooks/`` for inspection. Figures are written by the notebooks to ``figures/``.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from decomr import paths

NOTEBOOK_DIR = paths.REPO_ROOT / "notebooks"
_QUICK_LINE = re.compile(r"^QUICK\s*=\s*(True|False)\b.*$", re.MULTILINE)


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
            cell.source = _QUICK_LINE.sub(f"QUICK = {quick}", cell.source, count=1)
            return
    raise ValueError("notebook has no parameters cell with a 'QUICK = True' line")


def run_notebook(path: str | Path, quick: bool = True, timeout: int = 1200, out_dir: Path | None = None) -> NotebookRun:
    """Execute one notebook in a fresh kernel and save the executed copy.

    Args:
        path: the ``.ipynb`` file.
        quick: value given to ``QUICK`` in the parameters cell.
        timeout: seconds allowed per cell.
        out_dir: where the executed copy goes (default ``data/executed_notebooks``).

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
    return NotebookRun(path=path, seconds=seconds, executed_copy=copy)


def reproduce(quick: bool = True, only: list[str] | None = None) -> list[NotebookRun]:
    """Execute the notebooks in order (all, or those whose number/name starts with ``only``)."""
    from tqdm.auto import tqdm

    notebooks = list_notebooks()
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(o) for o in only)]
        if not notebooks:
            raise ValueError(f"only: no notebook matches {only}; available: {[p.name for p in list_notebooks()]}")
    runs = []
    for nb in (bar := tqdm(notebooks, desc="notebooks", unit="nb")):
        bar.set_postfix_str(nb.name)
        runs.append(run_notebook(nb, quick=quick))
    for r in runs:
        print(f"{r.path.name:40s} {r.seconds:7.1f} s")
    print(f"figures written to {paths.figures_dir()}")
    return runs
