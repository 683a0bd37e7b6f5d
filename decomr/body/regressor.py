"""Fitting a sparse, non-negative vertex-to-joint regressor (like SMPL's ``J_regressor``).

Each joint is a convex combination of nearby vertices, fitted by non-negative least squares so
that, over many posed and shaped bodies, the combination reproduces the skeleton's joint
positions. A regressor keeps joints a *linear function of the mesh*, so the joints of a predicted
mesh (Sec. 3.3) are defined exactly like those of a ground-truth mesh.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import nnls


def fit_joint_regressor(
    vertices: np.ndarray,
    joints: np.ndarray,
    candidates: list[np.ndarray],
    sum_weight: float = 10.0,
) -> np.ndarray:
    """Fit one convex combination of candidate vertices per joint.

    Args:
        vertices: (N, V, 3) posed meshes.
        joints: (N, J, 3) target joint positions for the same bodies.
        candidates: J arrays of candidate vertex indices for each joint.
        sum_weight: weight of the soft constraint that each row sums to one (translation
            equivariance).

    Returns:
        (J, V) float64 regressor with non-negative rows summing to ~1.
    """
    if vertices.ndim != 3 or vertices.shape[2] != 3:
        raise ValueError(f"vertices: expected (N, V, 3), got {vertices.shape}")
    if joints.ndim != 3 or joints.shape[0] != vertices.shape[0] or joints.shape[2] != 3:
        raise ValueError(f"joints: expected ({vertices.shape[0]}, J, 3), got {joints.shape}")
    if len(candidates) != joints.shape[1]:
        raise ValueError(f"candidates: expected {joints.shape[1]} lists, got {len(candidates)}")
    N, V, _ = vertices.shape
    R = np.zeros((joints.shape[1], V))
    for j, cand in enumerate(candidates):
        cand = np.asarray(cand, dtype=np.int64)
        if cand.size == 0:
            raise ValueError(f"candidates[{j}] is empty")
        A = vertices[:, cand, :].transpose(0, 2, 1).reshape(N * 3, cand.size)  # (3N, K)
        b = joints[:, j, :].reshape(N * 3)
        A = np.vstack([A, sum_weight * np.ones((1, cand.size))])
        b = np.concatenate([b, [sum_weight]])
        w, _ = nnls(A, b, maxiter=50 * cand.size)
        R[j, cand] = w / max(w.sum(), 1e-12)
    return R
