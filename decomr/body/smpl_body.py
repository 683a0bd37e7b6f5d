"""SMPL (the paper's body model) through ``smplx``, when the user supplies its files.

SMPL is licence-gated: register at https://smpl.is.tue.mpg.de, download "SMPL for Python" and put
the model files in ``data/body_models/smpl/`` as ``SMPL_NEUTRAL.pkl``, ``SMPL_MALE.pkl`` and
``SMPL_FEMALE.pkl`` (the neutral model comes with SMPLify: ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``;
rename it). Its default UV layout is not in those files: put SMPL's UV template (an OBJ with
``vt`` lines and ``f v/vt`` faces, e.g. ``smpl_uv.obj`` from the SMPL downloads) next to them to
enable the "default" atlas.

The official pickles reference ``chumpy``, which does not install on Python 3.11 / NumPy 2.
:func:`load_smpl_pickle` reads them without it: chumpy arrays become NumPy arrays.
"""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import torch

from decomr import paths
from decomr.body.base import BodyModel
from decomr.body.joints import LSP_JOINT_NAMES, convert
from decomr.body.mirror import mirror_map_from_connectivity

SMPL_FILES = {"neutral": "SMPL_NEUTRAL.pkl", "male": "SMPL_MALE.pkl", "female": "SMPL_FEMALE.pkl"}
SMPL_UV_FILE = "smpl_uv.obj"
#: decomr regresses its joints from the vertices; smplx's extra vertex keypoints are not needed.
SMPLX_NO_EXTRA_JOINTS = {
    "vertex_ids": {"nose": 0, "reye": 0, "leye": 0, "rear": 0, "lear": 0},
    "use_feet_keypoints": False,
    "use_hands": False,
}
SMPL_HELP = (
    "SMPL is licence-gated and cannot be downloaded by decomr. Register at "
    "https://smpl.is.tue.mpg.de, download 'SMPL for Python' (and SMPLify for the neutral model), "
    "and place {files} in {folder}. decomr works without SMPL: use body='anny'."
)

# SMPL joint index -> Eq. 6 weight group / Table 4 part (the segment each joint drives).
_SMPL_WEIGHT_GROUP = {0: 0, 3: 0, 6: 0, 9: 0, 13: 0, 14: 0, 12: 1, 15: 1,
                      1: 2, 2: 2, 4: 2, 5: 2, 16: 2, 17: 2, 18: 2, 19: 2,
                      7: 3, 8: 3, 10: 3, 11: 3, 20: 3, 21: 3, 22: 3, 23: 3}
_SMPL_LSP_PART = {12: 1, 15: 1, 0: 2, 3: 2, 6: 2, 9: 2, 13: 2, 14: 2,
                  16: 3, 18: 3, 20: 3, 22: 3, 17: 4, 19: 4, 21: 4, 23: 4,
                  1: 5, 4: 5, 7: 5, 10: 5, 2: 6, 5: 6, 8: 6, 11: 6}


