"""Smoke and reference tests of decomr.viz.colors, decomr.viz.body_plots and decomr.viz.body_viewer.

Everything runs headless (Agg) on tiny meshes and a tiny stand-in body model, so the file needs
neither Anny nor a display.
"""
from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from decomr.body.base import BodyModel  # noqa: E402
from decomr.body.joints import LSP_JOINT_NAMES, SMPL_JOINT_NAMES  # noqa: E402
from decomr.body.parts import LSP_PART_NAMES, WEIGHT_GROUP_NAMES  # noqa: E402
from decomr.viz import body_plots as bp  # noqa: E402
from decomr.viz import colors  # noqa: E402
from tests.helpers import assert_close  # noqa: E402

# An octahedron: closed, outward-facing triangles, mirror pairs +x <-> -x.
OCTA_V = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64)
OCTA_F = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
OCTA_MIRROR = np.array([1, 0, 2, 3, 4, 5])


class TinyBody(BodyModel):
    """A 6-vertex body with the BodyModel interface (shape scales, pose[0] translates)."""

    name = "tiny"
    shape_dim = 2
    pose_dim = 3

    def __init__(self) -> None:
        super().__init__()
        g = np.random.default_rng(0)
        jr = g.random((24, 6))
        lr = g.random((14, 6))
        self._register_tables(
            faces=OCTA_F, template=OCTA_V, joint_regressor=jr / jr.sum(1, keepdims=True),
            lsp_regressor=lr / lr.sum(1, keepdims=True), mirror_map=OCTA_MIRROR,
            weight_parts=np.array([2, 2, 1, 0, 3, 0]), lsp_parts=np.array([3, 4, 1, 2, 5, 6]),
            default_uv_coords=np.zeros((6, 2)), default_uv_faces=OCTA_F,
        )

    def _skin(self, shape, pose):
        B = max(shape.shape[0], pose.shape[0])
        scale = 1.0 + shape[:, :1, None]  # (B, 1, 1)
        return (self.template[None] * scale + pose[:, :1]).expand(B, -1, -1)

    def mean_shape(self):
        return torch.zeros(1, self.shape_dim)

    def sample_shape(self, n, generator=None):
        return 0.2 * torch.rand(n, self.shape_dim, generator=generator)

    def sample_pose(self, n, generator=None, kind="random"):
        if kind == "rest":
            return torch.zeros(n, self.pose_dim, 3)
        if kind != "random":
            raise ValueError(f"kind: unknown {kind!r}")
        return 0.1 * torch.randn(n, self.pose_dim, 3, generator=generator)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def tiny_body() -> TinyBody:
    return TinyBody()


def _sphere(n_lat: int, n_lon: int) -> tuple[np.ndarray, np.ndarray]:
    """A closed UV sphere with outward faces: 2 * n_lon * (n_lat - 1) triangles."""
    theta = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.cos(t), np.sin(t) * np.sin(p)], -1).reshape(-1, 3)
    v = np.concatenate([[[0, 1, 0]], ring, [[0, -1, 0]]])
    idx = lambda i, j: 1 + i * n_lon + (j % n_lon)  # noqa: E731
    f = [[0, idx(0, j + 1), idx(0, j)] for j in range(n_lon)]
    for i in range(n_lat - 2):
        for j in range(n_lon):
            a, b, c, d = idx(i, j), idx(i, j + 1), idx(i + 1, j), idx(i + 1, j + 1)
            f += [[a, b, d], [a, d, c]]
    last = len(v) - 1
    f += [[last, idx(n_lat - 2, j), idx(n_lat - 2, j + 1)] for j in range(n_lon)]
    return v, np.array(f)


# ------------------------------------------------------------------------------ colors
def test_palettes_match_part_names():
    assert len(colors.WEIGHT_GROUP_COLORS) == len(WEIGHT_GROUP_NAMES)
    assert len(colors.LSP_PART_COLORS) == len(LSP_PART_NAMES)
    assert len(set(colors.LSP_PART_COLORS)) == len(colors.LSP_PART_COLORS)


