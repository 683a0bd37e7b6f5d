"""Run a trained DecoMR on user images: crop, predict, map back to the original image.

The network sees one square crop per person (Sec. 4: 224 x 224), like the official demo:

* from a **person box** ``(x_min, y_min, x_max, y_max)``: centre = box centre, side = 1.2 x the
  longer box side (the official ``bbox_to_center_scale``, :mod:`decomr.data.crop`);
* from a **person mask**: the same on the mask's bounding box;
* from **nothing**: the whole image — centre = image centre, side = the longer image side (the
  official demo's "person centred in the image" crop, ``scale = max(H, W) / 200``; it uses the
  integer centre ``W // 2``, here the exact pixel-grid centre ``(W - 1) / 2``).

Predicted 2D points come back in the original image's pixels. With crop centre ``c`` and scale
``s`` (side ``200 s`` px), a point at normalised crop coordinates ``n`` in [-1, 1] lies at image
pixel ``c + 100 s n`` (pixel (row i, col j) centred at (x, y) = (j, i)). The weak-perspective
camera ``[s_cam, tx, ty]`` gives ``n = s_cam (X[:2] + t)`` for a camera-frame point ``X``.

Example::

    from decomr import Predictor
    predictor = Predictor.from_checkpoint("runs/quick")        # or a release in data/checkpoints/
    pred = predictor.predict("photo.jpg", boxes=[120, 40, 380, 610])
    pred.vertices.shape, pred.joints_2d.shape                    # (1, V, 3), (1, 24, 2)

Glossary: B images, V vertices, F faces, h x w the IUV resolution (56), R the location-map
resolution (128), S the crop size (224).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from decomr.data.crop import BBOX_RESCALE, PIXELS_PER_SCALE, bbox_to_center_scale, crop_image, mask_to_center_scale
from decomr.predict.images import as_image_list
from decomr.train.checkpoint import CheckpointInfo, build_model, read_checkpoint
from decomr.render.cameras import weak_perspective_project

log = logging.getLogger(__name__)

__all__ = ["Prediction", "Predictor", "crop_to_image", "whole_image_center_scale", "resolve_device"]


@dataclass(frozen=True)
class Prediction:
    """DecoMR's results for B images, on the CPU.

    3D quantities are in the camera frame (OpenCV: x right, y down, z away from the camera),
    metres, pelvis-centred (the frame of the location map, Sec. 3.3). 2D quantities are pixels
    of the ORIGINAL images (x = column, y = row, pixel centres at integers).

    Attributes:
        vertices: (B, V, 3) float32 mesh read from the location map (Eq. 3).
        joints: (B, 24, 3) float32 SMPL-like joints regressed from the mesh.
        lsp_joints: (B, 14, 3) float32 LSP joints regressed from the mesh.
        camera: (B, 3) float32 weak-perspective camera [s, tx, ty] of the crop (Sec. 3.2).
        iuv: (B, 3, h, w) float32 IUV image of the crop: foreground {0, 1}, u, v (0 off the body).
        mask: (B, 1, h, w) float32 foreground probability of the crop.
        location_map: (B, 3, R, R) float32 predicted location map (Sec. 3.3).
        center: (B, 2) float64 crop centre (x, y), original image pixels.
        scale: (B,) float64 crop side / 200 px.
        image_size: (B, 2) int64 (H, W) of the original images.
        vertices_2d: (B, V, 2) float32 projected vertices, original image pixels.
        joints_2d: (B, 24, 2) float32 projected joints, original image pixels.
        lsp_joints_2d: (B, 14, 2) float32 projected LSP joints, original image pixels.
        crops: (B, 3, S, S) float32 the network's input crops in [0, 1].
        faces: (F, 3) int64 mesh faces (shared by all B meshes).
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    lsp_joints: torch.Tensor
    camera: torch.Tensor
    iuv: torch.Tensor
    mask: torch.Tensor
    location_map: torch.Tensor
    center: torch.Tensor
    scale: torch.Tensor
    image_size: torch.Tensor
    vertices_2d: torch.Tensor
    joints_2d: torch.Tensor
    lsp_joints_2d: torch.Tensor
    crops: torch.Tensor
    faces: torch.Tensor

    def __len__(self) -> int:
        return int(self.vertices.shape[0])

    def check_index(self, index: int) -> int:
        """``index`` as a non-negative image index (Python's negative indices allowed).

        Raises:
            ValueError: not an integer, or out of range.
        """
        n = len(self)
        if not isinstance(index, (int, np.integer)) or not -n <= index < n:
            raise ValueError(f"index: expected an int in [-{n}, {n}), got {index!r}")
        return int(index) % n

    def item(self, index: int) -> "Prediction":
        """The prediction of one image as a batch of one (B = 1)."""
        index = self.check_index(index)
        return dataclasses.replace(self, **{
            f.name: getattr(self, f.name)[index:index + 1] for f in dataclasses.fields(self) if f.name != "faces"
        })

    @staticmethod
    def concat(parts: Sequence["Prediction"]) -> "Prediction":
        """Concatenate predictions along the batch (they must share ``faces``)."""
        if not parts:
            raise ValueError("parts: expected at least one Prediction")
        return Prediction(**{
            f.name: parts[0].faces if f.name == "faces" else torch.cat([getattr(p, f.name) for p in parts])
            for f in dataclasses.fields(Prediction)
        })


