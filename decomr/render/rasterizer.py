"""A z-buffered triangle rasteriser in plain PyTorch (CPU and CUDA, batched, no custom kernels).

DecoMR needs ground-truth IUV images, masks and part maps (Sec. 3.2, Eq. 1-2) rendered from
posed meshes, on the CPU in tests and on the GPU in training. Instead of OpenDR /
neural_renderer / pytorch3d (their installs are the most reported pain of the official code),
this module rasterises with a handful of vectorised tensor ops:

1. vertices are snapped to 1/256 pixel and every face gets the pixel centres inside its
   screen-space bounding box (faces whose box holds none, most of a dense mesh, are dropped);
2. the (face, pixel) candidate pairs are enumerated in chunks of at most ``chunk`` pairs;
3. three edge functions, exact in float64 thanks to the snapping, test whether the pixel centre
   is inside the triangle; a centre lying exactly on an edge or a vertex goes to one face only
   (a "top-left"-like rule, see :func:`_face_tables`), so meshes are rendered watertight: no
   pixel along a shared edge is drawn twice or dropped;
4. one ``scatter_reduce(..., "amin")`` per chunk on packed int64 keys
   ``float32 depth bits << k | face`` keeps, for every pixel, the nearest face (equal depths:
   the smallest face index);
5. barycentric coordinates are computed for the winning faces only, from the exact vertices.

Coordinates follow :mod:`decomr.conventions`: ``verts[..., 0]`` and ``verts[..., 1]`` are normalised
image coordinates in ``[-1, 1]`` (x right, y down), the centre of pixel (row i, col j) of an
H x W image being at ``x = (2 j + 1) / W - 1``, ``y = (2 i + 1) / H - 1`` (``grid_sample`` with
``align_corners=False``); ``verts[..., 2]`` is the depth (larger = farther). See
:mod:`decomr.render.cameras` for functions producing such vertices.

Indices and barycentrics carry no gradient; interpolating attributes with them
(:func:`interpolate_vertex_attrs`, :func:`interpolate_face_attrs`) is differentiable with
respect to the attributes.

Example:
    >>> import torch
    >>> verts = torch.tensor([[[-0.5, -0.5, 1.0], [0.5, -0.5, 1.0], [0.0, 0.5, 1.0]]])
    >>> frags = rasterize(verts, torch.tensor([[0, 1, 2]]), image_size=(8, 8))
    >>> frags.face_idx.shape, frags.bary.shape, int(frags.mask.sum())
    (torch.Size([1, 8, 8]), torch.Size([1, 8, 8, 3]), 8)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from decomr.render.cameras import _check_points, _check_size, _shape

__all__ = [
    "Fragments",
    "rasterize",
    "interpolate_vertex_attrs",
    "interpolate_face_attrs",
    "default_chunk",
]

_KEY_EMPTY = torch.iinfo(torch.int64).max  # z-buffer value of a pixel no face covers
# Vertex positions are snapped to 1/SUBPIXEL pixel for the coverage test, as hardware
# rasterisers do. Edge functions of snapped coordinates are then exact in float64 (for images up
# to 4096 pixels and vertices within 2**16 pixels of them), so the tie rule below is exact:
# watertight even for vertices lying on pixel centres. Barycentrics use the unsnapped vertices.
SUBPIXEL = 256.0


@dataclass(frozen=True)
class Fragments:
    """What the rasteriser knows about each pixel (the visible face and where on it).

    Attributes:
        face_idx: (B, H, W) long, index into ``faces`` of the visible face, -1 on the background.
        bary: (B, H, W, 3) float, barycentric coordinates of the pixel centre in the visible face
            (weights of ``faces[face_idx, 0..2]``, from the unsnapped vertices), non-negative,
            summing to 1; 0 on the background. Perspective-correct when ``perspective_correct``
            is True, otherwise affine in screen space (exact for orthographic / weak-perspective
            cameras).
        depth: (B, H, W) float, interpolated depth of the visible point (the value compared in
            the z-test), 0 on the background.
        perspective_correct: whether ``bary`` and ``depth`` were interpolated perspective-correctly.
    """

    face_idx: Tensor
    bary: Tensor
    depth: Tensor
    perspective_correct: bool = False

    @property
    def mask(self) -> Tensor:
        """(B, H, W) bool, True where a face is visible."""
        return self.face_idx >= 0

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W)."""
        return int(self.face_idx.shape[1]), int(self.face_idx.shape[2])

    @property
    def batch_size(self) -> int:
        return int(self.face_idx.shape[0])