def test_label_rgb_reference():
    rgb = colors.lsp_part_rgb(torch.tensor([[0, 3], [4, 6]]))
    assert rgb.shape == (2, 2, 3)
    assert_close(rgb[0, 1], colors.hex_to_rgb(colors.LSP_PART_COLORS[3]))
    assert_close(colors.hex_to_rgb("#FF8000"), (1.0, 128 / 255, 0.0))
    assert colors.weight_group_rgb([0, 1, 2, 3]).shape == (4, 3)


def test_label_rgb_bad_input():
    with pytest.raises(ValueError, match="labels"):
        colors.weight_group_rgb([0, 4])
    with pytest.raises(ValueError, match="color"):
        colors.hex_to_rgb("#12")


# ------------------------------------------------------------------------------ projection
@pytest.mark.parametrize("view", [*bp.VIEWS, (30.0, -20.0)])
@pytest.mark.parametrize("frame", ["canonical", "camera"])
def test_view_rotation_is_a_rotation(view, frame):
    R = bp.view_rotation(view, frame)
    assert_close(R @ R.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(R), 1.0)


def test_view_rotation_reference():
    assert_close(bp.view_rotation("front"), np.eye(3))
    # Seen from the body's left, its left (+x) points at the viewer and its front (+z) to the image's left.
    assert_close(bp.view_rotation("left") @ [1, 0, 0], [0, 0, 1], atol=1e-12)
    assert_close(bp.view_rotation("left") @ [0, 0, 1], [-1, 0, 0], atol=1e-12)
    # From above, the top of the head (+y) points at the viewer.
    assert_close(bp.view_rotation("top") @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    # Camera frame (OpenCV): y down becomes image-up negative, z away becomes depth away.
    assert_close(bp.project([[0.0, 1.0, 2.0]], "front", "camera"), [[0.0, -1.0, -2.0]])


def test_view_rotation_bad_input():
    with pytest.raises(ValueError, match="view"):
        bp.view_rotation("diagonal")
    with pytest.raises(ValueError, match="frame"):
        bp.view_rotation("front", "opengl")
    with pytest.raises(ValueError, match="points"):
        bp.project(np.zeros((4, 2)))


# ------------------------------------------------------------------------------ plot_mesh
def test_plot_mesh_culls_and_sorts_by_depth():
    fig, ax = plt.subplots()
    poly = bp.plot_mesh(ax, OCTA_V, OCTA_F, cull=False, view=(20.0, 10.0))
    assert isinstance(poly, PolyCollection)
    assert len(poly.get_paths()) == len(OCTA_F)
    # Painter's order against a naive reference: the mean view depth of the drawn faces increases.
    p = bp.project(OCTA_V, (20.0, 10.0))
    tri2d, mean_depth = p[OCTA_F][:, :, :2], p[OCTA_F][:, :, 2].mean(1)
    drawn = [mean_depth[np.argmin(np.abs(tri2d - path.vertices[:3]).sum((1, 2)))] for path in poly.get_paths()]
    assert np.all(np.diff(drawn) >= 0), drawn
    fig2, ax2 = plt.subplots()
    culled = bp.plot_mesh(ax2, OCTA_V, OCTA_F, view=(20.0, 10.0))
    assert len(culled.get_paths()) == 4  # half of a convex closed mesh faces the viewer


@pytest.mark.parametrize(
    "colors_arg",
    [None, "red", (0.1, 0.2, 0.3), np.arange(6.0), np.arange(8.0), np.random.rand(6, 3), np.random.rand(8, 4),
     torch.rand(6)],
    ids=["none", "name", "rgb-tuple", "vertex-scalar", "face-scalar", "vertex-rgb", "face-rgba", "tensor"],
)
def test_plot_mesh_colour_options(colors_arg):
    from matplotlib import colormaps
    from matplotlib.colors import to_rgba

    fig, ax = plt.subplots()
    poly = bp.plot_mesh(ax, torch.tensor(OCTA_V), torch.tensor(OCTA_F), colors_arg, colorbar="value", shading=False,
                        cull=False)
    drawn = poly.get_facecolors()
    assert drawn.shape == (len(OCTA_F), 4)
    # the colour each face should get, computed here from the argument (faces are drawn depth-sorted)
    c = np.asarray(colors_arg.numpy() if torch.is_tensor(colors_arg) else colors_arg, dtype=object)
    if colors_arg is None or isinstance(colors_arg, (str, tuple)):
        expected = np.tile(to_rgba(bp.MESH_COLOR if colors_arg is None else colors_arg), (len(OCTA_F), 1))
    elif c.ndim == 1:
        values = np.asarray(c, float)
        scalar = values[OCTA_F].mean(1) if len(values) == len(OCTA_V) else values
        expected = colormaps["viridis"]((scalar - scalar.min()) / (scalar.max() - scalar.min()))
    else:
        rgba = np.asarray(c, float)
        rgba = np.concatenate([rgba, np.ones((len(rgba), 1))], 1) if rgba.shape[1] == 3 else rgba
        expected = rgba[OCTA_F].mean(1) if len(rgba) == len(OCTA_V) else rgba
    key = lambda a: sorted(map(tuple, np.round(a, 6)))  # noqa: E731 - compare as multisets
    assert key(drawn) == key(np.clip(expected, 0, 1))
    fig.canvas.draw()


def test_plot_mesh_scalar_colorbar_and_alpha():
    fig, ax = plt.subplots()
    bp.plot_mesh(ax, OCTA_V, OCTA_F, np.arange(6.0), colorbar=True, alpha=0.5, shading=False)
    assert len(fig.axes) == 2  # the colour bar
    assert_close(ax.collections[0].get_facecolors()[:, 3], np.full(4, 0.5))


def test_plot_mesh_bad_input():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="vertices"):
        bp.plot_mesh(ax, OCTA_V[:, :2], OCTA_F)
    with pytest.raises(ValueError, match="faces"):
        bp.plot_mesh(ax, OCTA_V, OCTA_F[:, :2])
    with pytest.raises(ValueError, match="faces"):
        bp.plot_mesh(ax, OCTA_V, OCTA_F + 10)
    with pytest.raises(ValueError, match="colors"):
        bp.plot_mesh(ax, OCTA_V, OCTA_F, np.zeros(5))