def crop_to_image(points: torch.Tensor, center: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Normalised crop coordinates -> original image pixels: ``c + 100 s n``.

    Args:
        points: (B, N, 2) normalised crop coordinates in [-1, 1] (:mod:`decomr.conventions`).
        center: (B, 2) crop centres, image pixels.
        scale: (B,) crop side / 200 px.

    Returns:
        (B, N, 2) image pixels, the dtype of ``points``.
    """
    if points.dim() != 3 or points.shape[-1] != 2:
        raise ValueError(f"points: expected (B, N, 2), got {tuple(points.shape)}")
    b = points.shape[0]
    if tuple(center.shape) != (b, 2) or tuple(scale.shape) != (b,):
        raise ValueError(f"center/scale: expected ({b}, 2) and ({b},), got {tuple(center.shape)} and {tuple(scale.shape)}")
    half = (PIXELS_PER_SCALE / 2) * scale.to(points)  # (B,) half the crop side in pixels
    return center.to(points)[:, None, :] + half[:, None, None] * points  # (B, N, 2)


def whole_image_center_scale(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The crop of a whole image: centre ((W-1)/2, (H-1)/2), scale max(H, W) / 200.

    Returns:
        center (2,) float64, scale () float64.
    """
    center = torch.tensor([(width - 1) / 2.0, (height - 1) / 2.0], dtype=torch.float64)
    return center, torch.tensor(max(height, width) / PIXELS_PER_SCALE, dtype=torch.float64)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None -> CUDA when available, else CPU; strings are checked (``"cuda"`` without a GPU raises)."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device} requested but CUDA is not available here; use device='cpu'")
    return device


def _per_image(value: Any, n: int, name: str, item_dims: int) -> list[Any]:
    """Split a per-image argument (None, one item, a stacked array or a list) into n items."""
    if value is None:
        return [None] * n
    if isinstance(value, (list, tuple)):
        if len(value) == n and all(v is None or np.ndim(_np(v)) == item_dims for v in value):
            return list(value)
        if n == 1 and np.ndim(np.asarray(value, dtype=object if item_dims > 1 else None)) == item_dims:
            return [value]
        raise ValueError(f"{name}: expected one entry per image ({n}), got a list of {len(value)}")
    arr = _np(value)
    if arr.ndim == item_dims and n == 1:
        return [arr]
    if arr.ndim == item_dims + 1 and arr.shape[0] == n:
        return list(arr)
    raise ValueError(f"{name}: expected one entry per image ({n}), got an array of shape {arr.shape}")


def _np(value: Any) -> np.ndarray:
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _to_float(image: torch.Tensor) -> torch.Tensor:
    """(C, H, W) uint8 in 0..255 or float -> float32 in [0, 1]."""
    return image.float().div_(255.0) if image.dtype == torch.uint8 else image.float()


