"""Body models behind one interface (:class:`BodyModel`): Anny (default) and SMPL.

>>> from decomr.body import load
>>> body = load("anny")
>>> body.num_vertices, body.num_faces, body.shape_dim, body.pose_dim
(13348, 26692, 6, 103)
"""
from __future__ import annotations

import functools

from decomr import paths
from decomr.body.anny_body import AnnyBody
from decomr.body.base import BodyModel, BodyOutput, axis_angle_to_matrix
from decomr.body.joints import (
    LSP_BONES,
    LSP_FLIP_PERM,
    LSP_JOINT_NAMES,
    SMPL_BONES,
    SMPL_FLIP_PERM,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
)
from decomr.body.parts import (
    LSP_PART_FLIP_PERM,
    LSP_PART_NAMES,
    WEIGHT_GROUP_NAMES,
    WEIGHT_GROUP_VALUES,
)
from decomr.body.pose import POSE_NAMES
from decomr.body.smpl_body import SMPLBody

BODY_MODELS = ("anny", "smpl")

__all__ = [
    "BodyModel", "BodyOutput", "axis_angle_to_matrix", "load", "BODY_MODELS",
    "SMPL_JOINT_NAMES", "LSP_JOINT_NAMES", "SMPL_FLIP_PERM", "LSP_FLIP_PERM",
    "WEIGHT_GROUP_NAMES", "WEIGHT_GROUP_VALUES", "LSP_PART_NAMES", "LSP_PART_FLIP_PERM",
    "SMPL_PARENTS", "SMPL_BONES", "LSP_BONES", "POSE_NAMES",
]


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, key: tuple) -> BodyModel:
    model = {"anny": AnnyBody, "smpl": SMPLBody}[name]
    return model(**{k: v for k, v in key if k != "__data__"})


def load(name: str = "anny", **kwargs) -> BodyModel:
    """Load a body model by name.

    Models are built once per process and shared (they only hold constant buffers); call
    ``.to(device)`` on your own copy via ``copy.deepcopy`` if you need one per device.

    Args:
        name: ``"anny"`` (free, default) or ``"smpl"`` (needs the licensed files in
            ``data/body_models/smpl/``).
        **kwargs: model options, e.g. ``gender="neutral"`` for SMPL.

    Raises:
        ValueError: unknown name.
        FileNotFoundError: SMPL requested but its files are missing (the message says which and
            where to get them).
    """
    if name not in BODY_MODELS:
        raise ValueError(f"name: expected one of {BODY_MODELS}, got {name!r}")

    # The data folder is part of the key: models (and their cached tables) live there.
    return _load_cached(name, tuple(sorted(kwargs.items())) + (("__data__", str(paths.data_dir())),))