def test_plot_mesh_is_fast_on_a_body_sized_mesh():
    v, f = _sphere(120, 112)  # 26,656 faces, about Anny's 26,692
    assert abs(len(f) - 26692) < 100
    fig, ax = plt.subplots(figsize=(3, 3))
    t = time.perf_counter()
    bp.plot_mesh(ax, v, f, v[:, 1])
    fig.savefig(__import__("io").BytesIO(), format="png", dpi=80)
    assert time.perf_counter() - t < 5.0  # < 1 s on an idle core; generous for shared CI


def _drawn_axes(view):
    """{axis name: ("arrow", (dx, dy)) or ("marker", "o"/"x")} as plot_frame_axes drew them."""
    fig, ax = plt.subplots()
    bp.plot_frame_axes(ax, view=view, length=1.0)
    drawn = {t.get_text(): ("arrow", t.get_position()) for t in ax.texts if t.get_text()}
    for line in ax.lines:  # axes pointing at / away from the viewer: a dot or a cross
        name = next(a.get_text() for a in ax.texts if isinstance(a, matplotlib.text.Annotation) and a.get_text()
                    and tuple(a.xy) == (line.get_xdata()[0], line.get_ydata()[0]))
        drawn[name] = ("marker", line.get_marker())
    fig.canvas.draw()
    plt.close(fig)
    return drawn


def test_plot_frame_axes_draws_the_canonical_axes_seen_from_each_view():
    """Canonical frame: x = the body's left, y up, z = the body's front."""
    front = _drawn_axes("front")
    assert front["z"] == ("marker", "o")  # the front faces the viewer
    assert front["y"][0] == "arrow" and front["y"][1][1] > 1.0 and abs(front["y"][1][0]) < 1e-6  # up
    assert front["x"][0] == "arrow" and front["x"][1][0] > 1.0  # the body's left is the viewer's right
    top = _drawn_axes("top")
    assert top["y"] == ("marker", "o")  # seen from above, up points at the viewer
    left = _drawn_axes("left")
    assert left["x"] == ("marker", "o")  # seen from the body's left side
    assert left["y"][1][1] > 1.0


