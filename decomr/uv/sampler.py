"""Mesh <-> UV map samplers (Eq. 3 and its inverse).

* ``mesh_to_map``: the location map of a mesh (or any per-vertex values) — every UV pixel blends
  three vertex values with the barycentrics of the UV triangle it falls in (:mod:`raster`).
* ``map_to_mesh``: Eq. 3, ``V_i = X(u_i, v_i)`` — bilinear sampling of the map at each UV vertex
  (``grid_sample(..., align_corners=True)``), the copies of a vertex cut by the seam averaged.

Padding. Bilinear sampling at a UV vertex on the chart's border also reads pixels whose centres
lie just outside every triangle. Those pixels (the "stencil" of the UV vertices) are filled too,
so the round trip mesh -> map -> mesh stays accurate on the border:

* ``"extrapolate"`` (default): the barycentric blend of the nearest incident face, extended
  linearly past its edge (linear fields are reproduced exactly everywhere);
* ``"nearest"``: the value of the UV vertex with the largest bilinear weight on the pixel (what
  the official DecoMR code does);
* ``"none"``: left at 0.

Conventions: a map of resolution R has pixel (i, j) at ``u = j/(R-1), v = i/(R-1)``. The
``align_corners=False`` option samples the same maps with the other ``grid_sample`` convention
(``u R - 0.5`` pixels): a half-pixel misalignment kept only to measure why the convention
matters (see :func:`decomr.uv.roundtrip.round_trip_errors`).

Glossary: B batch, V mesh vertices, T UV vertices, F faces, C channels, R resolution, N points.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from decomr.uv.atlas import UVAtlas
from decomr.uv.raster import barycentric, rasterize_uv

__all__ = ["PADDING_MODES", "UVSampler", "body_sampler", "stencil_pixels"]

PADDING_MODES = ("extrapolate", "nearest", "none")


def _csr(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta" (torch warns once)
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(rows, cols, vals, size=size)


class _CSRMatmul(torch.autograd.Function):
    """``y = M @ x`` for a constant sparse M given in CSR form, and its transpose for the
    backward pass (precomputed, so the gradient is another CSR product on every device)."""

    @staticmethod
    def forward(ctx, x, rows, cols, vals, t_rows, t_cols, t_vals, n_out: int):
        ctx.save_for_backward(t_rows, t_cols, t_vals)
        ctx.n_in = x.shape[0]
        return _csr(rows, cols, vals.to(x.dtype), (n_out, x.shape[0])) @ x

    @staticmethod
    def backward(ctx, grad):
        t_rows, t_cols, t_vals = ctx.saved_tensors
        gx = _csr(t_rows, t_cols, t_vals.to(grad.dtype), (ctx.n_in, grad.shape[0])) @ grad.contiguous()
        return gx, None, None, None, None, None, None, None


def _group_members(keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The indices ``i`` with ``keys[i] == q`` for each ``q`` of ``query`` (Q,), concatenated in
    query order (ascending within a query), and (Q,) how many each query has."""
    order = np.argsort(keys, kind="stable")
    start = np.searchsorted(keys[order], query)
    n = np.searchsorted(keys[order], query, side="right") - start  # (Q,)
    return order[np.repeat(start, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)], n


