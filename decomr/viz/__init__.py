"""Plots and interactive viewers (matplotlib, plotly, ipywidgets), imported lazily.

Each topic has its own module; ``from decomr.viz import plot_mesh`` imports only the module that
defines the name, so ``import decomr.viz`` stays free of matplotlib/plotly.

- :mod:`decomr.viz.colors`       the project's palette (weight groups, LSP parts, left/right)
- :mod:`decomr.viz.body_plots`   meshes, joints, part labels, mirror map, sample grids (matplotlib)
- :mod:`decomr.viz.body_viewer`  ``mesh_viewer``: plotly mesh with shape/pose sliders
- :mod:`decomr.viz.uv_plots`     atlases, seams, distortion, Table 1 matrices, location/weight maps, UV explorer
- :mod:`decomr.viz.data_plots`   training samples (image, mask, IUV, parts, joints), augmentation
- :mod:`decomr.viz.experiment_plots` Table 5's grouped bars, zoomed mesh crops (Figure 7)
- :mod:`decomr.viz.model_plots`  CNet outputs, the UV transfer (Eq. 5, Figure 5), UV maps, Eq. 10 (Figure 6)
"""
from __future__ import annotations

import importlib

# name -> module that defines it (add your module's public names here).
_LAZY: dict[str, str] = {
    **{n: "decomr.viz.body_plots" for n in (
        "plot_mesh", "plot_joints", "plot_part_labels", "plot_mirror_map", "plot_frame_axes",
        "sample_grid", "save_figure", "project", "view_rotation",
    )},
    **{n: "decomr.viz.body_viewer" for n in ("mesh_viewer", "mesh_figure", "MeshViewer", "PoseControl")},
    **{n: "decomr.viz.uv_plots" for n in (
        "plot_atlas", "plot_seam", "plot_disk", "plot_slim_snapshots", "plot_distortion", "fig3_uv_atlases",
        "fig4_distance_matrices", "plot_location_map", "plot_weight_map", "uv_explorer", "location_map_rgb",
        "UVExplorer",
    )},
    **{n: "decomr.viz.viewers" for n in (
        "show_prediction", "prediction_mesh_viewer", "iuv_overlay_viewer", "PredictionMeshViewer", "IUVOverlayViewer",
        "PredictionViewers",
    )},
    "prediction_grid": "decomr.viz.prediction_plots",
    **{n: "decomr.viz.train_plots" for n in (
        "plot_loss_curves", "plot_predictions", "prediction_panel", "iuv_rgb", "mesh_overlay", "load_history",
        "plot_learning_curve", "plot_probe",
    )},
    **{n: "decomr.viz.data_plots" for n in ("plot_samples", "plot_augmentation", "draw_keypoints", "data_figures")},
    **{n: "decomr.viz.model_plots" for n in (
        "feature_pca_rgb", "plot_uv_maps", "plot_cnet_outputs", "plot_pixel_to_cell", "plot_uv_transfer",
        "NeighbourJumps", "neighbour_cell_jumps", "plot_neighbour_jumps", "Correspondences",
        "consistency_correspondences", "plot_consistency", "plot_mesh_comparison", "plot_history",
    )},
    **{n: "decomr.viz.experiment_plots" for n in ("plot_table5", "plot_mesh_zoom", "ATLAS_COLORS")},
    **{n: "decomr.viz.stress_plots" for n in ("plot_sweep", "plot_sweeps")},
    **{n: "decomr.viz.static" for n in ("StaticFallback", "plotly_mesh_png", "figure_png")},
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'decomr.viz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
