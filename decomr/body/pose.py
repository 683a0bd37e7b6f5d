"""A pose prior for Anny: per-bone joint limits, named poses and a random sampler.

Anny ships no pose library, and the synthetic training data depends on pose diversity, so the
prior is written here by hand. Each posable bone has a box of allowed rotation vectors expressed
in *components*: three world axes of the canonical frame (x left, y up, z front), or, for hinge
joints (elbows), one flexion axis perpendicular to the rest direction of the upper arm.
Right-side limits are mirrored from the left side (rotation vectors are pseudo-vectors: a mirror
x -> -x maps (rx, ry, rz) to (rx, -ry, -rz)).

A random pose = a named pose (A, T, standing, walking, sitting, arms up, squat, reach) picked at
random + Gaussian noise of ``noise`` times each limit's range, clamped to the limits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Left-side limits in radians, per component: (x, y, z) world axes, or "hinge".
_LEFT_LIMITS: dict[str, dict[str, tuple[float, float]]] = {
    "clavicle": {"x": (-0.1, 0.1), "y": (-0.15, 0.15), "z": (-0.1, 0.25)},
    "upperarm01": {"x": (-1.6, 0.7), "y": (-0.6, 0.6), "z": (-0.75, 1.6)},
    # Anny's rest pose has the elbows bent by ~41 deg: hinge -0.7 straightens the arm.
    "lowerarm01": {"hinge": (-0.7, 2.2)},
    "wrist": {"x": (-0.5, 0.5), "y": (-0.3, 0.3), "z": (-0.3, 0.3)},
    "upperleg01": {"x": (-1.8, 0.4), "y": (-0.4, 0.5), "z": (-0.25, 0.7)},
    "lowerleg01": {"x": (0.0, 2.2)},
    "foot": {"x": (-0.4, 0.5), "y": (-0.2, 0.2), "z": (-0.2, 0.2)},
}
_CENTRE_LIMITS: dict[str, dict[str, tuple[float, float]]] = {
    **{f"spine0{i}": {"x": (-0.1, 0.25), "y": (-0.12, 0.12), "z": (-0.1, 0.1)} for i in range(1, 6)},
    **{f"neck0{i}": {"x": (-0.15, 0.25), "y": (-0.25, 0.25), "z": (-0.12, 0.12)} for i in range(1, 4)},
    "head": {"x": (-0.35, 0.35), "y": (-0.5, 0.5), "z": (-0.3, 0.3)},
}

# Named poses: component values per bone; "L"/"R" keys give per-side values (R is given in the
# left-side convention and mirrored), a plain key applies to both sides (mirrored for R).
NAMED_POSES: dict[str, dict[str, dict[str, float]]] = {
    "A": {},
    "T": {"upperarm01": {"z": 0.75}, "lowerarm01": {"hinge": -0.65}},
    "standing": {"upperarm01": {"z": -0.65}, "lowerarm01": {"hinge": -0.3}},
    "walking": {
        "upperleg01.L": {"x": -0.45}, "upperleg01.R": {"x": 0.3},
        "lowerleg01.L": {"x": 0.25}, "lowerleg01.R": {"x": 0.5},
        "upperarm01.L": {"z": -0.6, "x": 0.35}, "upperarm01.R": {"z": -0.6, "x": -0.35},
        "lowerarm01": {"hinge": 0.4},
    },
    "sitting": {
        "upperleg01": {"x": -1.5, "z": 0.1}, "lowerleg01": {"x": 1.5},
        "upperarm01": {"z": -0.5, "x": -0.3}, "lowerarm01": {"hinge": 0.9},
        "spine03": {"x": 0.1},
    },
    "arms_up": {"upperarm01": {"z": 1.5}, "lowerarm01": {"hinge": -0.4}},
    "squat": {
        "upperleg01": {"x": -1.6, "z": 0.35}, "lowerleg01": {"x": 2.0}, "foot": {"x": -0.3},
        "upperarm01": {"x": -1.2, "z": -0.2}, "spine02": {"x": 0.2}, "spine03": {"x": 0.2},
    },
    "reach": {
        "upperarm01.L": {"x": -1.3, "z": 0.3}, "lowerarm01.L": {"hinge": 0.2},
        "upperarm01.R": {"z": -0.6}, "lowerarm01.R": {"hinge": 0.6},
        "spine03": {"y": 0.15}, "upperleg01.L": {"x": -0.2},
    },
}
POSE_NAMES: tuple[str, ...] = tuple(NAMED_POSES)


@dataclass(frozen=True)
class PosePrior:
    """Joint limits of the posable bones, in component space.

    Attributes:
        bone_index: (K,) index into the model's pose vector of each posable bone.
        axes: (K, 3, 3) rows = rotation axes of the three components (canonical frame).
        lo, hi: (K, 3) limits per component (a zero-width range disables a component).
        names: (K,) bone labels.
    """

    bone_index: torch.Tensor
    axes: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    names: tuple[str, ...]

    def components_to_pose(self, comps: torch.Tensor, pose_dim: int) -> torch.Tensor:
        """(n, K, 3) components -> (n, pose_dim, 3) axis-angle pose."""
        pose = comps.new_zeros(comps.shape[0], pose_dim, 3)
        pose[:, self.bone_index] = torch.einsum("nkc,kcd->nkd", comps, self.axes.to(comps))  # (n, K, 3)
        return pose

    def pose_to_components(self, pose: torch.Tensor) -> torch.Tensor:
        """(n, pose_dim, 3) -> (n, K, 3), the inverse of :meth:`components_to_pose` on posable bones."""
        rv = pose[:, self.bone_index]  # (n, K, 3)
        return torch.einsum("nkd,kcd->nkc", rv, self.axes.to(pose))

    def named(self, name: str) -> torch.Tensor:
        """(K, 3) components of a named pose."""
        if name not in NAMED_POSES:
            raise ValueError(f"kind: unknown pose {name!r}; expected 'random' or one of {POSE_NAMES}")
        comps = torch.zeros(len(self.names), 3)
        for key, values in NAMED_POSES[name].items():
            sides = [key] if key.endswith((".L", ".R")) else [key + ".L", key + ".R", key]
            for bone in sides:
                if bone not in self.names:
                    continue
                k = self.names.index(bone)
                for comp, val in values.items():
                    c = 0 if comp in ("x", "hinge") else (1 if comp == "y" else 2)
                    mirrored = bone.endswith(".R") and comp in ("y", "z")
                    comps[k, c] = -val if mirrored else val
        return comps.clamp(self.lo, self.hi)


def build_anny_pose_prior(bone_labels: list[str], rest_heads: np.ndarray) -> PosePrior:
    """Limits for Anny's posable bones.

    Args:
        bone_labels: Anny's bone names (index 0 = root, not posable; pose index = bone index - 1).
        rest_heads: (n_bones, 3) rest bone-head positions in the canonical frame (for hinge axes).
    """
    front = np.array([0.0, 0.0, 1.0])
    index, axes, lo, hi, names = [], [], [], [], []

    def add(bone: str, limits: dict[str, tuple[float, float]], mirror: bool) -> None:
        b = bone_labels.index(bone)
        A, l, h = np.eye(3), np.zeros(3), np.zeros(3)
        if "hinge" in limits:
            parent = bone.replace("lowerarm01", "upperarm01")
            d = rest_heads[b] - rest_heads[bone_labels.index(parent)]
            axis = np.cross(d / np.linalg.norm(d), front)
            A = np.stack([axis / np.linalg.norm(axis), np.zeros(3), np.zeros(3)])
            l[0], h[0] = limits["hinge"]
        else:
            for c, comp in enumerate("xyz"):
                if comp in limits:
                    l[c], h[c] = limits[comp]
                    if mirror and comp in "yz":
                        l[c], h[c] = -h[c], -l[c]
        index.append(b - 1)
        axes.append(A)
        lo.append(l)
        hi.append(h)
        names.append(bone)

    for bone, limits in _CENTRE_LIMITS.items():
        add(bone, limits, mirror=False)
    for stem, limits in _LEFT_LIMITS.items():
        add(stem + ".L", limits, mirror=False)
        add(stem + ".R", limits, mirror=True)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    return PosePrior(
        bone_index=torch.as_tensor(index, dtype=torch.int64),
        axes=t(axes),
        lo=t(lo),
        hi=t(hi),
        names=tuple(names),
    )


def sample_components(
    prior: PosePrior,
    n: int,
    generator: torch.Generator | None = None,
    kind: str = "random",
    noise: float = 0.25,
) -> torch.Tensor:
    """(n, K, 3) pose components: a named pose, or a random named pose plus clamped noise."""
    if n < 0:
        raise ValueError(f"n: expected a non-negative count, got {n}")
    if kind != "random":
        return prior.named(kind).expand(n, -1, -1).clone()
    bases = torch.stack([prior.named(name) for name in POSE_NAMES])  # (P, K, 3)
    pick = torch.randint(len(POSE_NAMES), (n,), generator=generator)
    comps = bases[pick]  # (n, K, 3)
    span = prior.hi - prior.lo
    comps = comps + noise * span * torch.randn(comps.shape, generator=generator)
    return torch.maximum(torch.minimum(comps, prior.hi), prior.lo)