# ------------------------------------------------------------------------------ joints
@pytest.mark.parametrize("names, n_bones", [(SMPL_JOINT_NAMES, 23), (LSP_JOINT_NAMES, 14)])
def test_plot_joints_skeletons(names, n_bones):
    fig, ax = plt.subplots()
    bp.plot_joints(ax, np.random.rand(len(names), 3), names=list(names))
    assert len(ax.lines) == n_bones
    assert len(ax.texts) == len(names)
    fig.canvas.draw()


def test_plot_joints_2d_and_custom_skeleton():
    fig, ax = plt.subplots()
    bp.plot_joints(ax, torch.rand(3, 2), skeleton=[(0, 1), (1, 2)])
    assert len(ax.lines) == 2 and not ax.texts
    bp.plot_joints(ax, torch.rand(5, 3), skeleton=None)


def test_smpl_bones_form_a_tree():
    assert len(bp.SMPL_PARENTS) == len(SMPL_JOINT_NAMES)
    assert all(p < j for j, p in enumerate(bp.SMPL_PARENTS))


def test_plot_joints_bad_input():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="joints"):
        bp.plot_joints(ax, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="names"):
        bp.plot_joints(ax, np.zeros((4, 3)), names=["a"])
    with pytest.raises(ValueError, match="skeleton"):
        bp.plot_joints(ax, np.zeros((4, 3)), skeleton=[(0, 9)])
    with pytest.raises(ValueError, match="skeleton"):
        bp.plot_joints(ax, np.zeros((4, 3)), skeleton="coco")


# ------------------------------------------------------------------------------ parts
def test_face_labels_matches_naive_mode():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 50)
    faces = rng.integers(0, 50, (200, 3))
    expected = []
    for f in faces:
        ls = list(labels[f])
        counts = [ls.count(x) for x in ls]
        expected.append(ls[int(np.argmax(counts))] if max(counts) > 1 else ls[0])
    np.testing.assert_array_equal(bp.face_labels(labels, faces), expected)


@pytest.mark.parametrize("kind, labels", [("lsp", [3, 4, 1, 2, 5, 6]), ("weight", [2, 2, 1, 0, 3, 0])])
def test_plot_part_labels_legend(kind, labels):
    fig, ax = plt.subplots()
    bp.plot_part_labels(ax, OCTA_V, OCTA_F, torch.tensor(labels), kind=kind)
    assert len(ax.get_legend().get_texts()) == len(set(labels))
    fig.canvas.draw()


def test_plot_part_labels_bad_input():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="labels"):
        bp.plot_part_labels(ax, OCTA_V, OCTA_F, [0, 1, 2, 3, 4, 7])
    with pytest.raises(ValueError, match="labels"):
        bp.plot_part_labels(ax, OCTA_V, OCTA_F, [0, 1, 2])
    with pytest.raises(ValueError, match="kind"):
        bp.plot_part_labels(ax, OCTA_V, OCTA_F, [0] * 6, kind="coco")


# ------------------------------------------------------------------------------ mirror map
def test_plot_mirror_map_figure():
    fig = bp.plot_mirror_map(OCTA_V, OCTA_F, OCTA_MIRROR)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4  # three panels and a colour bar
    assert "0.00 mm" in fig.axes[2].get_title()  # the octahedron is exactly symmetric


def test_plot_mirror_map_bad_input():
    with pytest.raises(ValueError, match="mirror_map"):
        bp.plot_mirror_map(OCTA_V, OCTA_F, [0, 1, 2])
    fig, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="axes"):
        bp.plot_mirror_map(OCTA_V, OCTA_F, OCTA_MIRROR, axes=axes)


# ------------------------------------------------------------------------------ sample grid
@pytest.mark.parametrize("kind, n_panels", [("shape", 3), ("pose", 3), ("random", 3), ("named", 1), ("rest", 3)])
def test_sample_grid(tiny_body, kind, n_panels):
    fig = bp.sample_grid(tiny_body, 3, torch.Generator().manual_seed(0), kind=kind, color_by="weight")
    assert isinstance(fig, Figure)
    assert sum(bool(ax.collections) for ax in fig.axes) == n_panels


