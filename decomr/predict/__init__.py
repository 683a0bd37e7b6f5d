"""Inference on user images: :class:`Predictor` (crop, predict, map back) and :class:`Prediction`.

Example::

    from decomr.predict import Predictor
    predictor = Predictor.from_checkpoint()        # newest release in data/checkpoints/
    pred = predictor.predict("photo.jpg")          # whole-image crop; or boxes=..., masks=...

Checkpoints, releases and their errors come from :mod:`decomr.train.checkpoint` (re-exported
here). Modules: :mod:`~decomr.predict.images` (reading images), :mod:`~decomr.predict.predictor` (the predictor),
:mod:`~decomr.predict.overlay` (mesh and IUV drawn in the original image),
:mod:`~decomr.cli.predict` (``decomr predict``).
"""
from decomr.predict.images import IMAGE_SUFFIXES, ImageReadError, as_image_list, list_images, read_image
from decomr.predict.overlay import MeshLayer, compose, iuv_colors, iuv_layer, mesh_layer, overlay_image
from decomr.predict.predictor import Prediction, Predictor, crop_to_image, resolve_device, whole_image_center_scale
from decomr.train.checkpoint import (
    CHECKPOINT_HELP,
    RELEASED_CHECKPOINT,
    CheckpointError,
    CheckpointInfo,
    CheckpointNotFoundError,
    build_model,
    checkpoint_dir,
    find_checkpoint,
    read_checkpoint,
    released_checkpoint,
    save_model_release,
)

__all__ = [
    "Predictor", "Prediction", "crop_to_image", "whole_image_center_scale", "resolve_device",
    "CHECKPOINT_HELP", "CheckpointError", "CheckpointNotFoundError", "CheckpointInfo",
    "RELEASED_CHECKPOINT", "checkpoint_dir", "released_checkpoint", "find_checkpoint", "read_checkpoint", "build_model",
    "save_model_release",
    "IMAGE_SUFFIXES", "ImageReadError", "read_image", "list_images", "as_image_list",
    "MeshLayer", "mesh_layer", "iuv_layer", "iuv_colors", "compose", "overlay_image",
]
