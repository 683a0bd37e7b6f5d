"""Static pictures of the interactive viewers, for pages that cannot run them.

A notebook saved with its outputs shows an ipywidgets/plotly viewer only where a live kernel and
the widget manager exist; a repository page (GitHub, nbviewer) shows nothing. Every viewer of
:mod:`decomr.viz` therefore displays a MIME bundle with its widget **and** a PNG snapshot of its
current state: Jupyter renders the widget (the richer type), static renderers the picture.

No browser or image server is needed: the 3D mesh of a plotly figure is redrawn with matplotlib
(:func:`decomr.viz.body_plots.plot_mesh`).
"""
from __future__ import annotations

import base64
import io
import re
from typing import Any

import numpy as np

from decomr.viz.body_plots import plot_mesh

__all__ = ["figure_png", "plotly_mesh_png", "StaticFallback"]

_RGB = re.compile(r"rgb\((\d+),\s*(\d+),\s*(\d+)\)")


def figure_png(fig: Any, dpi: int = 72) -> bytes:
    """A matplotlib figure as PNG bytes (closed afterwards)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plotly_mesh_png(figure: Any, frame: str = "canonical", view: str | tuple[float, float] = "front",
                    size: tuple[float, float] = (3.6, 4.2), title: str | None = None) -> bytes:
    """The first ``Mesh3d`` trace of a plotly figure drawn with matplotlib, as PNG bytes.

    Args:
        figure: a plotly ``Figure``/``FigureWidget`` whose first trace is a ``Mesh3d``.
        frame, view: how :func:`decomr.viz.body_plots.plot_mesh` looks at it (the plotly scene's
            own y-up frame is ``"canonical"``).
        size: inches.
        title: optional caption.
    """
    import matplotlib.pyplot as plt

    mesh = figure.data[0]
    vertices = np.stack([np.asarray(mesh.x, float), np.asarray(mesh.y, float), np.asarray(mesh.z, float)], -1)
    faces = np.stack([np.asarray(mesh.i), np.asarray(mesh.j), np.asarray(mesh.k)], -1).astype(np.int64)
    colors: Any = None
    kwargs: dict[str, Any] = {}
    if mesh.facecolor is not None and len(mesh.facecolor):
        colors = np.array([[int(c) / 255 for c in _RGB.match(s).groups()] for s in mesh.facecolor])  # (F, 3)
    elif mesh.intensity is not None and len(mesh.intensity):
        colors = np.asarray(mesh.intensity, dtype=float)
        kwargs["colorbar"] = True
    elif isinstance(mesh.color, str) and _RGB.match(mesh.color):
        colors = tuple(int(c) / 255 for c in _RGB.match(mesh.color).groups())
    fig, ax = plt.subplots(figsize=size)
    plot_mesh(ax, vertices, faces, colors, view=view, frame=frame, **kwargs)
    ax.set_title(title or "static picture (run the notebook for the interactive viewer)", fontsize=7)
    return figure_png(fig)


class StaticFallback:
    """Mixin for viewers with a ``widget`` and a ``snapshot()`` -> PNG bytes method."""

    widget: Any

    def snapshot(self) -> bytes:  # pragma: no cover - implemented by each viewer
        raise NotImplementedError

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
        """The widget's MIME bundle plus an ``image/png`` picture (what static renderers show)."""
        bundle = self.widget._repr_mimebundle_()
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
        data["image/png"] = base64.b64encode(self.snapshot()).decode("ascii")
        return data

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
