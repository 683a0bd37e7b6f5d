"""Tests for decomr.export: OBJ/PLY writers (re-read with trimesh), IUV/PNG images, the files of
``decomr predict``, and the ONNX export checked with onnxruntime."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from decomr.export import (
    decode_iuv,
    encode_iuv,
    opencv_to_opengl,
    prediction_record,
    read_iuv_png,
    write_iuv_png,
    write_obj,
    write_ply,
    write_png,
    write_prediction,
)
from decomr.models import DecoMR, ModelConfig
from decomr.uv import load_atlas
from tests.helpers import assert_close

trimesh = pytest.importorskip("trimesh")

TINY = ModelConfig.quick(pretrained=None, img_size=64, iuv_size=16, uv_grid=16, map_size=32, lnet_levels=2)


def _octahedron():
    v = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64) * 0.5
    v = v + np.array([0.1, -0.2, 2.0])
    f = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    return v, f


# ------------------------------------------------------------------------------------------------
# meshes
# ------------------------------------------------------------------------------------------------
def test_obj_round_trip_with_trimesh(tmp_path):
    v, f = _octahedron()
    path = write_obj(tmp_path / "m.obj", torch.from_numpy(v).float(), torch.from_numpy(f), comment="test\nmesh")
    mesh = trimesh.load(path, process=False)
    assert_close(mesh.vertices, v, atol=1e-6)
    assert np.array_equal(mesh.faces, f)
    assert path.read_text().startswith("# test\n# mesh\n")


def test_obj_with_uv_keeps_every_corner(tmp_path):
    v, f = _octahedron()
    uv = np.random.default_rng(0).random((len(f) * 3, 2))  # per-corner UVs (a seam everywhere)
    fuv = np.arange(len(f) * 3).reshape(-1, 3)
    path = write_obj(tmp_path / "uv.obj", v, f, uv=uv, faces_uv=fuv)
    mesh = trimesh.load(path, process=False)
    # trimesh splits vertices by UV: compare per-corner positions and UVs (OBJ's v points up).
    assert_close(mesh.vertices[mesh.faces], v[f], atol=1e-6)
    got_uv = mesh.visual.uv[mesh.faces]  # (F, 3, 2)
    assert_close(got_uv, np.stack([uv[fuv][..., 0], 1 - uv[fuv][..., 1]], axis=-1), atol=1e-6)


def test_obj_with_the_continuous_atlas(anny_body, tmp_path):
    atlas = load_atlas(anny_body, "continuous")
    path = write_obj(tmp_path / "anny.obj", anny_body.template, anny_body.faces, uv=atlas.uv, faces_uv=atlas.faces_uv)
    mesh = trimesh.load(path, process=False)
    assert_close(mesh.vertices[mesh.faces], anny_body.template[anny_body.faces], atol=1e-5)
    assert len(mesh.faces) == anny_body.num_faces


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("colors", [False, True])
def test_ply_round_trip_with_trimesh(tmp_path, binary, colors):
    v, f = _octahedron()
    rgb = np.random.default_rng(1).integers(0, 256, (len(v), 3)).astype(np.uint8) if colors else None
    path = write_ply(tmp_path / "m.ply", v, f, vertex_colors=rgb, binary=binary, comment="hello")
    mesh = trimesh.load(path, process=False)
    assert_close(mesh.vertices, v.astype(np.float32), atol=1e-7)
    assert np.array_equal(mesh.faces, f)
    if colors:
        assert np.array_equal(np.asarray(mesh.visual.vertex_colors)[:, :3], rgb)
    assert (b"binary_little_endian" in path.read_bytes()[:100]) == binary


def test_float_colors_are_quantised(tmp_path):
    v, f = _octahedron()
    path = write_ply(tmp_path / "c.ply", v, f, vertex_colors=np.full((len(v), 3), 0.5))
    assert np.all(np.asarray(trimesh.load(path, process=False).visual.vertex_colors)[:, :3] == 128)


@pytest.mark.parametrize("writer", [write_obj, write_ply])
def test_mesh_writers_reject_bad_input(tmp_path, writer):
    v, f = _octahedron()
    with pytest.raises(ValueError, match="vertices"):
        writer(tmp_path / "x", v[:, :2], f)
    with pytest.raises(ValueError, match="faces"):
        writer(tmp_path / "x", v, f + 10)
    with pytest.raises(ValueError, match="faces"):
        writer(tmp_path / "x", v, f.astype(np.float64))
    bad = v.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        writer(tmp_path / "x", bad, f)
    with pytest.raises(ValueError, match="vertex_colors"):
        writer(tmp_path / "x", v, f, vertex_colors=np.zeros((2, 3)))


def test_obj_uv_needs_faces_uv(tmp_path):
    v, f = _octahedron()
    with pytest.raises(ValueError, match="faces_uv"):
        write_obj(tmp_path / "x.obj", v, f, uv=np.zeros((3, 2)))


def test_opencv_to_opengl_is_a_rotation_keeping_the_winding():
    v, f = _octahedron()
    gl = opencv_to_opengl(v)
    rot = np.diag([1.0, -1.0, -1.0])
    assert np.linalg.det(rot) == pytest.approx(1.0)
    n_cv = trimesh.Trimesh(v, f, process=False).face_normals
    n_gl = trimesh.Trimesh(gl, f, process=False).face_normals
    assert_close(n_gl, n_cv @ rot.T, atol=1e-12)  # normals rotate with the mesh: winding kept
    assert_close(opencv_to_opengl(torch.from_numpy(v)), gl)


# ------------------------------------------------------------------------------------------------
# images
# ------------------------------------------------------------------------------------------------
def test_iuv_png_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    iuv = torch.rand(3, 20, 30, generator=g)
    iuv[0] = (iuv[0] > 0.4).float()
    iuv[1:] *= iuv[0]
    back = read_iuv_png(write_iuv_png(tmp_path / "iuv.png", iuv))
    assert back.shape == (3, 20, 30)
    assert torch.equal(back[0], iuv[0])
    assert_close(back[1:], iuv[1:], atol=0.5 / 255 + 1e-7)
    assert float(back[1:, iuv[0] == 0].abs().max()) == 0.0


def test_iuv_encoding_binarises_the_mask_and_zeroes_the_background():
    iuv = torch.tensor([[[0.7, 0.2]], [[0.5, 0.9]], [[0.25, 0.9]]])  # (3, 1, 2)
    enc = encode_iuv(iuv)
    assert enc.dtype == np.uint8 and enc.tolist() == [[[255, 128, 64], [0, 0, 0]]]
    assert decode_iuv(enc)[0].tolist() == [[1.0, 0.0]]
    with pytest.raises(ValueError, match="iuv"):
        encode_iuv(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="uint8"):
        decode_iuv(np.zeros((4, 4, 3), dtype=np.float32))


def test_write_png_layouts(tmp_path):
    rgb = np.random.default_rng(0).random((5, 7, 3))
    for image in (rgb, (rgb * 255).round().astype(np.uint8), torch.from_numpy(rgb).permute(2, 0, 1)):
        back = np.asarray(Image.open(write_png(tmp_path / "a.png", image)))
        assert back.shape == (5, 7, 3) and np.abs(back / 255.0 - rgb).max() <= 0.5 / 255 + 1e-9
    with pytest.raises(ValueError, match="image"):
        write_png(tmp_path / "b.png", np.zeros((2, 2, 5)))


# ------------------------------------------------------------------------------------------------
# predictions and ONNX (a tiny model on the real body mesh)
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_predictor(anny_body):
    from decomr.predict import Predictor
    torch.set_num_threads(1)
    torch.manual_seed(0)
    atlas = load_atlas(anny_body, TINY.atlas)
    model = DecoMR(TINY, anny_body, atlas)
    with torch.no_grad():  # an O(1) location map, so that 1e-4 is a meaningful tolerance
        model.lnet.head[-1].weight.mul_(50.0)
    return Predictor(model, anny_body, atlas, device="cpu")


def test_write_prediction_files(tiny_predictor, tmp_path):
    from decomr.predict import iuv_layer

    img = torch.rand(3, 50, 70, generator=torch.Generator().manual_seed(0))
    pred = tiny_predictor.predict(img, boxes=[10, 5, 40, 45])
    files = write_prediction(tmp_path, "p", pred, 0, img, atlas=tiny_predictor.atlas, extra={"image": "x.png"})
    mesh = trimesh.load(files.ply, process=False)
    assert_close(mesh.vertices, opencv_to_opengl(pred.vertices[0]), atol=1e-6)
    obj = trimesh.load(files.obj, process=False)
    assert_close(obj.vertices[obj.faces], opencv_to_opengl(pred.vertices[0])[pred.faces], atol=1e-5)
    pasted = iuv_layer(pred, 0)  # (3, 50, 70), the crop's IUV in the image
    assert_close(read_iuv_png(files.iuv), pasted * (pasted[0] > 0.5), atol=0.5 / 255 + 1e-6)
    assert np.asarray(Image.open(files.overlay)).shape == (50, 70, 3)
    record = json.loads(files.json.read_text())
    assert record["image"] == "x.png" and record["files"]["obj"] == "p.obj" and record["mesh_frame"] == "opengl"
    assert_close(np.array(record["joints2d"]), pred.joints_2d[0], atol=0.006)
    assert_close(np.array(record["joints3d"]), pred.joints[0], atol=6e-6)
    assert len(record["lsp_joint_names"]) == 14 and record["crop"]["side_px"] == pytest.approx(48.0)
    cv = write_prediction(tmp_path / "cv", "p", pred, outputs=("ply",), mesh_frame="opencv")
    assert_close(trimesh.load(cv.ply, process=False).vertices, pred.vertices[0], atol=1e-6)
    assert cv.obj is None and cv.json is None


def test_write_prediction_rejects_bad_options(tiny_predictor, tmp_path):
    pred = tiny_predictor.predict(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match="unknown"):
        write_prediction(tmp_path, "p", pred, outputs=("stl",))
    with pytest.raises(ValueError, match="original image"):
        write_prediction(tmp_path, "p", pred, outputs=("overlay",))
    with pytest.raises(ValueError, match="mesh_frame"):
        write_prediction(tmp_path, "p", pred, outputs=("ply",), mesh_frame="blender")
    assert prediction_record(pred)["foreground_fraction"] == pytest.approx(float(pred.iuv[0, 0].mean()), abs=1e-4)


def test_onnx_matches_pytorch_with_a_dynamic_batch(tiny_predictor, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from decomr.export import compare_onnx, export_onnx, run_onnx

    result = export_onnx(tiny_predictor, tmp_path / "m.onnx", opset=17, atol=1e-4)
    assert result.path.is_file() and result.max_abs_diff  # checked at batch 3 (traced at 2)
    model = tiny_predictor.model
    assert not model.training and type(model.sampler).__name__ == "UVSampler"  # left as it was
    for batch in (1, 4):
        x = torch.rand(batch, 3, TINY.img_size, TINY.img_size, generator=torch.Generator().manual_seed(batch))
        diffs = compare_onnx(model, result.path, x)
        assert diffs["location_map"] <= 1e-4 and diffs["vertices"] <= 1e-4, diffs
        with torch.no_grad():
            scale = float(model(x).location_map.abs().max())
        assert scale > 0.05  # the comparison is not between near-zero maps
        out = run_onnx(result.path, x)
        assert out["vertices"].shape == (batch, tiny_predictor.body.num_vertices, 3)
    meta = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    assert json.loads(meta["model_config"]) == TINY.to_dict() and meta["body"] == "anny"


def test_onnx_export_rejects_old_opsets_and_other_objects(tiny_predictor, tmp_path):
    from decomr.export import export_onnx

    with pytest.raises(ValueError, match="opset"):
        export_onnx(tiny_predictor, tmp_path / "m.onnx", opset=13)
    with pytest.raises(ValueError, match="DecoMR model or a Predictor"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "m.onnx")


def test_export_onnx_cli(tiny_predictor, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from decomr.cli.export import export_onnx_main
    from decomr.predict import save_model_release

    release = save_model_release(tmp_path / "r.pt", tiny_predictor.model, tiny_predictor.body, dtype=torch.float32)
    assert export_onnx_main(["--checkpoint", str(release), "--out", str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "onnxruntime vs PyTorch" in out
    assert export_onnx_main(["--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "no such checkpoint file" in capsys.readouterr().err
    assert export_onnx_main(["--checkpoint", str(release), "--out", str(tmp_path / "m.txt")]) == 2
