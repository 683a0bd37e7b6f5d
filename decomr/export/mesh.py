"""Small, dependency-free writers for triangle meshes: Wavefront OBJ and PLY.

Both write exactly the given vertices and faces (no merging, no reordering), so a file re-read
with ``trimesh.load(path, process=False)`` gives back the same arrays (tested). The OBJ writer
can add per-corner texture coordinates (``vt``), e.g. the continuous UV map of Sec. 3.1, and the
PLY writer per-vertex colours.

UV convention: decomr's v grows downwards (row index of a UV map, see :mod:`decomr.conventions`); OBJ's
``vt`` v grows upwards (OpenGL textures), so the file stores ``1 - v``.

Frames: predictions are in the camera frame (OpenCV: y down, z away from the camera); most mesh
viewers expect y up. :func:`opencv_to_opengl` rotates by 180 degrees about x (OpenGL's camera
frame: y up, z towards the viewer), a proper rotation that keeps the face winding.

>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "tri.obj")
>>> write_obj(path, np.eye(3), np.array([[0, 1, 2]])).name
'tri.obj'
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from decomr.paths import atomic_write_bytes

__all__ = ["write_obj", "write_ply", "opencv_to_opengl", "read_obj_mesh"]


def _np(x, name: str) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _check_mesh(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    v = _np(vertices, "vertices").astype(np.float64)
    f = _np(faces, "faces")
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices: expected (V, 3), got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("vertices: contains NaN or inf")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"faces: expected (F, 3) integers, got {f.shape} {f.dtype}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"faces: indices must lie in [0, {len(v) - 1}], got [{f.min()}, {f.max()}]")
    return v, f.astype(np.int64)


def _check_colors(colors, n: int) -> np.ndarray:
    c = _np(colors, "vertex_colors")
    if c.shape != (n, 3):
        raise ValueError(f"vertex_colors: expected ({n}, 3), got {c.shape}")
    if c.dtype != np.uint8:
        c = np.clip(np.round(c.astype(np.float64) * 255), 0, 255).astype(np.uint8)
    return c


def opencv_to_opengl(vertices):
    """(..., 3) points in OpenCV's camera frame -> OpenGL's (x, -y, -z): a 180 deg rotation about x."""
    sign = np.array([1.0, -1.0, -1.0]) if not torch.is_tensor(vertices) else torch.tensor([1.0, -1.0, -1.0], dtype=vertices.dtype, device=vertices.device)
    return vertices * sign


def _table(rows: np.ndarray, prefix: str, fmt: str) -> str:
    buf = io.StringIO()
    np.savetxt(buf, rows, fmt=f"{prefix} {fmt}" if prefix else fmt)
    return buf.getvalue()


def write_obj(path: str | Path, vertices, faces, uv=None, faces_uv=None, vertex_colors=None,
              comment: str | None = None) -> Path:
    """Write a triangle mesh as a Wavefront OBJ file (atomically).

    Args:
        path: the ``.obj`` file.
        vertices: (V, 3) float positions (metres).
        faces: (F, 3) int vertex indices (0-based; written 1-based).
        uv: optional (T, 2) float UV coordinates in [0, 1] (decomr's convention, v down).
        faces_uv: (F, 3) int indices into ``uv`` per face corner (required with ``uv``).
        vertex_colors: optional (V, 3) RGB (float in [0, 1] or uint8), as the common
            ``v x y z r g b`` extension.
        comment: a line written at the top (``# ...``).

    Returns:
        the path written.
    """
    v, f = _check_mesh(vertices, faces)
    parts = [f"# {line}\n" for line in (comment or "").splitlines()]
    parts.append(f"# {len(v)} vertices, {len(f)} faces, written by decomr\n")
    if vertex_colors is not None:
        c = _check_colors(vertex_colors, len(v)) / 255.0
        parts.append(_table(np.concatenate([v, c], axis=1), "v", "%.6f %.6f %.6f %.4f %.4f %.4f"))
    else:
        parts.append(_table(v, "v", "%.6f %.6f %.6f"))
    if uv is not None:
        t = _np(uv, "uv").astype(np.float64)
        if faces_uv is None:
            raise ValueError("faces_uv: required when uv is given ((F, 3) indices into uv)")
        ft = _np(faces_uv, "faces_uv")
        if t.ndim != 2 or t.shape[1] != 2:
            raise ValueError(f"uv: expected (T, 2), got {t.shape}")
        if ft.shape != f.shape or (ft.size and (ft.min() < 0 or ft.max() >= len(t))):
            raise ValueError(f"faces_uv: expected {f.shape} indices in [0, {len(t) - 1}], got {ft.shape}")
        parts.append(_table(np.stack([t[:, 0], 1.0 - t[:, 1]], axis=1), "vt", "%.6f %.6f"))
        corners = np.stack([f + 1, ft.astype(np.int64) + 1], axis=2).reshape(len(f), 6)
        parts.append(_table(corners, "f", "%d/%d %d/%d %d/%d"))
    else:
        parts.append(_table(f + 1, "f", "%d %d %d"))
    path = Path(path)
    atomic_write_bytes(path, "".join(parts).encode("ascii"))
    return path


def write_ply(path: str | Path, vertices, faces, vertex_colors=None, binary: bool = True,
              comment: str | None = None) -> Path:
    """Write a triangle mesh as a PLY file (atomically).

    Args:
        path: the ``.ply`` file.
        vertices: (V, 3) float positions (stored as float32).
        faces: (F, 3) int vertex indices (0-based).
        vertex_colors: optional (V, 3) RGB (float in [0, 1] or uint8), stored as uchar.
        binary: little-endian binary (compact, default) or ASCII.
        comment: a header comment.

    Returns:
        the path written.
    """
    v, f = _check_mesh(vertices, faces)
    colors = _check_colors(vertex_colors, len(v)) if vertex_colors is not None else None
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", "comment written by decomr"]
    header += [f"comment {line}" for line in (comment or "").splitlines()]
    header += [f"element vertex {len(v)}", "property float x", "property float y", "property float z"]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    head = ("\n".join(header) + "\n").encode("ascii")
    if binary:
        vfields = [("xyz", "<f4", (3,))] + ([("rgb", "u1", (3,))] if colors is not None else [])
        vrec = np.empty(len(v), dtype=vfields)
        vrec["xyz"] = v
        if colors is not None:
            vrec["rgb"] = colors
        frec = np.empty(len(f), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
        frec["n"] = 3
        frec["idx"] = f
        body = vrec.tobytes() + frec.tobytes()
    else:
        vrows = _table(v, "", "%.6f %.6f %.6f") if colors is None else _table(
            np.concatenate([v, colors.astype(np.float64)], axis=1), "", "%.6f %.6f %.6f %d %d %d")
        body = (vrows + _table(f, "3", "%d %d %d")).encode("ascii")
    path = Path(path)
    atomic_write_bytes(path, head + body)
    return path


def read_obj_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the vertices and faces of a Wavefront OBJ file, triangulated.

    Quads are split along their shorter diagonal: a mirror-symmetric quad mesh then stays
    mirror-symmetric as triangles (splitting every quad the same way, as a fan does, would not;
    the continuous UV map needs the symmetry). Larger polygons are fanned. Texture and normal
    indices (``f v/vt/vn``) are ignored; vertex order is kept (no welding or splitting), negative
    (relative) indices are resolved.

    Args:
        path: the ``.obj`` file.

    Returns:
        vertices (V, 3) float64, faces (F, 3) int64 (0-based).

    Raises:
        FileNotFoundError: no such file. ValueError: no vertices/faces, or a malformed line
            (the message gives its number).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mesh file")
    vertices, faces = [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "v":
                vertices.append([float(x) for x in parts[1:4]])
            elif parts[0] == "f":
                idx = [int(p.split("/")[0]) for p in parts[1:]]
                idx = [i - 1 if i > 0 else len(vertices) + i for i in idx]
                if len(idx) < 3:
                    raise ValueError("a face needs at least 3 vertices")
                faces.append(idx)
        except (ValueError, IndexError) as err:
            raise ValueError(f"{path}, line {number}: cannot read {line.strip()!r} ({err})") from None
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    if len(v) == 0 or len(faces) == 0:
        raise ValueError(f"{path}: no vertices or no faces (is it a Wavefront OBJ mesh?)")
    if min(min(f) for f in faces) < 0 or max(max(f) for f in faces) >= len(v):
        raise ValueError(f"{path}: face indices out of range [1, {len(v)}]")
    tris = []
    for f in faces:
        if len(f) == 4:
            a, b, c, d = f
            if np.linalg.norm(v[a] - v[c]) <= np.linalg.norm(v[b] - v[d]):
                tris += [[a, b, c], [a, c, d]]
            else:
                tris += [[a, b, d], [b, c, d]]
        else:
            tris += [[f[0], f[k], f[k + 1]] for k in range(1, len(f) - 1)]  # fan
    return v, np.asarray(tris, dtype=np.int64).reshape(-1, 3)