def crop_window(image: torch.Tensor, center: torch.Tensor, side: float,
                margin: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The part of ``image`` that an axis-aligned square crop of ``side`` pixels around ``center`` sees.

    Args:
        image: (C, H, W) tensor (any dtype).
        center: (2,) crop centre (x, y), image pixels.
        side: crop side, image pixels.
        margin: extra pixels on each side, so that bilinear samples at the crop's border read the
            same neighbours as in the whole image.

    Returns:
        the window (C, h, w) (a view, no copy) and the centre in the window's pixels. Cropping the
        window at the new centre gives the same pixels as cropping the whole image.
    """
    h, w = image.shape[-2:]
    c = center.double().reshape(2)
    half = side / 2.0
    x0 = max(0, int(np.floor(float(c[0]) - half)) - margin)
    y0 = max(0, int(np.floor(float(c[1]) - half)) - margin)
    x1 = min(int(w), int(np.ceil(float(c[0]) + half)) + margin + 1)
    y1 = min(int(h), int(np.ceil(float(c[1]) + half)) + margin + 1)
    if x1 <= x0 or y1 <= y0:  # the crop misses the image (boxes are checked before; keep one pixel)
        x0, y0, x1, y1 = 0, 0, 1, 1
    return image[..., y0:y1, x0:x1], c - torch.tensor([x0, y0], dtype=torch.float64)


class Predictor:
    """A DecoMR model ready for images: cropping, batching, device handling, results in image pixels.

    Args:
        model: a :class:`decomr.models.DecoMR` (put in eval mode and moved to ``device``).
        body: its body model (faces, part labels for the viewers).
        atlas: its UV atlas (per-corner UVs for mesh files); None to skip.
        device: None (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``...
        checkpoint: what the weights were read from (for reports), optional.
    """

    def __init__(self, model: torch.nn.Module, body: Any, atlas: Any = None, device: str | torch.device | None = None,
                 checkpoint: CheckpointInfo | None = None) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.body = body
        self.atlas = atlas
        self.checkpoint = checkpoint
        self.faces = body.faces.detach().cpu().long()

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | torch.device | None = None,
                        body: Any = None) -> "Predictor":
        """Load a trained model.

        Args:
            path: a release or training checkpoint, a run folder, or None for the newest file in
                ``data/checkpoints/``.
            device: None (CUDA if available, else CPU) or a torch device.
            body: the body model to use (default: the one named in the checkpoint).

        Raises:
            decomr.predict.CheckpointNotFoundError: no checkpoint; the message says how to train one.
            decomr.predict.CheckpointError: a file for another body mesh or config, or unreadable.
        """
        info = read_checkpoint(path)
        model, body, atlas = build_model(info, body=body)
        return cls(model, body, atlas, device=device, checkpoint=info)

    @property
    def config(self):
        """The model's :class:`~decomr.models.ModelConfig`."""
        return self.model.config

    @property
    def img_size(self) -> int:
        """S, the crop size the network takes."""
        return int(self.model.config.img_size)

    def __repr__(self) -> str:
        src = f", checkpoint={str(self.checkpoint.path)!r}" if self.checkpoint is not None else ""
        return (f"Predictor(body={getattr(self.body, 'name', '?')!r}, backbone={self.config.backbone!r}, "
                f"img_size={self.img_size}, device={str(self.device)!r}{src})")

    # ---------------------------------------------------------------- cropping
    def crop_parameters(self, images: list[torch.Tensor], boxes: Any = None, masks: Any = None,
                        rescale: float = BBOX_RESCALE) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop centre and scale of each image (box, mask or whole image; see the module docstring).

        Args:
            images: list of B (3, H, W) images.
            boxes: None, one (4,) box (B = 1), a (B, 4) array or a list of B boxes/None, as
                ``(x_min, y_min, x_max, y_max)`` in image pixels.
            masks: None, one (H, W) mask, or a list of B masks/None (non-zero = person).
            rescale: crop side / longer box side (1.2 as in the official preprocessing).

        Returns:
            center (B, 2) float64, scale (B,) float64.

        Raises:
            ValueError: a box that is malformed or misses its image, a mask of the wrong size or
                empty, or both a box and a mask for one image; the message names the image.
        """
        n = len(images)
        box_list = _per_image(boxes, n, "boxes", 1)
        mask_list = _per_image(masks, n, "masks", 2)
        centers, scales = [], []
        for k, (img, box, mask) in enumerate(zip(images, box_list, mask_list)):
            h, w = int(img.shape[-2]), int(img.shape[-1])
            if box is not None and mask is not None:
                raise ValueError(f"image {k}: got both a box and a mask; give one of them")
            if box is not None:
                b = _np(box).astype(np.float64).reshape(-1)
                if b.shape != (4,) or not np.isfinite(b).all():
                    raise ValueError(f"boxes[{k}]: expected 4 finite numbers (x_min, y_min, x_max, y_max), got {_np(box).tolist()}")
                if b[2] <= b[0] or b[3] <= b[1]:
                    raise ValueError(f"boxes[{k}]: expected x_max > x_min and y_max > y_min, got {b.tolist()} "
                                     "(the format is x_min, y_min, x_max, y_max, not x, y, width, height?)")
                if b[2] < -0.5 or b[0] > w - 0.5 or b[3] < -0.5 or b[1] > h - 0.5:
                    raise ValueError(f"boxes[{k}]: {b.tolist()} lies outside the {w} x {h} image (x in [0, {w - 1}], "
                                     f"y in [0, {h - 1}])")
                c, s = bbox_to_center_scale(torch.from_numpy(b), rescale=rescale)
            elif mask is not None:
                m = _np(mask)
                if m.shape != (h, w):
                    raise ValueError(f"masks[{k}]: expected the image's size ({h}, {w}), got {m.shape}")
                if not (m != 0).any():
                    raise ValueError(f"masks[{k}]: has no foreground pixel; give a box or no crop instead")
                c, s = mask_to_center_scale(m, rescale=rescale)
            else:
                c, s = whole_image_center_scale(h, w)
            centers.append(c.double().reshape(2))
            scales.append(s.double().reshape(()))
        return torch.stack(centers), torch.stack(scales)

    def crop(self, images: Any, boxes: Any = None, masks: Any = None,
             rescale: float = BBOX_RESCALE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The network's input crops.

        Args:
            images, boxes, masks, rescale: see :meth:`predict`.

        Returns:
            crops (B, 3, S, S) float32 on the predictor's device, center (B, 2), scale (B,),
            image_size (B, 2) int64 (H, W).
        """
        imgs = as_image_list(images, keep_uint8=True)
        center, scale = self.crop_parameters(imgs, boxes, masks, rescale)
        crops = torch.stack([self._crop_one(img, c, sc) for img, c, sc in zip(imgs, center, scale)])
        sizes = torch.tensor([[int(i.shape[-2]), int(i.shape[-1])] for i in imgs], dtype=torch.int64)
        return crops, center, scale, sizes

    def _crop_one(self, image: torch.Tensor, center: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """One (3, S, S) float crop of a (3, H, W) uint8 or float image.

        Only the pixels the crop can see are touched: the crop's window is cut out first (still
        uint8 for files and uint8 arrays), and a window much larger than S pixels (a person filling
        a phone photo) is downscaled with antialiasing to ~2 source pixels per crop pixel before
        sampling. Work and memory no longer grow with the photo's resolution.
        """
        s = self.img_size
        side = PIXELS_PER_SCALE * float(scale)  # crop side in source pixels
        image, center = crop_window(image, center, side)
        image = image.to(self.device)
        if image.dtype == torch.uint8 and image.device.type != "cpu":
            image = image.float().div_(255.0)  # uint8 antialiased resizing is a CPU kernel
        factor = 2.0 * s / side
        if factor >= 0.5:  # at most 4x more source pixels than needed: crop directly
            return crop_image(_to_float(image), center, scale, res=s)
        h, w = image.shape[-2:]
        size = (max(1, round(h * factor)), max(1, round(w * factor)))
        small = torch.nn.functional.interpolate(image[None], size=size, mode="bilinear", antialias=True,
                                                align_corners=False)[0]
        f = torch.tensor([size[1] / w, size[0] / h], dtype=torch.float64)
        return crop_image(_to_float(small), (center.double() + 0.5) * f - 0.5, scale.double() * f.mean(), res=s)

    # ---------------------------------------------------------------- prediction
    @torch.inference_mode()
    def predict_crops(self, crops: torch.Tensor, center: torch.Tensor | None = None, scale: torch.Tensor | None = None,
                      image_size: torch.Tensor | None = None, batch_size: int = 16) -> Prediction:
        """Run the network on ready-made crops (e.g. dataset samples).

        Args:
            crops: (B, 3, S, S) float in [0, 1].
            center, scale, image_size: the crops' placement in their original images; None means
                the crop is the image itself (center ((S-1)/2, (S-1)/2), scale S/200, size (S, S)).
            batch_size: images per forward pass.

        Returns:
            :class:`Prediction`.
        """
        s = self.img_size
        if not torch.is_tensor(crops) or crops.dim() != 4 or tuple(crops.shape[1:]) != (3, s, s):
            shape = tuple(crops.shape) if torch.is_tensor(crops) else type(crops).__name__
            raise ValueError(f"crops: expected (B, 3, {s}, {s}) float in [0, 1], got {shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
        b = crops.shape[0]
        if center is None:
            c0, s0 = whole_image_center_scale(s, s)
            center, scale = c0.expand(b, 2).clone(), s0.expand(b).clone()
            image_size = torch.tensor([[s, s]], dtype=torch.int64).expand(b, 2).clone()
        outs = []
        for start in range(0, b, batch_size):
            x = crops[start:start + batch_size].to(self.device, torch.float32)
            outs.append(self._run(x, center[start:start + batch_size], scale[start:start + batch_size],
                                  image_size[start:start + batch_size]))
        return Prediction.concat(outs)

    def predict(self, images: Any, boxes: Any = None, masks: Any = None, batch_size: int = 16,
                rescale: float = BBOX_RESCALE) -> Prediction:
        """Predict the mesh of the person in each image.

        Args:
            images: one image or a list (file paths, PIL images, (H, W, 3) uint8/float numpy
                arrays, (3, H, W) float tensors in [0, 1]) or a (B, 3, H, W) tensor; sizes may differ.
            boxes: person boxes ``(x_min, y_min, x_max, y_max)`` in image pixels: None (whole
                image), one box (one image), a (B, 4) array or a list of boxes/None.
            masks: person masks (H, W) (non-zero = person), one or a list with None entries.
            batch_size: crops per forward pass (memory).
            rescale: crop side / longer box side.

        Returns:
            :class:`Prediction` for the B images (CPU tensors).
        """
        crops, center, scale, sizes = self.crop(images, boxes, masks, rescale)
        return self.predict_crops(crops, center, scale, sizes, batch_size=batch_size)

    __call__ = predict

    def _run(self, crops: torch.Tensor, center: torch.Tensor, scale: torch.Tensor, sizes: torch.Tensor) -> Prediction:
        out = self.model(crops)
        cam = out.camera.float()
        center, scale = center.cpu(), scale.cpu()

        def to_image(points: torch.Tensor) -> torch.Tensor:  # (B, N, 3) camera frame -> (B, N, 2) pixels
            return crop_to_image(weak_perspective_project(points.float(), cam).cpu(), center, scale)

        return Prediction(
            vertices=out.vertices.float().cpu(), joints=out.joints.float().cpu(), lsp_joints=out.lsp_joints.float().cpu(),
            camera=cam.cpu(), iuv=out.iuv.float().cpu(), mask=out.mask.float().cpu(),
            location_map=out.location_map.float().cpu(), center=center.double(), scale=scale.double(),
            image_size=sizes.cpu().long(), vertices_2d=to_image(out.vertices), joints_2d=to_image(out.joints),
            lsp_joints_2d=to_image(out.lsp_joints), crops=crops.float().cpu(), faces=self.faces,
        )
