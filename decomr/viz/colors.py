"""One colour palette for the whole project (figures, notebooks, viewers).

Colours come from the Okabe-Ito colour-blind-safe palette. The convention everywhere: the
body's **left** side is warm (vermillion / orange), its **right** side cool (blue / sky blue),
the centre line neutral. Part indices follow :mod:`decomr.body.parts`:

* weight-map groups (supplementary Sec. 3, Eq. 6): 0 torso, 1 neck & head, 2 arms & legs,
  3 hands & feet;
* LSP parts (Table 4): 0 background, 1 head, 2 torso, 3 left arm, 4 right arm, 5 left leg,
  6 right leg.

>>> lsp_part_rgb([0, 3, 4]).shape
(3, 3)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

#: Okabe-Ito palette (hex).
OKABE_ITO: dict[str, str] = {
    "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000",
}

LEFT_COLOR = OKABE_ITO["vermillion"]  # the body's left side (x > 0 in the canonical frame)
RIGHT_COLOR = OKABE_ITO["blue"]  # the body's right side
CENTRE_COLOR = "#444444"  # joints on the midline
MESH_COLOR = "#C8C8D0"  # neutral skin for shaded meshes

#: Eq. 6 weight-map groups, in the order of ``decomr.body.parts.WEIGHT_GROUP_NAMES``.
WEIGHT_GROUP_COLORS: tuple[str, ...] = (
    OKABE_ITO["green"],  # torso          (lambda 1)
    OKABE_ITO["purple"],  # neck & head    (lambda 2)
    OKABE_ITO["sky_blue"],  # arms & legs    (lambda 5)
    OKABE_ITO["orange"],  # hands & feet   (lambda 25)
)

#: Table 4 LSP parts, in the order of ``decomr.body.parts.LSP_PART_NAMES`` (0 = background).
LSP_PART_COLORS: tuple[str, ...] = (
    "#000000",  # background
    OKABE_ITO["purple"],  # head
    OKABE_ITO["green"],  # torso
    OKABE_ITO["vermillion"],  # left arm
    OKABE_ITO["blue"],  # right arm
    OKABE_ITO["orange"],  # left leg
    OKABE_ITO["sky_blue"],  # right leg
)


def hex_to_rgb(color: str) -> tuple[float, float, float]:
    """``"#RRGGBB"`` -> (r, g, b) floats in [0, 1]."""
    c = color.lstrip("#")
    if len(c) != 6:
        raise ValueError(f"color: expected '#RRGGBB', got {color!r}")
    return tuple(int(c[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def palette_rgb(palette: Sequence[str]) -> np.ndarray:
    """(K, 3) float RGB array of a list of hex colours."""
    return np.array([hex_to_rgb(c) for c in palette], dtype=np.float64)


def label_rgb(labels, palette: Sequence[str]) -> np.ndarray:
    """Colour integer labels with a palette.

    Args:
        labels: (...) integer labels in ``[0, len(palette))`` (array, list or tensor).
        palette: K hex colours.

    Returns:
        (..., 3) float RGB in [0, 1].
    """
    lab = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if lab.size and (lab.min() < 0 or lab.max() >= len(palette)):
        raise ValueError(f"labels: expected values in [0, {len(palette) - 1}], got [{lab.min()}, {lab.max()}]")
    return palette_rgb(palette)[lab.astype(np.int64)]


def lsp_part_rgb(labels) -> np.ndarray:
    """(..., 3) RGB of LSP part labels (0 background .. 6 right leg), e.g. a part image."""
    return label_rgb(labels, LSP_PART_COLORS)


def weight_group_rgb(labels) -> np.ndarray:
    """(..., 3) RGB of Eq. 6 weight-map groups (0 torso .. 3 hands & feet)."""
    return label_rgb(labels, WEIGHT_GROUP_COLORS)
