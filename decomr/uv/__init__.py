"""The continuous UV map (Sec. 3.1), its Table 1 metrics (Eq. 2) and the mesh <-> UV-map
samplers (Eq. 3).

>>> from decomr.body import load
>>> from decomr.uv import load_atlas, UVSampler
>>> body = load("anny")
>>> atlas = load_atlas(body, "continuous")       # built (~5 s, libigl) and cached on first use
>>> atlas.stats.num_charts, atlas.stats.num_flipped
(1, 0)
>>> sampler = UVSampler(atlas, resolution=128)
>>> sampler.mesh_to_map(body.template[None]).shape
torch.Size([1, 3, 128, 128])

Modules: :mod:`~decomr.uv.atlas` (UVAtlas and its files), :mod:`~decomr.uv.store` (load_atlas),
:mod:`~decomr.uv.seams` (the seam tree), :mod:`~decomr.uv.build` (the build, needs libigl),
:mod:`~decomr.uv.checks` (validity checks), :mod:`~decomr.uv.metrics` (Table 1),
:mod:`~decomr.uv.raster` and :mod:`~decomr.uv.sampler` (UV maps), :mod:`~decomr.uv.maps`
(location/reference/weight maps), :mod:`~decomr.uv.roundtrip` (mesh -> map -> mesh errors),
:mod:`~decomr.cli.uv` (``decomr build-uv``).
"""
from __future__ import annotations

from decomr.uv.atlas import ATLAS_NAMES, AtlasStats, StaleAtlasError, UVAtlas, atlas_path, atlas_report, default_atlas
from decomr.uv.maps import camera_frame_vertices, location_maps, reference_location_map, weight_map
from decomr.uv.metrics import PAPER_TABLE1, Table1Scores, table1_scores, write_table1
from decomr.uv.roundtrip import RoundTripError, round_trip_errors
from decomr.uv.sampler import UVSampler, body_sampler
from decomr.uv.store import load_atlas
from decomr.uv.build import AtlasBuild, AtlasValidationError, BuildConfig, build_continuous_atlas, build_continuous_atlas_stages  # libigl only imported when a build runs


__all__ = [
    "ATLAS_NAMES",
    "AtlasStats",
    "StaleAtlasError",
    "UVAtlas",
    "atlas_path",
    "atlas_report",
    "default_atlas",
    "load_atlas",
    "build_continuous_atlas",
    "build_continuous_atlas_stages",
    "BuildConfig",
    "AtlasBuild",
    "AtlasValidationError",
    "UVSampler",
    "body_sampler",
    "camera_frame_vertices",
    "location_maps",
    "reference_location_map",
    "weight_map",
    "PAPER_TABLE1",
    "Table1Scores",
    "table1_scores",
    "write_table1",
    "RoundTripError",
    "round_trip_errors",
]