class _ChumpyArray:
    """Stand-in for chumpy objects while unpickling: keeps their state (the value is ``x``)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)


class _NoChumpyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module.startswith("chumpy"):
            return _ChumpyArray
        if module.startswith("scipy.sparse"):
            import scipy.sparse

            if hasattr(scipy.sparse, name):
                return getattr(scipy.sparse, name)
        return super().find_class(module, name)


def _to_numpy(value):
    if isinstance(value, _ChumpyArray):
        if "x" not in value.__dict__:
            raise ValueError("a chumpy object in the SMPL file has no value ('x')")
        return np.asarray(value.__dict__["x"])
    return value


def load_smpl_pickle(path: str | Path) -> dict:
    """Read an official SMPL ``.pkl`` (or a converted ``.npz``) without chumpy.

    Returns:
        dict with NumPy arrays (``J_regressor`` may stay a SciPy sparse matrix).
    """
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    with open(path, "rb") as fh:
        raw = _NoChumpyUnpickler(fh, encoding="latin1").load()
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: not an SMPL model file (expected a dict, got {type(raw).__name__})")
    return {k: _to_numpy(v) for k, v in raw.items()}


def read_obj_uv(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read ``v``, ``vt`` and per-corner ``f v/vt`` indices from an OBJ file.

    Returns:
        uv (T, 2), faces (F, 3), faces_uv (F, 3); indices 0-based.
    """
    uv, faces, faces_uv = [], [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "vt":
            uv.append([float(parts[1]), float(parts[2])])
        elif parts[0] == "f":
            corners = [p.split("/") for p in parts[1:4]]
            if len(parts) != 4 or any(len(c) < 2 or not c[1] for c in corners):
                raise ValueError(f"{path}: faces must be triangles with v/vt indices, got {line!r}")
            faces.append([int(c[0]) - 1 for c in corners])
            faces_uv.append([int(c[1]) - 1 for c in corners])
    return np.asarray(uv, np.float32), np.asarray(faces, np.int64), np.asarray(faces_uv, np.int64)


def smpl_folder() -> Path:
    return paths.data_dir() / "body_models" / "smpl"


class SMPLBody(BodyModel):
    """SMPL via ``smplx`` behind decomr's :class:`~decomr.body.base.BodyModel` interface.

    Args:
        gender: "neutral" | "male" | "female".
        folder: where the SMPL files are (default ``data/body_models/smpl``).

    Pose: (B, 23, 3) axis-angle body pose (SMPL's 69-vector), shape: (B, 10) betas.
    """

    name = "smpl"
    shape_dim = 10
    pose_dim = 23

    def __init__(self, gender: str = "neutral", folder: str | Path | None = None) -> None:
        super().__init__()
        if gender not in SMPL_FILES:
            raise ValueError(f"gender: expected one of {tuple(SMPL_FILES)}, got {gender!r}")
        folder = Path(folder) if folder is not None else smpl_folder()
        path = folder / SMPL_FILES[gender]
        if not path.exists() and path.with_suffix(".npz").exists():
            path = path.with_suffix(".npz")
        if not path.exists():
            raise FileNotFoundError(
                f"SMPL model file not found: {path}. " + SMPL_HELP.format(files=", ".join(SMPL_FILES.values()), folder=folder)
            )
        import smplx
        from smplx.utils import Struct

        data = load_smpl_pickle(path)
        missing = [k for k in ("v_template", "f", "J_regressor", "weights", "shapedirs", "posedirs", "kintree_table") if k not in data]
        if missing:
            raise ValueError(f"{path}: not a valid SMPL model file, missing fields {missing}")
        Jr = data["J_regressor"]
        Jr = np.asarray(Jr.todense()) if hasattr(Jr, "todense") else np.asarray(Jr)
        data["J_regressor"] = Jr
        self.gender = gender
        self.path = path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.smpl = smplx.SMPL(model_path=str(folder), data_struct=Struct(**data), gender=gender,
                                   num_betas=min(10, np.asarray(data["shapedirs"]).shape[-1]),
                                   **SMPLX_NO_EXTRA_JOINTS)
        self.shape_dim = self.smpl.num_betas
        for p in self.smpl.parameters():
            p.requires_grad_(False)

        template = np.asarray(data["v_template"], np.float64)
        faces = np.asarray(data["f"], np.int64)
        V = template.shape[0]
        # From the connectivity: SMPL's mirror pairs are off by millimetres, so nearest neighbours
        # of the reflected vertices are not even one-to-one (decomr.body.mirror).
        found = mirror_map_from_connectivity(template, faces, approximate_ok=True)
        mirror = found.mirror
        if not found.exact:
            warnings.warn("SMPL template: its connectivity is not left/right symmetric; using the approximate "
                          f"nearest-neighbour mirror map (max pairing distance {found.max_error:.4f} m)", stacklevel=2)
        dominant = np.asarray(data["weights"]).argmax(1)
        weight_parts = np.array([_SMPL_WEIGHT_GROUP[int(j)] for j in dominant])
        lsp_parts = np.array([_SMPL_LSP_PART[int(j)] for j in dominant])
        head_top = int(np.argmax(np.where(lsp_parts == 1, template[:, 1], -np.inf)))
        lsp, _ = convert(np.asarray(Jr, np.float64), "smpl24", "lsp14")  # (14, V), head top missing
        lsp[LSP_JOINT_NAMES.index("head_top"), head_top] = 1.0  # the head top is the highest head vertex
        uv_path = folder / SMPL_UV_FILE
        if uv_path.exists():
            uv, uv_faces_v, uv_faces = read_obj_uv(uv_path)
            if not np.array_equal(uv_faces_v, faces):
                raise ValueError(f"{uv_path}: its faces do not match the SMPL model's faces")
        else:
            uv, uv_faces = np.zeros((0, 2), np.float32), np.zeros((0, 3), np.int64)
        self.has_default_uv = uv.shape[0] > 0
        self._register_tables(
            faces=faces, template=template, joint_regressor=Jr, lsp_regressor=lsp,
            mirror_map=mirror, weight_parts=weight_parts, lsp_parts=lsp_parts,
            default_uv_coords=uv, default_uv_faces=uv_faces,
        )

    def _skin(self, shape: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        B = max(shape.shape[0], pose.shape[0])
        out = self.smpl(
            betas=shape.expand(B, -1),
            body_pose=pose.expand(B, -1, -1).reshape(B, -1),
            global_orient=torch.zeros(B, 3, dtype=pose.dtype, device=pose.device),
        )
        return out.vertices

    def mean_shape(self) -> torch.Tensor:
        return torch.zeros(1, self.shape_dim)

    def sample_shape(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 10) betas ~ N(0, 1) clipped to +-3 (SMPL's PCA shape space is unit-variance)."""
        return torch.randn(n, self.shape_dim, generator=generator).clamp(-3, 3).to(self.template.device)

    def sample_pose(self, n: int, generator: torch.Generator | None = None, kind: str = "random") -> torch.Tensor:
        """(n, 23, 3): ``"rest"`` or ``"random"`` (small Gaussian perturbations, sigma 0.2 rad).

        SMPL has no pose prior here; real SMPL poses come from the official datasets.
        """
        if kind == "rest":
            return torch.zeros(n, self.pose_dim, 3, device=self.template.device)
        if kind != "random":
            raise ValueError(f"kind: SMPL supports 'random' or 'rest', got {kind!r}")
        return (0.2 * torch.randn(n, self.pose_dim, 3, generator=generator)).to(self.template.device)