def default_chunk(device: torch.device | str) -> int:
    """Default cap on (face, pixel) candidate pairs per pass: 2**17 on CPU, 2**23 on CUDA.

    A pass holds about 300 bytes per pair; the per-face tables of a group of batch items
    (``chunk // (2 F)`` items, at least one) about 300 bytes per face. Small chunks stay in the
    CPU caches (2**17 was fastest here); on a GPU larger chunks mean fewer kernel launches.
    """
    return 1 << 23 if torch.device(device).type == "cuda" else 1 << 17


def _check_inputs(verts: Tensor, faces: Tensor, image_size) -> tuple[int, int]:
    _check_points(verts, "verts", "(B, V, 3)")
    if not torch.is_tensor(faces) or faces.dim() != 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces: expected a (F, 3) integer tensor, received {_shape(faces)}")
    if faces.is_floating_point() or faces.dtype == torch.bool:
        raise ValueError(f"faces: expected an integer tensor, received dtype {faces.dtype}")
    if faces.device != verts.device:
        raise ValueError(f"faces: expected device {verts.device} (that of verts), received {faces.device}")
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= verts.shape[1]):
        raise ValueError(
            f"faces: indices must lie in [0, V) with V = {verts.shape[1]}, "
            f"received range [{int(faces.min())}, {int(faces.max())}]"
        )
    return _check_size(image_size)


