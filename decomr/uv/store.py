"""Atlas files: :func:`load_atlas` reads a body's atlas from ``data/atlases/``, and builds and saves
it (:mod:`decomr.uv.build`, libigl) when the file is missing or stale.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from decomr.uv.atlas import ATLAS_NAMES, PROBE_TOLERANCE, StaleAtlasError, UVAtlas, atlas_path, default_atlas
from decomr.uv.build import build_continuous_atlas

__all__ = ["load_atlas"]

log = logging.getLogger(__name__)


def _build(body, name: str) -> UVAtlas:
    if name == "default":
        return default_atlas(body)

    return build_continuous_atlas(
        body.template.detach().cpu().numpy(),
        body.faces.detach().cpu().numpy(),
        body.mirror_map.detach().cpu().numpy(),
        mesh_hash=body.mesh_hash(),
        body_name=body.name,
    )


def load_atlas(body, name: str = "continuous", rebuild: bool | None = None, path: str | Path | None = None) -> UVAtlas:
    """Load a body's atlas from ``data/atlases/``, building and caching it when needed.

    Args:
        body: a :class:`decomr.body.BodyModel`.
        name: ``"continuous"`` (Sec. 3.1) or ``"default"`` (the body model's own UV).
        rebuild: ``None`` (default): build when missing, rebuild with a warning when stale.
            ``True``: always rebuild and overwrite. ``False``: never build; raise
            ``FileNotFoundError`` when missing and :class:`StaleAtlasError` when stale.
        path: file to use instead of ``data/atlases/<body.name>_<name>.npz``.

    Returns:
        UVAtlas.
    """
    if name not in ATLAS_NAMES:
        raise ValueError(f"name: expected one of {ATLAS_NAMES}, received {name!r}")
    path = Path(path) if path is not None else atlas_path(body.name, name)
    expected = body.mesh_hash()
    if rebuild is not True and path.exists():
        try:
            atlas = UVAtlas.load(path, expected_hash=expected)
            if atlas.num_vertices != body.num_vertices or atlas.num_faces != body.num_faces:
                raise StaleAtlasError(f"{path}: sized for {atlas.num_vertices} vertices / {atlas.num_faces} faces")
            if atlas.template is not None and getattr(body, "template", None) is not None:
                moved = float(np.abs(np.asarray(atlas.template) - body.template.detach().cpu().numpy()).max())
                if moved > PROBE_TOLERANCE:
                    raise StaleAtlasError(f"{path}: built for a template whose vertices were up to {moved * 1000:.1f} mm "
                                          f"elsewhere (tolerance {PROBE_TOLERANCE * 1000:.0f} mm)")
            return atlas
        except StaleAtlasError as err:
            if rebuild is False:
                raise
            warnings.warn(f"{err}; rebuilding", stacklevel=2)
    elif rebuild is False:
        raise FileNotFoundError(f"{path}: no {name} atlas for body {body.name!r} (build it with `decomr build-uv`)")
    log.info("building the %s atlas of %s -> %s", name, body.name, path)
    atlas = _build(body, name)
    if getattr(body, "template", None) is not None:
        atlas = replace(atlas, template=body.template.detach().cpu().numpy().astype(np.float32))
    atlas.save(path)
    return atlas
