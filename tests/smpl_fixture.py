"""A fake SMPL model file for tests (the real one is licence-gated): SMPL's pickle format, chumpy
arrays inside, 24 joints with SMPL's kinematic tree. Used by tests/test_body.py and
tests/test_data_render_gt.py."""
from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np

from decomr.body.joints import SMPL_PARENTS as _SMPL_PARENTS

SMPL_PARENTS = list(_SMPL_PARENTS)


def write_fake_smpl(folder: str | Path, n_half: int = 40, seed: int = 0, filename: str = "SMPL_NEUTRAL.pkl",
                    mesh: tuple[np.ndarray, np.ndarray] | None = None):
    """Write a small model in SMPL's pickle format, with chumpy arrays inside.

    Args:
        folder: where to write it (created).
        n_half: default mesh: random points on one side, mirrored (x -> -x) to the other, joined
            by a strip of triangles (not a closed surface).
        seed: RNG seed (mesh, skinning weights, blend shapes).
        filename: ``SMPL_NEUTRAL.pkl``, ``SMPL_MALE.pkl`` or ``SMPL_FEMALE.pkl``.
        mesh: optional (vertices (V, 3), faces (F, 3)) to use instead (V >= 24), e.g. a closed
            surface.

    Returns:
        vertices (V, 3), faces (F, 3) uint32, joint regressor (24, V) (each joint = the mean of
        the 4 vertices nearest to vertex j).
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    if mesh is None:
        half = rng.uniform([0.02, -0.9, -0.1], [0.4, 0.7, 0.1], size=(n_half, 3))
        v = np.concatenate([half, half * [-1, 1, 1]])
        V = v.shape[0]
        faces = np.array([[i, (i + 1) % V, (i + 2) % V] for i in range(V)], dtype=np.uint32)
    else:
        v, faces = np.asarray(mesh[0], np.float64), np.asarray(mesh[1]).astype(np.uint32)
        V = v.shape[0]
    d = np.linalg.norm(v[:, None] - v[None], axis=-1)
    J = np.zeros((24, V))
    for j in range(24):
        near = np.argsort(d[j])[:4]
        J[j, near] = 0.25
    weights = rng.dirichlet(np.ones(24) * 0.3, size=V)
    fake = types.ModuleType("chumpy")
    fake_ch = types.ModuleType("chumpy.ch")

    class Ch:  # mimics chumpy.ch.Ch: the value lives in the state's 'x'
        def __init__(self, x):
            self.x = np.asarray(x)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    fake_ch.Ch = Ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = fake, fake_ch
    try:
        import scipy.sparse

        data = {
            "v_template": Ch(v), "f": faces, "J_regressor": scipy.sparse.csc_matrix(J),
            "weights": Ch(weights), "shapedirs": Ch(0.01 * rng.standard_normal((V, 3, 10))),
            "posedirs": 0.001 * rng.standard_normal((V, 3, 207)),
            "kintree_table": np.array([[4294967295] + SMPL_PARENTS[1:], list(range(24))], dtype=np.int64),
            "J": Ch(J @ v), "bs_style": "lbs", "bs_type": "lrotmin",
        }
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / filename, "wb") as fh:
            pickle.dump(data, fh, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    return v, faces, J
