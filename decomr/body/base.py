"""The body-model interface that the rest of decomr uses, whatever the model.

A :class:`BodyModel` is an ``nn.Module`` that only holds data (buffers) and maps
``(shape, pose, global_orient, transl)`` to a :class:`BodyOutput`. Subclasses implement
:meth:`BodyModel._skin` (rest-pose-free skinning in the canonical frame) and the samplers.

Canonical frame (SMPL's): y up, the body faces +z, x points to the body's left; metres.
Global orientation rotates the posed body about its pelvis joint, then ``transl`` is added,
exactly like SMPL. Datasets use the OpenCV camera frame (y down, z away from the camera): an
upright person facing the camera has ``global_orient = (pi, 0, 0)``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from decomr.body.joints import PELVIS


@dataclass(frozen=True)
class BodyOutput:
    """Result of a body-model forward pass.

    Attributes:
        vertices: (B, V, 3) float32, metres.
        joints: (B, 24, 3) the SMPL-like joints, regressed from ``vertices``.
        lsp_joints: (B, 14, 3) the LSP joints (evaluation set), regressed from ``vertices``.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    lsp_joints: torch.Tensor


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula.

    Args:
        rotvec: (..., 3) axis-angle vectors (radians).

    Returns:
        (..., 3, 3) rotation matrices. Differentiable, stable near zero.
    """
    if rotvec.shape[-1] != 3:
        raise ValueError(f"rotvec: expected (..., 3), got {tuple(rotvec.shape)}")
    angle = torch.linalg.norm(rotvec, dim=-1, keepdim=True)  # (..., 1)
    small = angle < 1e-6
    safe = torch.where(small, torch.ones_like(angle), angle)
    axis = rotvec / safe
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*rotvec.shape[:-1], 3, 3)
    s = torch.sin(angle)[..., None]
    c = torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(K)
    R = eye + s * K + (1 - c) * (K @ K)
    # First-order expansion near zero keeps gradients finite.
    r = rotvec
    K0 = torch.stack([zero, -r[..., 2], r[..., 1], r[..., 2], zero, -r[..., 0], -r[..., 1], r[..., 0], zero], -1)
    R0 = eye + K0.reshape(*rotvec.shape[:-1], 3, 3)
    return torch.where(small[..., None], R0, R)


def _check_batch(name: str, value: torch.Tensor | None, tail: tuple[int, ...]) -> int | None:
    if value is None:
        return None
    if not torch.is_tensor(value):
        raise ValueError(f"{name}: expected a torch.Tensor of shape (B, {', '.join(map(str, tail))}), got {type(value).__name__}")
    if value.dim() != 1 + len(tail) or tuple(value.shape[1:]) != tail:
        raise ValueError(
            f"{name}: expected shape (B, {', '.join(map(str, tail))}), got {tuple(value.shape)}"
        )
    if not torch.isfinite(value).all():
        raise ValueError(f"{name}: contains NaN or inf values")
    return value.shape[0]


class BodyModel(nn.Module):
    """Common interface of the body models (see module docstring for the frames).

    Buffers (all float32 / int64):
        faces (F, 3), template (V, 3) rest mesh of the mean shape in the canonical frame,
        joint_regressor (24, V), lsp_regressor (14, V), mirror_map (V,),
        weight_parts (V,) in 0..3 (Eq. 6 groups), lsp_parts (V,) in 1..6 (Table 4 parts),
        default_uv_coords (T, 2), default_uv_faces (F, 3): the model's own UV layout.
    """

    name: str = "body"
    shape_dim: int = 0
    pose_dim: int = 0

    #: The buffers of the class docstring, in registration order, and their dtypes.
    _TABLES = {"faces": torch.int64, "template": torch.float32, "joint_regressor": torch.float32,
               "lsp_regressor": torch.float32, "mirror_map": torch.int64, "weight_parts": torch.int64,
               "lsp_parts": torch.int64, "default_uv_coords": torch.float32, "default_uv_faces": torch.int64}

    def _register_tables(self, **tables: np.ndarray | torch.Tensor) -> None:
        """Register every table of :attr:`_TABLES` (all required, numpy or torch) as a buffer."""
        if set(tables) != set(self._TABLES):
            raise TypeError(f"_register_tables: expected the tables {sorted(self._TABLES)}, got {sorted(tables)}")
        for name, dtype in self._TABLES.items():
            self.register_buffer(name, torch.as_tensor(np.asarray(tables[name]), dtype=dtype), persistent=False)

    # ------------------------------------------------------------------ sizes and identity
    @property
    def num_vertices(self) -> int:
        return int(self.template.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    def mesh_hash(self) -> str:
        """A short hash of the mesh's identity: the body's name, vertex count and faces.

        Cached atlases and checkpoints are keyed on it. The template's coordinates are left out on
        purpose: the same body model computes them with float differences of ~1e-5 m from one
        machine (BLAS build, CPU) to another, which changed a hash of rounded coordinates; a real
        change of geometry is caught by comparing with the template stored in each atlas, with a
        tolerance (:func:`decomr.uv.load_atlas`).
        """
        h = hashlib.sha1()
        h.update(self.name.encode())
        h.update(np.int64(self.num_vertices).tobytes())
        h.update(np.ascontiguousarray(self.faces.cpu().numpy().astype(np.int64)).tobytes())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ joints
    def regress_joints(self, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Joints as linear functions of the mesh.

        Args:
            vertices: (B, V, 3).

        Returns:
            joints (B, 24, 3) and lsp_joints (B, 14, 3).
        """
        if vertices.dim() != 3 or vertices.shape[1:] != (self.num_vertices, 3):
            raise ValueError(
                f"vertices: expected (B, {self.num_vertices}, 3), got {tuple(vertices.shape)}"
            )
        jr = self.joint_regressor.to(vertices.dtype)
        lr = self.lsp_regressor.to(vertices.dtype)
        return torch.einsum("jv,bvc->bjc", jr, vertices), torch.einsum("jv,bvc->bjc", lr, vertices)

    # ------------------------------------------------------------------ forward
    def _skin(self, shape: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """Posed vertices in the canonical frame, before global orientation. (B, V, 3)."""
        raise NotImplementedError

    def forward(
        self,
        shape: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        global_orient: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose and shape the body.

        Args:
            shape: (B, shape_dim) shape parameters; None = the mean shape.
            pose: (B, pose_dim, 3) local joint rotations (axis-angle); None = rest pose.
            global_orient: (B, 3) axis-angle rotation about the pelvis joint; None = identity.
            transl: (B, 3) translation added last; None = zero.

        Returns:
            BodyOutput with vertices (B, V, 3), joints (B, 24, 3), lsp_joints (B, 14, 3).
        """
        sizes = {
            n: b
            for n, b in (
                ("shape", _check_batch("shape", shape, (self.shape_dim,))),
                ("pose", _check_batch("pose", pose, (self.pose_dim, 3))),
                ("global_orient", _check_batch("global_orient", global_orient, (3,))),
                ("transl", _check_batch("transl", transl, (3,))),
            )
            if b is not None
        }
        if len(set(sizes.values())) > 1:
            raise ValueError(f"batch sizes differ between arguments: {sizes}")
        B = next(iter(sizes.values()), 1)
        dev, dt = self.template.device, torch.float32
        if shape is None:
            shape = self.mean_shape().to(dev, dt).expand(B, -1)
        if pose is None:
            pose = torch.zeros(B, self.pose_dim, 3, device=dev, dtype=dt)
        verts = self._skin(shape.to(dev, dt), pose.to(dev, dt))  # (B, V, 3)
        if global_orient is not None:
            R = axis_angle_to_matrix(global_orient.to(dev, dt))  # (B, 3, 3)
            pelvis = torch.einsum("v,bvc->bc", self.joint_regressor[PELVIS], verts)[:, None]  # (B, 1, 3)
            verts = torch.einsum("bij,bvj->bvi", R, verts - pelvis) + pelvis
        if transl is not None:
            verts = verts + transl.to(dev, dt)[:, None]
        joints, lsp = self.regress_joints(verts)
        return BodyOutput(vertices=verts, joints=joints, lsp_joints=lsp)

    # ------------------------------------------------------------------ parameters
    def mean_shape(self) -> torch.Tensor:
        """(1, shape_dim) the shape parameters of the template."""
        raise NotImplementedError

    def sample_shape(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, shape_dim) realistic random shapes."""
        raise NotImplementedError

    def sample_pose(
        self, n: int, generator: torch.Generator | None = None, kind: str = "random"
    ) -> torch.Tensor:
        """(n, pose_dim, 3) plausible random or named poses."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"name={self.name}, V={self.num_vertices}, F={self.num_faces}, shape_dim={self.shape_dim}, pose_dim={self.pose_dim}"