def stencil_pixels(uv: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 4 pixels bilinear sampling (align_corners=True) reads at each UV point.

    Args:
        uv: (T, 2) float in [0, 1]. resolution: R.

    Returns:
        (pixel (T, 4) int64 flat indices ``i * R + j``, weight (T, 4) bilinear weights,
        point (T,) the UV point index of each row) — rows follow ``uv``.
    """
    r = resolution
    p = np.asarray(uv, dtype=np.float64) * (r - 1)  # (T, 2) (col, row)
    j0 = np.clip(np.floor(p[:, 0]), 0, r - 1).astype(np.int64)
    i0 = np.clip(np.floor(p[:, 1]), 0, r - 1).astype(np.int64)
    j1, i1 = np.minimum(j0 + 1, r - 1), np.minimum(i0 + 1, r - 1)
    fu, fv = p[:, 0] - j0, p[:, 1] - i0
    pix = np.stack([i0 * r + j0, i0 * r + j1, i1 * r + j0, i1 * r + j1], axis=1)
    w = np.stack([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv], axis=1)
    return pix, w, np.arange(len(p))


def _check(name: str, x: torch.Tensor, dims: int, expected: str) -> None:
    if not torch.is_tensor(x) or x.dim() != dims:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{name}: expected shape {expected}, received {shape}")


class UVSampler(nn.Module):
    """Mesh <-> UV-map transfer for one atlas and resolution. Holds buffers only.

    Args:
        atlas: the :class:`UVAtlas`.
        resolution: R (the paper's location maps: 128).
        padding: how stencil pixels outside the triangles are filled (see module docstring).
        align_corners: sampling convention of ``map_to_mesh``/``sample``. Keep True (the maps are
            rasterised with align_corners=True centres); False only measures the mismatch.
        reference: optional (V, 3) reference mesh (the body's template): makes ``map_to_mesh``
            seam-aware (no reads across slits of the chart). ``decomr.uv.body_sampler`` passes it.
        max_jump: metres; a stencil pixel whose reference point is farther than this from the
            vertex's reference position is not read.

    Attributes:
        atlas: the source :class:`UVAtlas`; resolution, padding, align_corners, num_vertices.

    Buffers:
        pixel_vertex (R*R, 3) int64, pixel_weight (R*R, 3) float: each pixel as a blend of three
        mesh vertices; mask (R, R) bool (covered or padded pixels); coverage (R, R) bool (covered
        by a triangle); face_index (R, R) int64 (-1 outside triangles); uv (T, 2); vt_to_v (T,).
        With ``reference`` (the template's (V, 3) vertices), ``map_to_mesh`` is seam-aware: it
        never reads across a slit of the chart (see :meth:`_build_seam_aware_read`).
        Both transfers are products with constant sparse matrices (CSR, with precomputed
        transposes for the backward pass): ``(R*R, V)`` for ``mesh_to_map`` and the ``(V, T)`` copy
        average of ``map_to_mesh``. Set ``use_sparse = False`` (automatic during ONNX export or
        tracing) for the equivalent dense gathers.

    Example:
        >>> import torch
        >>> atlas = UVAtlas("tri", [[0.1, 0.1], [0.9, 0.1], [0.1, 0.9]], [[0, 1, 2]], [0, 1, 2], 3)
        >>> s = UVSampler(atlas, 16)
        >>> values = torch.tensor([[[0.0], [1.0], [2.0]]])            # (B=1, V=3, C=1)
        >>> s.mesh_to_map(values).shape
        torch.Size([1, 1, 16, 16])
        >>> torch.allclose(s.map_to_mesh(s.mesh_to_map(values)), values, atol=1e-5)
        True
    """

    def __init__(
        self,
        atlas: UVAtlas,
        resolution: int = 128,
        padding: str = "extrapolate",
        align_corners: bool = True,
        reference: torch.Tensor | np.ndarray | None = None,
        max_jump: float = 0.03,
    ):
        super().__init__()
        if not isinstance(atlas, UVAtlas):
            raise ValueError(f"atlas: expected a UVAtlas, received {type(atlas).__name__}")
        if int(resolution) < 2:
            raise ValueError(f"resolution: expected an int >= 2, received {resolution}")
        if padding not in PADDING_MODES:
            raise ValueError(f"padding: expected one of {PADDING_MODES}, received {padding!r}")
        self.resolution = r = int(resolution)
        self.padding = padding
        self.align_corners = bool(align_corners)
        self.num_vertices = atlas.num_vertices
        self.atlas = atlas  # the source atlas (CPU tensors, not buffers)
        uv = atlas.uv.numpy().astype(np.float64)
        fuv = atlas.faces_uv.numpy()
        vt_to_v = atlas.vt_to_v.numpy()
        raster = rasterize_uv(uv, fuv, r)
        face = raster.face_idx.reshape(-1)
        pv = np.zeros((r * r, 3), dtype=np.int64)
        pw = np.zeros((r * r, 3), dtype=np.float64)
        cov = face >= 0
        pv[cov] = vt_to_v[fuv[face[cov]]]
        pw[cov] = raster.bary.reshape(-1, 3)[cov]
        mask = cov.copy()
        if padding != "none":
            self._pad(uv, fuv, vt_to_v, cov, pv, pw, mask)

        self.register_buffer("pixel_vertex", torch.as_tensor(pv), persistent=False)
        self.register_buffer("pixel_weight", torch.as_tensor(pw, dtype=torch.float32), persistent=False)
        self.register_buffer("mask", torch.as_tensor(mask.reshape(r, r)), persistent=False)
        self.register_buffer("coverage", torch.as_tensor(cov.reshape(r, r)), persistent=False)
        self.register_buffer("face_index", torch.as_tensor(raster.face_idx), persistent=False)
        self.register_buffer("uv", torch.as_tensor(uv, dtype=torch.float32), persistent=False)
        self.register_buffer("vt_to_v", torch.as_tensor(vt_to_v), persistent=False)
        # Both transfers are constant sparse matrices, kept in CSR form with their transposes:
        # the (R*R, V) pixel blend of mesh_to_map, and Eq. 3's average over the UV copies of
        # each vertex, (V, T) with 1 / copies (deterministic, unlike a scatter-add on GPUs).
        keep = pw.reshape(-1) != 0
        pix_rows = np.repeat(np.arange(r * r), 3)[keep]
        counts = np.bincount(vt_to_v, minlength=atlas.num_vertices)
        self._register_csr("blend", sp.coo_matrix((pw.reshape(-1)[keep], (pix_rows, pv.reshape(-1)[keep])),
                                                  shape=(r * r, atlas.num_vertices)))
        self._register_csr("average", sp.coo_matrix((1.0 / counts[vt_to_v], (vt_to_v, np.arange(len(vt_to_v)))),
                                                    shape=(atlas.num_vertices, len(vt_to_v))))
        # Dense equivalent of the copy average (ONNX export / tracing): copy_table (V, K) UV
        # copies of each vertex (index T = a zero row), copy_weight (V, K) = 1 / copies or 0.
        k = int(counts.max())
        order = np.argsort(vt_to_v, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot = np.arange(len(order)) - starts[vt_to_v[order]]
        table = np.full((atlas.num_vertices, k), len(vt_to_v), dtype=np.int64)
        table[vt_to_v[order], slot] = order
        self.register_buffer("copy_table", torch.as_tensor(table), persistent=False)
        self.register_buffer("copy_weight", torch.as_tensor((table < len(vt_to_v)) / counts[:, None], dtype=torch.float32), persistent=False)
        self.use_sparse = True
        self.seam_aware = reference is not None
        if self.seam_aware:
            ref = reference.detach().cpu().numpy() if torch.is_tensor(reference) else reference
            self._build_seam_aware_read(np.asarray(ref, dtype=np.float64), float(max_jump), pv, pw, mask)

    def _build_seam_aware_read(self, reference: np.ndarray, max_jump: float, pv, pw, mask) -> None:
        """Eq. 3 as one constant (V, R*R) matrix that never reads across a slit of the chart.

        A free-boundary parameterisation can leave two far-apart parts of the surface touching
        in UV (e.g. the two sides of the armpit slit). Plain bilinear sampling at a UV vertex next
        to such a slit then mixes in the other side's values. Here each of the 4 stencil pixels
        of a UV vertex is kept only if the reference mesh's point at that pixel lies within
        ``max_jump`` metres of the vertex's own reference position; the kept weights are
        renormalised (the nearest pixel is kept if none qualifies).
        """
        if reference.shape != (self.num_vertices, 3):
            raise ValueError(f"reference: expected shape ({self.num_vertices}, 3), received {reference.shape}")
        r = self.resolution
        ref_map = (reference[pv] * pw[..., None]).sum(1)  # (R*R, 3) the reference location map
        uv = self.uv.numpy().astype(np.float64)
        vt_to_v = self.vt_to_v.numpy()
        pix, w, _ = stencil_pixels(uv, r)  # (T, 4)
        jump = np.linalg.norm(ref_map[pix] - reference[vt_to_v][:, None], axis=-1)  # (T, 4)
        ok = (jump <= max_jump) & mask.reshape(-1)[pix]
        w = np.where(ok, w, 0.0)
        none = w.sum(1) <= 1e-12
        if none.any():  # keep the closest stencil pixel
            w[none] = np.eye(4)[np.argmin(jump[none], axis=1)]
        w = w / w.sum(1, keepdims=True)
        counts = np.bincount(vt_to_v, minlength=self.num_vertices)
        rows = np.repeat(vt_to_v, 4)
        vals = (w / counts[vt_to_v][:, None]).ravel()
        read = sp.coo_matrix((vals, (rows, pix.ravel())), shape=(self.num_vertices, r * r)).tocsr()
        read.sum_duplicates()
        read.eliminate_zeros()
        self._register_csr("read", read)
        # Dense twin for export: (V, K) pixel indices and weights.
        nnz = np.diff(read.indptr)  # (V,) pixels each vertex reads
        row = np.repeat(np.arange(self.num_vertices), nnz)
        slot = np.arange(read.nnz) - read.indptr[row]  # position within its row
        table = np.zeros((self.num_vertices, int(nnz.max())), dtype=np.int64)
        weight = np.zeros((self.num_vertices, int(nnz.max())), dtype=np.float32)
        table[row, slot], weight[row, slot] = read.indices, read.data
        self.register_buffer("read_table", torch.as_tensor(table), persistent=False)
        self.register_buffer("read_weight", torch.as_tensor(weight), persistent=False)

    def _register_csr(self, name: str, matrix: sp.spmatrix) -> None:
        """Buffers ``_{name}_rows``, ``_cols``, ``_vals`` (CSR indptr, indices, data) of a constant sparse
        matrix and ``_{name}_t_rows`` .. ``_t_vals`` of its transpose (for :meth:`_matmul`)."""
        for prefix, mat in (("", matrix.tocsr()), ("t_", matrix.T.tocsr())):
            mat.sort_indices()
            arrays = {"rows": mat.indptr.astype(np.int64), "cols": mat.indices.astype(np.int64),
                      "vals": mat.data.astype(np.float32)}
            for key, arr in arrays.items():
                self.register_buffer(f"_{name}_{prefix}{key}", torch.as_tensor(arr), persistent=False)

    def _sparse_ok(self) -> bool:
        """Use the sparse products unless disabled or while exporting/tracing (no sparse ops there)."""
        return self.use_sparse and not torch.onnx.is_in_onnx_export() and not torch.jit.is_tracing()

    def _matmul(self, name: str, x: torch.Tensor, n_out: int) -> torch.Tensor:
        """``M @ x`` for the constant sparse matrix ``name`` ("blend" or "average"); x: (N, K)."""
        b = [getattr(self, f"_{name}_{k}") for k in ("rows", "cols", "vals", "t_rows", "t_cols", "t_vals")]
        return _CSRMatmul.apply(x, *b, n_out)

    def _pad(self, uv, fuv, vt_to_v, cov, pv, pw, mask) -> None:
        """Fill stencil pixels outside the triangles (in place)."""
        r = self.resolution
        pix, w, pt = stencil_pixels(uv, r)
        pix, w, pt = pix.ravel(), w.ravel(), np.repeat(pt, 4)
        need = ~cov[pix]
        pix, w, pt = pix[need], w[need], pt[need]
        if len(pix) == 0:
            return
        if self.padding == "nearest":
            sel = np.lexsort((pt, -w, pix))  # per pixel: largest bilinear weight first
            first = np.ones(len(sel), bool)
            first[1:] = pix[sel][1:] != pix[sel][:-1]
            sel = sel[first]
            pv[pix[sel]] = vt_to_v[pt[sel], None]
            pw[pix[sel]] = np.array([1.0, 0.0, 0.0])
            mask[pix[sel]] = True
            return
        # "extrapolate": among the faces incident to the UV vertices that read the pixel, the one
        # the pixel centre is least outside of; its (extended) barycentrics blend the values.
        corner, n = _group_members(fuv.ravel(), pt)  # the face corners at each reading UV vertex
        cand_pix, cand_face = np.repeat(pix, n), corner // 3
        centre = np.stack([cand_pix % r, cand_pix // r], axis=1) / (r - 1)  # (M, 2) (u, v)
        tri = uv[fuv[cand_face]]  # (M, 3, 2)
        b = barycentric(centre, tri[:, 0], tri[:, 1], tri[:, 2])  # (M, 3)
        score = np.where(np.isfinite(b).all(axis=1), b.min(axis=1), -np.inf)
        sel = np.lexsort((cand_face, -score, cand_pix))
        first = np.ones(len(sel), bool)
        first[1:] = cand_pix[sel][1:] != cand_pix[sel][:-1]
        sel = sel[first]
        # Far outside a sliver triangle the linear extension blows up: fall back to the nearest corner.
        far = score[sel] < -1.0
        p, f = cand_pix[sel], cand_face[sel]
        pv[p] = vt_to_v[fuv[f]]
        pw[p] = b[sel]
        if far.any():
            d = np.linalg.norm(tri[sel[far]] - centre[sel[far], None], axis=-1)  # (K, 3)
            pw[p[far]] = np.eye(3)[np.argmin(d, axis=1)]
        mask[p] = True

    # ------------------------------------------------------------------ transfers
    def mesh_to_map(self, values: torch.Tensor) -> torch.Tensor:
        """Rasterise per-vertex values into UV maps (location maps when values are positions).

        Args:
            values: (B, V, C) per-vertex values (e.g. camera-frame positions, metres).

        Returns:
            (B, C, R, R); 0 outside :attr:`mask`. Differentiable in ``values``.
        """
        _check("values", values, 3, f"(B, {self.num_vertices}, C)")
        if values.shape[1] != self.num_vertices:
            raise ValueError(f"values: expected shape (B, {self.num_vertices}, C), received {tuple(values.shape)}")
        b, v, c = values.shape
        r = self.resolution
        if not self._sparse_ok():  # dense gather: the same sums, exportable (ONNX, tracing)
            g = values[:, self.pixel_vertex.reshape(-1)].reshape(b, r * r, 3, c)  # (B, R*R, 3, C)
            out = (g * self.pixel_weight.to(values.dtype)[None, :, :, None]).sum(dim=2)  # (B, R*R, C)
            return out.transpose(1, 2).reshape(b, c, r, r)
        x = values.transpose(0, 1).reshape(v, b * c)  # (V, B*C)
        out = self._matmul("blend", x, r * r)  # (R*R, B*C)
        return out.view(r, r, b, c).permute(2, 3, 0, 1).contiguous()  # (B, C, R, R)

    def sample(self, maps: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
        """Bilinear samples of UV maps at UV points (``grid_sample`` with this sampler's convention).

        Args:
            maps: (B, C, R', R') any resolution.
            uv: (B, N, 2) UV points in [0, 1] (u, v).

        Returns:
            (B, N, C).
        """
        _check("maps", maps, 4, "(B, C, R, R)")
        _check("uv", uv, 3, "(B, N, 2)")
        if uv.shape[0] != maps.shape[0] or uv.shape[2] != 2:
            raise ValueError(f"uv: expected shape ({maps.shape[0]}, N, 2), received {tuple(uv.shape)}")
        grid = (2.0 * uv - 1.0).to(maps.dtype)[:, None]  # (B, 1, N, 2)
        out = F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=self.align_corners)
        return out[:, :, 0].transpose(1, 2)  # (B, N, C)

    def map_to_mesh(self, maps: torch.Tensor) -> torch.Tensor:
        """Eq. 3: per-vertex values read from UV maps, seam copies averaged.

        Args:
            maps: (B, C, R, R) (e.g. location maps, metres).

        Returns:
            (B, V, C). Differentiable in ``maps``.
        """
        _check("maps", maps, 4, f"(B, C, {self.resolution}, {self.resolution})")
        b = maps.shape[0]
        if self.seam_aware and self.align_corners:
            if maps.shape[2:] != (self.resolution, self.resolution):
                raise ValueError(f"maps: expected shape (B, C, {self.resolution}, {self.resolution}), received {tuple(maps.shape)}")
            c, rr = maps.shape[1], self.resolution * self.resolution
            flat = maps.reshape(b, c, rr)
            if not self._sparse_ok():
                g = flat[:, :, self.read_table]  # (B, C, V, K)
                return (g * self.read_weight.to(maps.dtype)).sum(-1).transpose(1, 2)  # (B, V, C)
            out = self._matmul("read", flat.permute(2, 0, 1).reshape(rr, b * c), self.num_vertices)  # (V, B*C)
            return out.view(self.num_vertices, b, c).transpose(0, 1).contiguous()  # (B, V, C)
        vt = self.sample(maps, self.uv[None].expand(b, -1, -1))  # (B, T, C)
        t, c = vt.shape[1], vt.shape[2]
        if not self._sparse_ok():
            vt = torch.cat([vt, vt.new_zeros(b, 1, c)], dim=1)  # (B, T + 1, C), row T = 0
            g = vt[:, self.copy_table]  # (B, V, K, C)
            return (g * self.copy_weight.to(maps.dtype)[None, :, :, None]).sum(dim=2)  # (B, V, C)
        out = self._matmul("average", vt.transpose(0, 1).reshape(t, b * c), self.num_vertices)  # (V, B*C)
        return out.view(self.num_vertices, b, c).transpose(0, 1).contiguous()  # (B, V, C)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, padding={self.padding!r}, align_corners={self.align_corners}, vertices={self.num_vertices}"


def body_sampler(body, atlas: UVAtlas, resolution: int = 128, **kwargs) -> UVSampler:
    """The sampler to use for a body model: seam-aware ``map_to_mesh`` (reference = the template
    stored in the atlas, else the body's own).

    Args:
        body: a :class:`decomr.body.BodyModel` (its ``template`` (V, 3) is the fallback reference).
        atlas: the body's :class:`UVAtlas`. resolution: R. kwargs: passed to :class:`UVSampler`.
    """
    reference = torch.as_tensor(atlas.template) if getattr(atlas, "template", None) is not None else body.template
    return UVSampler(atlas, resolution, reference=reference, **kwargs).to(body.template.device)
