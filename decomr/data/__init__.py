"""Training and evaluation data: crops, the synthetic dataset, augmentation, official datasets.

- :mod:`decomr.data.batch`        ``Batch``, the typed batch every loader produces (shapes, units)
- :mod:`decomr.data.crop`         the official person crop (center, scale = box / 200) and its maps
- :mod:`decomr.data.synthetic`    SURREAL-like synthetic samples rendered from the body model
  (``SyntheticDataset``, GPU-side ``SyntheticBatchGenerator``), the default training data
- :mod:`decomr.data.augment`      the paper's augmentation, applied consistently to every target
- :mod:`decomr.data.backgrounds`  procedural backgrounds, occluders, counter-based noise
- :mod:`decomr.data.appearance`   procedural clothes / skin colours and shading
- :mod:`decomr.data.shards`       export to / read from ``.pt`` shards
- :mod:`decomr.data.cache`        a synthetic split pre-rendered once into memory-mapped files
- :mod:`decomr.data.official`     loaders of the official preprocessed ``.npz`` files (H36M, ...)
- :mod:`decomr.data.errors`       ``CorruptDataError``, raised on a corrupt dataset file

Names are imported lazily on first use (``from decomr.data import SyntheticDataset`` imports only
:mod:`decomr.data.synthetic`), so a problem in one module does not break the others.
"""
from __future__ import annotations

from decomr._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "decomr.data.batch": ("Batch", "as_batch"),
    "decomr.data.crop": (
        "CenterScale", "BBOX_RESCALE", "bbox_to_center_scale", "mask_to_center_scale",
        "points_to_center_scale", "crop_transform", "invert_affine", "apply_affine", "transform_points",
        "uncrop_points", "pixels_to_normalized", "normalized_to_pixels", "crop_image", "crop_labels",
        "uncrop_image",
    ),
    "decomr.data.synthetic": (
        "SPLITS", "ATLAS_CHOICES", "SyntheticConfig", "SampleParams", "sample_seed", "sample_params",
        "upright_orientation", "fit_weak_perspective", "SyntheticBatchGenerator", "SyntheticDataset",
        "SyntheticParamDataset", "collate_params",
    ),
    "decomr.data.augment": (
        "AugmentConfig", "AugmentParams", "sample_augment_params", "rotation_2d", "camera_rotation",
        "augment_points_2d", "augment_points_3d", "augment_weak_camera", "augment_global_orient",
        "compose_axis_angle", "pose_flip_perm", "mirror_pose", "warp_images", "apply_color", "UVMirror",
        "augment_batch",
    ),
    "decomr.data.backgrounds": (
        "BACKGROUND_KINDS", "BackgroundParams", "OccluderParams", "hash_uniform", "pixel_noise",
        "value_noise", "render_backgrounds", "draw_occluders",
    ),
    "decomr.data.appearance": ("BodyRegions", "AppearanceParams", "body_regions", "vertex_albedo"),
    "decomr.data.shards": ("export_shards", "ShardDataset"),
    "decomr.data.cache": ("render_cache", "cache_status", "CachedSyntheticDataset", "CacheMismatchError"),
    "decomr.data.official": (
        "SplitSpec", "DatasetSpec", "OFFICIAL_DATASETS", "OfficialRecord", "Segmentation", "OfficialDataset",
        "dataset_file", "default_root", "dataset_status", "read_rgb_image",
        "read_label_image",
    ),
    "decomr.data.errors": ("CorruptDataError",),
    "decomr.data.render_gt": ("render_gt_iuv", "RenderGTSummary", "fit_weak_perspective_pixels"),
    "decomr.data.iuv_files": ("load_iuv_png", "save_iuv_png"),
}
__all__, __getattr__, __dir__ = lazy_exports("decomr.data", globals(), _EXPORTS)