def test_sample_grid_layout_and_bad_input(tiny_body):
    fig = bp.sample_grid(tiny_body, 5, kind="shape", cols=2, color_by=None)
    assert len(fig.axes) == 6  # 3 rows x 2 columns, the last one empty
    with pytest.raises(ValueError, match="kind"):
        bp.sample_grid(tiny_body, 2, kind="dance")
    with pytest.raises(ValueError, match="color_by"):
        bp.sample_grid(tiny_body, 2, color_by="rainbow")
    with pytest.raises(ValueError, match="n"):
        bp.sample_grid(tiny_body, 0)


def test_save_figure(tmp_path):
    fig, ax = plt.subplots()
    bp.plot_mesh(ax, OCTA_V, OCTA_F)
    path = bp.save_figure(fig, "octahedron", dpi=40, folder=tmp_path)
    assert path == tmp_path / "octahedron.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------ viewer
def test_mesh_viewer_updates(tiny_body):
    pytest.importorskip("plotly")
    pytest.importorskip("ipywidgets")
    from decomr.viz.body_viewer import PoseControl, mesh_viewer

    control = PoseControl("shift x", 0, (1.0, 0.0, 0.0), -1.0, 1.0)
    viewer = mesh_viewer(tiny_body, pose_controls=[control])
    assert len(viewer.shape_sliders) == tiny_body.shape_dim and len(viewer.pose_sliders) == 1
    viewer.shape_sliders[0].value = 1.0  # scale x2
    viewer.pose_sliders[0].value = 0.5  # pose[0] translates by (0.5, 0, 0)
    v = viewer.update()
    assert_close(v, 2.0 * OCTA_V + [0.5, 0.0, 0.0])
    assert_close(np.asarray(viewer.figure.data[0].x), v[:, 0])
    viewer.reset()
    assert_close(viewer.update(), OCTA_V)
    assert "application/vnd.jupyter.widget-view+json" in viewer._repr_mimebundle_()


def test_mesh_viewer_without_anywidget(tiny_body, monkeypatch):
    go = pytest.importorskip("plotly.graph_objects")
    pytest.importorskip("ipywidgets")
    from decomr.viz.body_viewer import mesh_viewer

    def no_widget(*args, **kwargs):
        raise ImportError("Please install anywidget to use the FigureWidget class")

    monkeypatch.setattr(go, "FigureWidget", no_widget)
    viewer = mesh_viewer(tiny_body)
    assert isinstance(viewer.figure, go.Figure) and viewer._output is not None
    viewer.shape_sliders[0].value = 1.0  # redraws the static figure
    assert_close(np.asarray(viewer.figure.data[0].x), 2.0 * OCTA_V[:, 0])


@pytest.mark.parametrize("color_by", ["parts", "weight", None, torch.arange(6.0)])
def test_mesh_viewer_colours(tiny_body, color_by):
    pytest.importorskip("plotly")
    pytest.importorskip("ipywidgets")
    from decomr.viz.body_viewer import mesh_viewer

    viewer = mesh_viewer(tiny_body, color_by=color_by)
    mesh = viewer.figure.data[0]
    if isinstance(color_by, str):
        assert len(mesh.facecolor) == len(OCTA_F)
    elif color_by is not None:
        assert_close(np.asarray(mesh.intensity), np.arange(6.0))


def test_mesh_viewer_bad_input(tiny_body):
    pytest.importorskip("plotly")
    pytest.importorskip("ipywidgets")
    from decomr.viz.body_viewer import mesh_figure, mesh_viewer

    with pytest.raises(ValueError, match="color_by"):
        mesh_viewer(tiny_body, color_by=np.zeros(5))
    with pytest.raises(ValueError, match="color_by"):
        mesh_viewer(tiny_body, color_by="rainbow")
    with pytest.raises(ValueError, match="shape"):
        mesh_viewer(tiny_body, shape=torch.zeros(5))
    with pytest.raises(ValueError, match="vertices"):
        mesh_figure(np.zeros((3, 2)), OCTA_F)


# ------------------------------------------------------------------------------ package
def test_lazy_exports():
    import decomr.viz as viz

    assert viz.plot_mesh is bp.plot_mesh
    assert "mesh_viewer" in dir(viz)
    with pytest.raises(AttributeError):
        viz.not_a_function  # noqa: B018
