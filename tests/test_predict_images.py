"""Tests for the bounded-memory image path of decomr.predict: decoding, uint8 until cropped,
crop windows, and overlays/IUV images drawn only where the person is. Each windowed result is
compared with the whole-image computation it replaces."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from decomr.data.crop import crop_image, pixels_to_normalized, uncrop_image
from decomr.models import DecoMR, ModelConfig
from decomr.predict import ImageReadError, Prediction, Predictor, as_image_list, read_image, save_model_release
from decomr.predict.overlay import _scaled_crop, iuv_layer, mesh_layer, output_size, overlay_image
from decomr.predict.predictor import crop_window
from decomr.render import rasterize, render_shaded
from tests.helpers import assert_close

TINY = ModelConfig.quick(pretrained=None, img_size=64, iuv_size=16, uv_grid=16, map_size=32, lnet_levels=2)


@pytest.fixture(scope="module")
def predictor(anny_body, tmp_path_factory):
    from decomr.uv import load_atlas

    torch.manual_seed(0)
    model = DecoMR(TINY, anny_body, load_atlas(anny_body, TINY.atlas)).eval()
    path = save_model_release(tmp_path_factory.mktemp("ckpt") / "tiny.pt", model, anny_body, dtype=torch.float32)
    torch.set_num_threads(1)
    return Predictor.from_checkpoint(path, device="cpu")


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth (H, W, 3) uint8 picture (upsampled noise): JPEG keeps it close to the original."""
    small = (np.random.default_rng(seed).random((max(2, h // 16), max(2, w // 16), 3)) * 255).astype(np.uint8)
    return np.array(Image.fromarray(small).resize((w, h), Image.BILINEAR))


# ------------------------------------------------------------------------------------------------
# decoding
# ------------------------------------------------------------------------------------------------
def _pil_reference(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


@pytest.mark.parametrize("kind", ["jpeg", "jpeg_rotated", "png_rgb", "png_gray", "png_palette", "png_16bit", "bmp"])
def test_read_image_gives_pils_pixels_for_every_kind_of_file(tmp_path, kind):
    arr = _photo(48, 64, seed=1)
    img = Image.fromarray(arr)
    path = tmp_path / {"jpeg": "a.jpg", "jpeg_rotated": "r.jpg", "bmp": "b.bmp"}.get(kind, f"{kind}.png")
    if kind == "jpeg":
        img.save(path, quality=90)
    elif kind == "jpeg_rotated":  # a phone photo held upright: EXIF orientation 6 (rotate 90 degrees)
        exif = img.getexif()
        exif[0x0112] = 6
        img.save(path, quality=90, exif=exif)
    elif kind == "png_gray":
        img.convert("L").save(path)
    elif kind == "png_palette":
        img.convert("P").save(path)
    elif kind == "png_16bit":
        Image.fromarray((arr[..., 0].astype(np.uint16) * 257)).save(path)
    else:
        img.save(path)
    got = read_image(path)
    ref = _pil_reference(path)
    assert got.dtype == np.uint8 and got.shape == ref.shape and got.flags.writeable
    assert np.array_equal(got, ref)
    if kind == "jpeg_rotated":
        assert got.shape == (64, 48, 3)  # upright


def test_truncated_and_fake_jpegs_are_reported_as_unreadable(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(_photo(64, 64)).save(good, quality=90)
    data = good.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "fake.jpg").write_bytes(b"not a jpeg at all" * 10)
    for name in ("cut.jpg", "fake.jpg"):
        with pytest.raises(ImageReadError, match=name):
            read_image(tmp_path / name)


def test_keep_uint8_returns_a_view_and_leaves_floats_alone(tmp_path):
    arr = _photo(20, 30)
    t = as_image_list(arr, keep_uint8=True)[0]
    assert t.dtype == torch.uint8 and t.shape == (3, 20, 30)
    assert np.shares_memory(t.numpy(), arr)  # no copy
    assert torch.equal(t.float() / 255, as_image_list(arr)[0])
    f = torch.rand(3, 20, 30)
    assert as_image_list(f, keep_uint8=True)[0].dtype == torch.float32
    assert as_image_list(torch.from_numpy(arr), keep_uint8=True)[0].dtype == torch.uint8  # (H, W, 3) uint8 tensor
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        as_image_list(f * 3, keep_uint8=True)  # floats are still range-checked


# ------------------------------------------------------------------------------------------------
# cropping through the window
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cx, cy, side", [(50.0, 40.0, 30.0), (3.2, 70.7, 50.0), (95.5, -10.0, 64.0),
                                          (50.0, 40.0, 400.0), (300.0, 40.0, 20.0)])
def test_a_crop_of_the_window_equals_the_crop_of_the_whole_image(cx, cy, side):
    img = torch.rand(3, 80, 100, generator=torch.Generator().manual_seed(0))
    center = torch.tensor([cx, cy], dtype=torch.float64)
    window, c = crop_window(img, center, side)
    assert window.shape[-2] <= 80 and window.shape[-1] <= 100
    scale = torch.tensor(side / 200.0, dtype=torch.float64)
    assert_close(crop_image(window, c, scale, 32), crop_image(img, center, scale, 32), atol=5e-5)
    if side < 100 and 0 < cx < 100:
        assert window.shape[-1] < 100  # only the part the crop sees


def test_uint8_and_float_images_give_the_same_crops(predictor):
    arr = _photo(600, 900)  # big enough for the downscaling path (crop side 1080 px for a 64 px crop)
    as_float = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    crops_u8 = predictor.crop(arr)[0]
    crops_f = predictor.crop(as_float)[0]
    assert_close(crops_u8, crops_f, atol=1.0 / 255 + 1e-4)  # uint8 resizing rounds to whole levels
    box = [400.0, 250.0, 460.0, 330.0]  # a small box: the direct path
    assert_close(predictor.crop(arr, boxes=box)[0], predictor.crop(as_float, boxes=box)[0], atol=1e-5)


# ------------------------------------------------------------------------------------------------
# drawing only where the person is
# ------------------------------------------------------------------------------------------------
def _full_frame_layer(pred: Prediction, size: tuple[int, int]):
    """The mesh rasterised over the whole output (the computation the window replaces)."""
    h0, w0 = (int(v) for v in pred.image_size[0])
    h, w = size
    pix = (pred.vertices_2d[:1].double() + 0.5) * torch.tensor([w / w0, h / h0], dtype=torch.float64) - 0.5
    xy = pixels_to_normalized(pix, (h, w)).float()
    verts = pred.vertices[:1].float()
    frags = rasterize(torch.cat([xy, verts[..., 2:]], dim=-1), pred.faces, (h, w))
    return render_shaded(frags, verts, pred.faces)[0].permute(1, 2, 0), frags.mask[0].float()


@pytest.fixture(scope="module")
def photo_prediction(predictor):
    arr = _photo(300, 420, seed=3)
    return arr, predictor.predict(arr, boxes=[[120.0, 40.0, 260.0, 280.0]])


def test_windowed_mesh_layer_equals_the_full_frame_rendering(photo_prediction):
    _, pred = photo_prediction
    for size in ((300, 420), (150, 210)):
        rgb, alpha = _full_frame_layer(pred, size)
        layer = mesh_layer(pred, 0, image_size=size)
        assert float(alpha.sum()) > 50  # the mesh is drawn
        assert float((layer.alpha != alpha).float().mean()) < 1e-3  # float rounding at a few edge pixels
        both = (layer.alpha > 0) & (alpha > 0)
        assert_close(layer.rgb[both], rgb[both], atol=1e-4)


def test_overlay_of_a_uint8_photo_equals_the_float_one(photo_prediction):
    arr, pred = photo_prediction
    as_float = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    u8 = torch.from_numpy(arr).permute(2, 0, 1)
    for max_side in (None, 200):
        a, b = overlay_image(u8, pred, max_side=max_side), overlay_image(as_float, pred, max_side=max_side)
        assert a.shape == b.shape == (*output_size((300, 420), max_side), 3)
        assert_close(a, b, atol=1.0 / 255 + 1e-4)
    # Outside the mesh the overlay is the picture itself.
    out = overlay_image(as_float, pred)
    off = mesh_layer(pred).alpha == 0
    assert_close(out[off], as_float.permute(1, 2, 0)[off], atol=1e-6)


def test_windowed_iuv_layer_equals_pasting_into_the_whole_image(photo_prediction):
    _, pred = photo_prediction
    for max_side in (None, 200):
        size = output_size((300, 420), max_side)
        center, scale = _scaled_crop(pred, 0, size)
        full = uncrop_image(pred.iuv[0], center, scale, size, mode="nearest")
        got = iuv_layer(pred, 0, max_side=max_side)
        assert got.shape == full.shape and float((full[0] > 0).float().mean()) > 0.05
        # Nearest-neighbour sampling: where a pixel centre falls exactly between two crop pixels,
        # the window's float32 grid may round to the other one. Every pixel is the whole-image
        # result at that pixel or at one of its 8 neighbours (ties in both axes).
        padded = torch.nn.functional.pad(full, (1, 1, 1, 1))
        h, w = size
        candidates = [padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] 
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        assert bool(torch.stack([(got == c).all(0) for c in candidates]).any(0).all())
        assert float((got != full).any(0).float().mean()) < 0.05
