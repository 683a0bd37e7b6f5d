"""Tests for decomr.viz.viewers: the 3D mesh viewer and the IUV/mesh overlay viewer, driven
through their widgets on a small hand-made prediction (no model needed)."""
from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("plotly")

from decomr.data.crop import normalized_to_pixels  # noqa: E402
from decomr.predict import Prediction, crop_to_image  # noqa: E402
from decomr.render.cameras import weak_perspective_project  # noqa: E402
from decomr.viz.colors import LSP_PART_COLORS, palette_rgb  # noqa: E402
from decomr.viz.viewers import (  # noqa: E402
    VIEW_EYES,
    crop_frame,
    iuv_overlay_viewer,
    part_vertex_colors,
    prediction_mesh_viewer,
    show_prediction,
)
from tests.helpers import assert_close  # noqa: E402

S = 32  # crop size


def _octahedron():
    v = torch.tensor([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=torch.float32) * 0.4
    f = torch.tensor([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    return v, f


@pytest.fixture
def body():
    _, f = _octahedron()
    return SimpleNamespace(name="octa", faces=f, num_vertices=6, lsp_parts=torch.tensor([1, 2, 3, 4, 5, 6]),
                           weight_parts=torch.tensor([0, 1, 2, 3, 0, 1]))


def make_prediction(sizes=((40, 60), (30, 30))) -> Prediction:
    """Two images: an octahedron seen by a weak-perspective camera in a crop of each image."""
    v, f = _octahedron()
    b = len(sizes)
    verts = torch.stack([v + torch.tensor([0.0, 0.05 * k, 2.0]) for k in range(b)])  # (B, 6, 3)
    camera = torch.tensor([[1.5, 0.1, -0.1]]).expand(b, 3).clone()
    center = torch.tensor([[w / 2 - 3.0, h / 2 + 1.0] for h, w in sizes], dtype=torch.float64)
    scale = torch.tensor([0.8 * min(h, w) / 200 for h, w in sizes], dtype=torch.float64)
    project = lambda x: crop_to_image(weak_perspective_project(x, camera), center, scale)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    iuv = torch.zeros(b, 3, 8, 8)
    iuv[:, :, 2:6, 3:7] = torch.tensor([1.0, 0.6, 0.3])[:, None, None]
    return Prediction(
        vertices=verts, joints=verts[:, :1].expand(b, 24, 3).clone(), lsp_joints=verts[:, :1].expand(b, 14, 3).clone(),
        camera=camera, iuv=iuv, mask=iuv[:, :1], location_map=torch.zeros(b, 3, 4, 4), center=center, scale=scale,
        image_size=torch.tensor(sizes, dtype=torch.int64), vertices_2d=project(verts),
        joints_2d=project(verts[:, :1].expand(b, 24, 3)), lsp_joints_2d=project(verts[:, :1].expand(b, 14, 3)),
        crops=torch.rand(b, 3, S, S, generator=g), faces=f,
    )


def _decode(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64) / 255.0


# ------------------------------------------------------------------------------------------------
# 3D mesh viewer
# ------------------------------------------------------------------------------------------------
def test_mesh_viewer_shows_the_mesh_upright(body):
    pred = make_prediction()
    viewer = prediction_mesh_viewer(pred, body)
    mesh = viewer.figure.data[0]
    shown = np.stack([mesh.x, mesh.y, mesh.z], axis=1)
    assert_close(shown, pred.vertices[0].numpy() * np.array([1, -1, -1]))  # OpenGL frame: y up
    assert np.array_equal(np.stack([mesh.i, mesh.j, mesh.k], axis=1), body.faces.numpy())
    assert viewer.color_menu.value == "parts" and viewer.index_menu is not None


def test_mesh_viewer_colourings(body):
    from decomr.viz.body_plots import face_labels

    pred = make_prediction()
    errors = torch.arange(6.0) * 10
    viewer = prediction_mesh_viewer(pred, body, errors=errors)
    assert viewer.color_menu.value == "error" and list(viewer.color_menu.options) == [
        "parts", "weight groups", "depth", "error", "plain"]
    assert_close(np.asarray(viewer.figure.data[0].intensity), errors)
    viewer.set_color("parts")
    mesh = viewer.figure.data[0]
    expected = palette_rgb(LSP_PART_COLORS)[face_labels(body.lsp_parts, body.faces)]
    got = np.array([[int(c) for c in s[4:-1].split(",")] for s in mesh.facecolor]) / 255.0
    assert_close(got, expected, atol=0.5 / 255)
    assert mesh.intensity is None
    viewer.set_color("depth")
    assert_close(np.asarray(viewer.figure.data[0].intensity), pred.vertices[0, :, 2])
    assert viewer.figure.data[0].facecolor is None
    viewer.color_menu.value = "plain"  # through the widget
    assert viewer.figure.data[0].color is not None and viewer.figure.data[0].intensity is None


def test_mesh_viewer_views_and_images(body):
    pred = make_prediction()
    viewer = prediction_mesh_viewer(pred, body, color_by="depth")
    for view, eye in VIEW_EYES.items():
        viewer.view_buttons.value = view
        got = viewer.figure.layout.scene.camera.eye
        assert (got.x, got.y, got.z) == (eye["x"], eye["y"], eye["z"])
    viewer.index_menu.value = 1
    assert_close(np.asarray(viewer.figure.data[0].y), -pred.vertices[1, :, 1].numpy())
    assert_close(np.asarray(viewer.figure.data[0].intensity), pred.vertices[1, :, 2])


def test_mesh_viewer_without_body_defaults_to_depth():
    viewer = prediction_mesh_viewer(make_prediction())
    assert viewer.color_menu.value == "depth" and "parts" not in viewer.color_menu.options


def test_mesh_viewer_bad_input(body):
    pred = make_prediction()
    with pytest.raises(ValueError, match="color_by"):
        prediction_mesh_viewer(pred, None, color_by="parts")
    with pytest.raises(ValueError, match="color_by"):
        prediction_mesh_viewer(pred, body, color_by="error")
    with pytest.raises(ValueError, match="errors"):
        prediction_mesh_viewer(pred, body, errors=torch.zeros(5))
    with pytest.raises(ValueError, match="index"):
        prediction_mesh_viewer(pred, body, index=2)
    with pytest.raises(ValueError, match="prediction"):
        prediction_mesh_viewer({"vertices": 1}, body)
    viewer = prediction_mesh_viewer(pred, body)
    with pytest.raises(ValueError, match="view"):
        viewer.set_view("under")


# ------------------------------------------------------------------------------------------------
# overlay viewer
# ------------------------------------------------------------------------------------------------
def test_crop_frame_expresses_points_in_crop_pixels():
    pred = make_prediction()
    for i in range(2):
        p = crop_frame(pred, i)
        n = weak_perspective_project(pred.vertices[i:i + 1], pred.camera[i:i + 1])
        assert_close(p.vertices_2d[0], normalized_to_pixels(n, S)[0], atol=1e-4)
        assert p.image_size.tolist() == [[S, S]] and len(p) == 1


def test_overlay_viewer_in_the_crop(body):
    pred = make_prediction()
    viewer = iuv_overlay_viewer(pred, body=body, layer="mesh", blend=0.0)
    background = pred.crops[0].permute(1, 2, 0).numpy()
    shown = _decode(viewer.image.value)
    assert shown.shape == (S, S, 3) and np.abs(shown - background).max() <= 0.5 / 255 + 1e-9
    viewer.blend_slider.value = 1.0
    rgb, alpha = viewer.layer()
    covered = alpha.numpy() > 0
    assert covered.any() and (~covered).any()
    shown = _decode(viewer.image.value)
    assert np.abs(shown[covered] - rgb.numpy()[covered]).max() <= 0.5 / 255 + 1e-6
    assert np.abs(shown[~covered] - background[~covered]).max() <= 0.5 / 255 + 1e-9


def test_overlay_viewer_layers_and_images(body):
    pred = make_prediction()
    images = [torch.rand(3, 40, 60), np.zeros((30, 30, 3), dtype=np.uint8)]
    viewer = iuv_overlay_viewer(pred, images=images, body=body, blend=1.0)
    assert _decode(viewer.image.value).shape == (40, 60, 3)
    seen = set()
    for layer in ("IUV", "mesh", "parts", "mask"):
        viewer.layer_buttons.value = layer
        seen.add(viewer.image.value)
    assert len(seen) == 4
    viewer.layer_buttons.value = "IUV"
    rgb, alpha = viewer.layer()
    on = alpha.numpy() > 0
    assert_close(rgb.numpy()[on], np.broadcast_to([0.6, 0.3, 0.4], (int(on.sum()), 3)))  # u red, v green
    viewer.index_menu.value = 1
    assert _decode(viewer.image.value).shape == (30, 30, 3)
    parts = part_vertex_colors(body)
    assert_close(parts, palette_rgb(LSP_PART_COLORS)[body.lsp_parts.numpy()])


def test_overlay_viewer_bad_input(body):
    pred = make_prediction()
    with pytest.raises(ValueError, match="images"):
        iuv_overlay_viewer(pred, images=[torch.rand(3, 40, 60)])
    with pytest.raises(ValueError, match=r"images\[1\]: expected the original size"):
        iuv_overlay_viewer(pred, images=[torch.rand(3, 40, 60), torch.rand(3, 31, 30)])
    with pytest.raises(ValueError, match="layer"):
        iuv_overlay_viewer(pred, layer="parts")
    with pytest.raises(ValueError, match="blend"):
        iuv_overlay_viewer(pred, blend=1.5)
    with pytest.raises(ValueError, match="kind"):
        part_vertex_colors(body, "bones")


def test_show_prediction_puts_both_side_by_side(body):
    box = show_prediction(make_prediction(), body=body)
    assert box.widget.children == (box.overlay.widget, box.mesh.widget)
    assert box.mesh.color_menu.value == "parts" and box.overlay.layer_buttons.value == "IUV"
    box.overlay.index_menu.value = 1  # the overlay's image menu drives the mesh viewer too
    assert box.mesh.index == 1 and box.mesh.index_menu.layout.display == "none"


def _decode_png(b64):
    import base64

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))


@pytest.mark.parametrize("make", ["mesh", "overlay", "both"])
def test_viewers_carry_a_static_picture_for_pages_without_a_kernel(body, make):
    """The MIME bundle holds the live widget and a PNG of the same state: Jupyter shows the widget,
    a repository page the picture."""
    pred = make_prediction()
    viewer = {"mesh": lambda: prediction_mesh_viewer(pred, body=body),
              "overlay": lambda: iuv_overlay_viewer(pred, layer="mask", blend=1.0),
              "both": lambda: show_prediction(pred, body=body)}[make]()
    bundle = viewer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/plain" in bundle
    png = _decode_png(bundle["image/png"])
    assert png.ndim == 3 and png.shape[0] > 16 and png.shape[1] > 16
    if make == "overlay":  # the picture is exactly the widget's current image
        assert_close(torch.from_numpy(png).float(), torch.from_numpy(np.asarray(
            __import__("PIL.Image", fromlist=["Image"]).open(io.BytesIO(viewer.image.value)).convert("RGB"))).float())
    if make == "mesh":  # parts colouring: the picture shows the part palette's colours
        colours = {tuple(c) for c in png.reshape(-1, 3)[::7].tolist()}
        assert len(colours) > 4


def test_plotly_mesh_picture_follows_the_figure():
    import plotly.graph_objects as go

    from decomr.viz.static import plotly_mesh_png

    v, f = _octahedron()
    base = dict(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2])
    red = _decode_png(__import__("base64").b64encode(plotly_mesh_png(go.Figure(go.Mesh3d(
        **base, facecolor=["rgb(255,0,0)"] * len(f)))))).astype(int)
    reddish = (red[..., 0] > 120) & (red[..., 1] < 60) & (red[..., 2] < 60)  # shaded red faces
    assert reddish.mean() > 0.05
    plain = plotly_mesh_png(go.Figure(go.Mesh3d(**base, intensity=v[:, 2].numpy())))
    assert plain[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------------
# opt-in: the real front end
# ------------------------------------------------------------------------------------------------
@pytest.mark.browser
def test_notebook_08_renders_in_jupyterlab(request, tmp_path):
    """Runs scripts/browser_check.py (JupyterLab + headless Chromium): every cell of notebook 08
    runs and the widgets render. Opt-in: ``pytest -m browser`` (needs chromium and playwright)."""
    import subprocess
    import sys
    from pathlib import Path

    if "browser" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("opt-in: run with `pytest -m browser` (needs Debian's chromium and playwright)")
    script = Path(__file__).resolve().parent.parent / "scripts" / "browser_check.py"
    shot = tmp_path / "demo_jupyterlab.png"
    run = subprocess.run([sys.executable, str(script), "--out", str(shot)], capture_output=True, text=True, timeout=1200)
    if run.returncode == 2:
        pytest.skip(run.stderr.strip())
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_uv_explorer_carries_a_static_picture(anny_body):
    from decomr.uv import load_atlas
    from decomr.viz.uv_plots import uv_explorer

    explorer = uv_explorer(anny_body, load_atlas(anny_body, "continuous"), max_points=2000)
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    png = _decode_png(bundle["image/png"])
    assert png.shape[1] > 1.2 * png.shape[0] > 100  # mesh and chart side by side