def _face_tables(
    verts: Tensor,
    faces: Tensor,
    height: int,
    width: int,
    perspective_correct: bool,
    cull_backfaces: bool,
    znear: float | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-face setup for the N faces (of G * F) that may cover a pixel centre.

    Args:
        verts: (G, V, 3) float, one batch group.
        faces: (F, 3) long.

    Returns:
        ids: (N,) long, ``item * F + face`` (item within the group) of each kept face.
        coef: (N, 15) float64: for the edges opposite corners 0, 1, 2 the coefficients
            ``A (3 columns), B (3), C (3)`` of ``E = A * px + B * py + C`` (px, py in pixels, pixel
            centres at integers) signed so that E > 0 inside, the depth term of each corner
            (``z``, or ``1 / z`` when perspective-correct) (3), and the threshold T of each edge
            (3): a pixel centre is inside when ``E > T`` on all three edges (T < 0 includes the
            centres on the edge, see the tie rule).
        box: (N, 3) long: first column, first row and width (in pixels) of the bounding box of
            the pixel centres the face may cover.
        counts: (N,) long > 0: number of pixel centres in that box.
    """
    group, num_verts = verts.shape[:2]
    num_faces = faces.shape[0]
    device = verts.device
    # Per vertex: pixel units (centres at integers) snapped to 1/SUBPIXEL pixel, so that the
    # edge functions below are exact in float64 (see SUBPIXEL).
    flat = verts.reshape(group * num_verts, 3).double()  # (G*V, 3)
    snapped = torch.stack([
        torch.round(((flat[:, 0] + 1.0) * (0.5 * width) - 0.5) * SUBPIXEL) / SUBPIXEL,
        torch.round(((flat[:, 1] + 1.0) * (0.5 * height) - 0.5) * SUBPIXEL) / SUBPIXEL,
        flat[:, 2],
    ], dim=1)  # (G*V, 3)

    # Bounding box of the pixel centres a face may cover, from per-vertex integer bounds:
    # ceil(min) = min(ceil) and floor(max) = max(floor). Cheap int32 work on every face.
    big = float(max(height, width) + 2)
    xy = snapped[:, :2].float()  # exact: snapped values within [-1, big] fit float32
    bounds = torch.cat([
        torch.ceil(xy.nan_to_num(big).clamp_(-1.0, big)),
        torch.floor(xy.nan_to_num(-1.0).clamp_(-1.0, big)),
    ], dim=1).int()  # (G*V, 4): ceil x, ceil y, floor x, floor y
    shift = torch.arange(group, device=device)[:, None] * num_verts  # (G, 1)
    index = (faces.t()[:, None, :] + shift[None]).reshape(-1)  # (3 corners * G * F,)
    corner_bounds = bounds.index_select(0, index).view(3, group * num_faces, 4)
    low = torch.minimum(torch.minimum(corner_bounds[0, :, :2], corner_bounds[1, :, :2]), corner_bounds[2, :, :2])
    high = torch.maximum(torch.maximum(corner_bounds[0, :, 2:], corner_bounds[1, :, 2:]), corner_bounds[2, :, 2:])
    low.clamp_(min=0)
    high[:, 0].clamp_(max=width - 1)
    high[:, 1].clamp_(max=height - 1)
    size = (high - low + 1).clamp_(min=0)  # (G*F, 2) box width and height
    counts = size[:, 0] * size[:, 1]  # (G*F,) int32

    # Most faces of a dense mesh cover no pixel centre: keep the others only.
    ids = counts.nonzero().squeeze(1)  # (N,)
    corners = snapped.index_select(0, index.view(3, -1).index_select(1, ids).reshape(-1)).view(3, -1, 3)
    px, py, pz = corners[..., 0], corners[..., 1], corners[..., 2]  # (3, N) each

    # Twice the signed area; > 0 means the corners turn from +x towards +y (clockwise on the
    # screen since y points down). For outward-wound meshes in a right-handed camera frame
    # (x right, y down, z forward) front faces have area2 < 0.
    area2 = (px[1] - px[0]) * (py[2] - py[0]) - (px[2] - px[0]) * (py[1] - py[0])  # (N,)
    valid = torch.isfinite(area2) & (area2 != 0) & torch.isfinite(pz.sum(0))
    if cull_backfaces:
        valid &= area2 < 0
    if znear is not None:
        valid &= (pz >= znear).all(0)
    if perspective_correct:
        valid &= (pz > 0).all(0)
    keep = valid.nonzero().squeeze(1)
    if keep.numel() < ids.numel():
        ids, area2 = ids.index_select(0, keep), area2.index_select(0, keep)
        px, py, pz = px.index_select(1, keep), py.index_select(1, keep), pz.index_select(1, keep)
    counts = counts.index_select(0, ids).long()
    box = torch.cat([low.index_select(0, ids), size[:, :1].index_select(0, ids)], dim=1).long()  # (N, 3)
    area_sign = torch.sign(area2)  # (N,)

    # Edge i joins corners j = i+1 and k = i+2 (it is opposite corner i):
    # E(p) = cross(v_k - v_j, p - a) = -dy * px + dx * py + (dy * ax - dx * ay), with a the
    # lexicographically smaller endpoint, so that two faces sharing the edge compute exactly
    # opposite values even where float64 is not exact (vertices very far off-screen). E at
    # corner i is area2: multiplying by its sign makes E > 0 inside.
    xj, xk = px.roll(-1, 0), px.roll(1, 0)  # (3, N) rows: edges 0, 1, 2
    yj, yk = py.roll(-1, 0), py.roll(1, 0)
    dx, dy = xk - xj, yk - yj
    swap = (xk < xj) | ((xk == xj) & (yk < yj))
    ax, ay = torch.where(swap, xk, xj), torch.where(swap, yk, yj)
    coef_a, coef_b = -dy * area_sign, dx * area_sign
    coef_c = (dy * ax - dx * ay) * area_sign
    # A pixel centre on the edge (E == 0) is inside when the inside lies towards (-eps^2, +eps)
    # of the edge, as if every sample were nudged by that vector: a consistent perturbation, so
    # a point is in exactly one face of a watertight fan and on one side of every shared edge
    # (a "top-left"-like rule).
    # With snapped vertices E is a multiple of 1/SUBPIXEL**2, so "E >= 0" is "E > -0.5/SUBPIXEL**2".
    tie = (coef_b > 0) | ((coef_b == 0) & (coef_a < 0))
    threshold = torch.where(tie, -0.5 / SUBPIXEL**2, 0.0).to(coef_a.dtype)
    zterm = 1.0 / pz if perspective_correct else pz
    coef = torch.cat([coef_a, coef_b, coef_c, zterm, threshold]).t().contiguous()  # (N, 15)
    return ids, coef, box, counts


def _edge_values(coef: Tensor, px: Tensor, py: Tensor) -> list[Tensor]:
    """Edge functions [(P,)] * 3 at pixel centres (px, py) (P,) for coefficient rows (P, 15)."""
    return [coef[:, i] * px + coef[:, 3 + i] * py + coef[:, 6 + i] for i in range(3)]


def _interpolate(e: list[Tensor], zterm: Tensor, perspective_correct: bool) -> Tensor:
    """Depth (P,) from non-negative edge values [(P,)] * 3 and the corners' depth terms (P, 3)."""
    total = (e[0] + e[1] + e[2]).clamp_min(torch.finfo(e[0].dtype).tiny)  # twice the area
    value = (e[0] * zterm[:, 0] + e[1] * zterm[:, 1] + e[2] * zterm[:, 2]) / total
    return 1.0 / value if perspective_correct else value  # 1/z is affine in screen space


def _barycentrics(
    tri: Tensor, col: Tensor, row: Tensor, height: int, width: int, perspective_correct: bool
) -> tuple[Tensor, Tensor]:
    """Barycentrics (3, M) and depth (M,) of pixel centres (col, row) (M,) in triangles (M, 3, 3).

    Uses the exact (unsnapped) vertex positions, so linear functions are reproduced exactly (up
    to rounding) at every pixel centre inside the exact triangle.
    """
    px = (tri[..., 0] + 1.0) * (0.5 * width) - 0.5  # (M, 3) pixel units
    py = (tri[..., 1] + 1.0) * (0.5 * height) - 0.5
    e = []
    for i in range(3):  # cross(v_k - v_j, p - v_j): twice the signed area of (v_j, v_k, p)
        j, k = (i + 1) % 3, (i + 2) % 3
        e.append((px[:, k] - px[:, j]) * (row - py[:, j]) - (py[:, k] - py[:, j]) * (col - px[:, j]))
    e = torch.stack(e)  # (3, M)
    total = e.sum(dim=0)  # (M,) twice the signed area of the triangle
    tiny = torch.finfo(e.dtype).tiny
    bary = e / torch.where(total.abs() < tiny, tiny, total)
    # A centre inside the snapped triangle can lie (by < 1/512 pixel) outside the exact one:
    # clip to the triangle (a no-op for every other pixel).
    bary = bary.clamp_min(0.0)
    bary = bary / bary.sum(dim=0).clamp_min(tiny)
    z = tri[..., 2].t()  # (3, M)
    if perspective_correct:  # 1/z is affine in screen space
        w = bary / z
        inv_depth = w.sum(dim=0)
        return w / inv_depth, 1.0 / inv_depth
    return bary, (bary * z).sum(dim=0)


def _sortable_bits(depth: Tensor) -> Tensor:
    """(P,) float32 -> (P,) int64 in [0, 2**32) with the same order (exact, no quantisation)."""
    bits = depth.view(torch.int32)
    bits = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # negative floats: reverse the magnitude order
    return bits.long() + (1 << 31)


def rasterize(
    verts: Tensor,
    faces: Tensor,
    image_size: tuple[int, int] | int,
    *,
    perspective_correct: bool = False,
    cull_backfaces: bool = False,
    znear: float | None = None,
    chunk: int | None = None,
) -> Fragments:
    """Rasterise a batch of triangle meshes sharing one face list, with a z-buffer.

    Every pixel gets the nearest face whose triangle contains its centre. Centres exactly on an
    edge shared by two faces go to exactly one of them (watertight). Both orientations of the
    faces are drawn unless ``cull_backfaces``.

    Args:
        verts: (B, V, 3) float. x, y in normalised image coordinates (x right, y down, pixel
            (i, j) centred at ``((2j+1)/W - 1, (2i+1)/H - 1)``), z = depth (larger = farther).
            Made by :func:`decomr.render.cameras.weak_perspective_vertices` or
            :func:`decomr.render.cameras.perspective_vertices`. Not differentiated.
        faces: (F, 3) long, vertex indices (any winding).
        image_size: (H, W) in pixels, or one int for a square image.
        perspective_correct: interpolate 1/z (and barycentrics) linearly in screen space, as is
            right for a pinhole camera; requires z > 0 (faces with a corner at z <= 0 are
            dropped). False (default): affine interpolation, exact for weak-perspective cameras.
        cull_backfaces: drop faces whose corners turn counter-clockwise as seen in the image,
            i.e. the back faces of outward-wound meshes (normals by the right-hand rule) in the
            camera frame (x right, y down, z forward).
        znear: if given, drop faces with a corner whose depth is below ``znear``.
        chunk: cap on (face, pixel) candidate pairs processed at once (memory ~300 bytes per
            pair); :func:`default_chunk` if None. A single face whose bounding box holds more
            pixels than ``chunk`` is processed alone. Does not change the result.

    Returns:
        :class:`Fragments` with ``face_idx`` (B, H, W) long (-1 = background), ``bary``
        (B, H, W, 3), ``depth`` (B, H, W) (0 on the background), in float64 for float64 ``verts``
        and float32 otherwise. The z-test compares depths rounded to float32; equal depths go to
        the smaller face index.

    Raises:
        ValueError: on badly shaped or typed inputs (the message names the argument).
    """
    height, width = _check_inputs(verts, faces, image_size)
    if chunk is None:
        chunk = default_chunk(verts.device)
    if int(chunk) != chunk or int(chunk) < 1:
        raise ValueError(f"chunk: expected a positive integer, received {chunk}")
    chunk = int(chunk)
    device = verts.device
    dtype = torch.float64 if verts.dtype == torch.float64 else torch.float32
    verts = verts.detach().to(dtype)
    faces = faces.long()
    batch, num_faces = verts.shape[0], faces.shape[0]
    num_pix = height * width
    face_bits = max(1, int(num_faces).bit_length())  # a face index fits in face_bits bits
    if face_bits > 31:
        raise ValueError(f"faces: at most 2**31 - 1 faces are supported, received {num_faces}")
    face_mask = (1 << face_bits) - 1

    zbuf = torch.full((batch * num_pix,), _KEY_EMPTY, dtype=torch.int64, device=device)
    face_idx = torch.full((batch * num_pix,), -1, dtype=torch.int64, device=device)
    bary = torch.zeros(batch * num_pix, 3, dtype=dtype, device=device)
    depth = torch.zeros(batch * num_pix, dtype=dtype, device=device)
    # Batch items are processed in groups so that the per-face tables stay bounded too.
    group = max(1, chunk // (2 * max(1, num_faces)))
    for g0 in range(0, batch, group):
        g1 = min(batch, g0 + group)
        tables = _face_tables(verts[g0:g1], faces, height, width, perspective_correct, cull_backfaces, znear)
        _zbuffer_group(zbuf, tables, g0 * num_faces, num_faces, num_pix, width, face_bits,
                       perspective_correct, chunk)

    # Decode the winners and compute their barycentrics from the unsnapped vertices (float64),
    # `chunk` pixels at a time.
    flat = verts.reshape(-1, 3)  # (B*V, 3)
    for c0 in range(0, batch * num_pix, chunk):
        keys = zbuf[c0 : c0 + chunk]
        hit = (keys != _KEY_EMPTY).nonzero().squeeze(1)  # (M,) positions in this chunk
        if hit.numel() == 0:
            continue
        face = keys.index_select(0, hit) & face_mask  # (M,) index into faces
        pix = hit + c0  # (M,) linear index into (B, H, W)
        item = pix // num_pix
        rem = pix - item * num_pix
        row = rem // width
        col = rem - row * width
        corners = faces.index_select(0, face) + (item * verts.shape[1])[:, None]  # (M, 3)
        tri = flat.index_select(0, corners.reshape(-1)).view(-1, 3, 3).double()  # (M, 3 corners, 3)
        b, z = _barycentrics(tri, col.double(), row.double(), height, width, perspective_correct)
        face_idx.index_copy_(0, pix, face)
        bary.index_copy_(0, pix, b.t().to(dtype))
        depth.index_copy_(0, pix, z.to(dtype))
    return Fragments(
        face_idx=face_idx.view(batch, height, width),
        bary=bary.view(batch, height, width, 3),
        depth=depth.view(batch, height, width),
        perspective_correct=perspective_correct,
    )


def _zbuffer_group(
    zbuf: Tensor,
    tables: tuple[Tensor, Tensor, Tensor, Tensor],
    first_face: int,
    num_faces: int,
    num_pix: int,
    width: int,
    face_bits: int,
    perspective_correct: bool,
    chunk: int,
) -> None:
    """Scatter-min the packed (depth, face) keys of one batch group into ``zbuf`` (B*H*W,).

    ``tables`` come from :func:`_face_tables`; ``first_face`` is the global index
    (item * F + face) of the group's first face.
    """
    ids, coef, box, counts = tables
    if ids.numel() == 0:
        return
    ends = counts.cumsum(0)  # (N,)
    start_face, base, num = 0, 0, ids.numel()
    device = zbuf.device
    while start_face < num:
        # Faces [start_face, stop_face) hold at most `chunk` pairs (at least one face).
        stop_face = int(torch.searchsorted(ends, base + chunk, right=True))
        stop_face = max(stop_face, start_face + 1)
        pairs = int(ends[stop_face - 1]) - base
        cnt = counts[start_face:stop_face]
        fid = torch.repeat_interleave(torch.arange(start_face, stop_face, device=device), cnt,
                                      output_size=pairs)  # (P,) table row of each pair
        first = ends.index_select(0, fid) - counts.index_select(0, fid) - base  # (P,)
        offset = torch.arange(pairs, device=device) - first  # (P,) position in the face's box
        bx = box.index_select(0, fid)  # (P, 3) x0, y0, box width
        row = offset // bx[:, 2]
        col = offset - row * bx[:, 2] + bx[:, 0]
        row += bx[:, 1]
        rows = coef.index_select(0, fid)  # (P, 15)
        e = _edge_values(rows, col.double(), row.double())  # [(P,)] * 3, exact
        inside = (e[0] > rows[:, 12]) & (e[1] > rows[:, 13]) & (e[2] > rows[:, 14])  # (P,)
        z = _interpolate(e, rows[:, 9:12], perspective_correct)
        gface = ids.index_select(0, fid) + first_face  # (P,) global item * F + face
        item = gface // num_faces
        key = (_sortable_bits(z.float()) << face_bits) | (gface - item * num_faces)
        key.masked_fill_(~inside, _KEY_EMPTY)
        pix = item * num_pix + row * width + col
        zbuf.scatter_reduce_(0, pix, key, reduce="amin")
        base += pairs
        start_face = stop_face


def _check_fragments(frags) -> None:
    if not isinstance(frags, Fragments):
        raise ValueError(f"frags: expected Fragments (from rasterize), received {type(frags).__name__}")


def _gather_visible(frags: Fragments) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Linear pixel index (M,), batch item (M,), face (M,) and bary (M, 3) of visible pixels."""
    flat_face = frags.face_idx.reshape(-1)
    pix = (flat_face >= 0).nonzero().squeeze(1)  # (M,)
    height, width = frags.image_size
    return pix, pix // (height * width), flat_face[pix], frags.bary.reshape(-1, 3)[pix]


def _scatter_image(frags: Fragments, pix: Tensor, values: Tensor) -> Tensor:
    """(M, C) values at linear pixels -> (B, C, H, W) image, zeros elsewhere (differentiable)."""
    batch = frags.batch_size
    height, width = frags.image_size
    out = values.new_zeros(batch * height * width, values.shape[1])
    out = out.index_put((pix,), values)  # (B*H*W, C)
    return out.view(batch, height, width, -1).permute(0, 3, 1, 2)  # (B, C, H, W)


def interpolate_vertex_attrs(frags: Fragments, faces: Tensor, attrs: Tensor) -> Tensor:
    """Interpolate per-vertex attributes at every pixel with the fragments' barycentrics.

    Args:
        frags: output of :func:`rasterize` (B images of H x W).
        faces: (F, 3) long, the faces that were rasterised.
        attrs: (B, V, C) float (or (V, C), shared by the batch). Gradients flow to it.

    Returns:
        (B, C, H, W), zeros on the background.
    """
    _check_fragments(frags)
    if not torch.is_tensor(faces) or faces.dim() != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces: expected (F, 3), received {tuple(getattr(faces, 'shape', ()))}")
    if not torch.is_tensor(attrs) or attrs.dim() not in (2, 3):
        raise ValueError(f"attrs: expected (B, V, C) or (V, C), received {tuple(getattr(attrs, 'shape', ()))}")
    if attrs.dim() == 2:
        attrs = attrs.unsqueeze(0).expand(frags.batch_size, -1, -1)
    if attrs.shape[0] != frags.batch_size:
        raise ValueError(f"attrs: expected batch size {frags.batch_size}, received {tuple(attrs.shape)}")
    pix, item, face, bary = _gather_visible(frags)
    num_verts = attrs.shape[1]
    vidx = faces.to(attrs.device).long()[face] + (item * num_verts)[:, None]  # (M, 3)
    corner = attrs.reshape(-1, attrs.shape[-1])[vidx]  # (M, 3, C)
    values = (bary.to(attrs.dtype).unsqueeze(-1) * corner).sum(dim=1)  # (M, C)
    return _scatter_image(frags, pix, values)


def interpolate_face_attrs(frags: Fragments, attrs: Tensor) -> Tensor:
    """Interpolate per-corner face attributes (e.g. an atlas' ``corner_uv()``) at every pixel.

    Args:
        frags: output of :func:`rasterize` (B images of H x W).
        attrs: (F, 3, C) float, value of each face's three corners (shared by the batch), or
            (B, F, 3, C). Gradients flow to it.

    Returns:
        (B, C, H, W), zeros on the background.
    """
    _check_fragments(frags)
    if not torch.is_tensor(attrs) or attrs.dim() not in (3, 4) or attrs.shape[-2] != 3:
        raise ValueError(
            f"attrs: expected (F, 3, C) or (B, F, 3, C), received {tuple(getattr(attrs, 'shape', ()))}"
        )
    if attrs.dim() == 4 and attrs.shape[0] != frags.batch_size:
        raise ValueError(f"attrs: expected batch size {frags.batch_size}, received {tuple(attrs.shape)}")
    pix, item, face, bary = _gather_visible(frags)
    if attrs.dim() == 3:
        corner = attrs[face]  # (M, 3, C)
    else:
        corner = attrs.reshape(-1, 3, attrs.shape[-1])[item * attrs.shape[1] + face]  # (M, 3, C)
    values = (bary.to(attrs.dtype).unsqueeze(-1) * corner).sum(dim=1)  # (M, C)
    return _scatter_image(frags, pix, values)
