"""Tests for decomr.models.decomr: the full model with stand-in and real body/atlas (shapes, stages,
gradient paths, overfitting a handful of samples)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from decomr.losses import LossConfig, LossTargets, compute_losses
from decomr.models import DecoMR, DecoMROutput, ModelConfig
from tests.helpers import assert_close


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (no flaky tolerances)."""
    torch.manual_seed(0)

TINY = ModelConfig.quick(pretrained=None, img_size=64, iuv_size=16, uv_grid=16, map_size=32, lnet_levels=2)
NUM_VERTS = 50


class StandInSampler(nn.Module):
    """Stand-in for decomr.uv.UVSampler: each vertex reads the map bilinearly at a fixed UV (Eq. 3)."""

    def __init__(self, num_vertices: int, resolution: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.resolution = resolution
        self.register_buffer("vertex_uv", 0.1 + 0.8 * torch.rand(num_vertices, 2, generator=g))

    def map_to_mesh(self, maps: torch.Tensor) -> torch.Tensor:
        grid = (2 * self.vertex_uv - 1).view(1, 1, -1, 2).expand(maps.shape[0], -1, -1, -1).to(maps.dtype)
        return F.grid_sample(maps, grid, align_corners=True)[:, :, 0].transpose(1, 2)  # (B, V, C)


def stand_in_body(num_vertices: int = NUM_VERTS, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    joint = torch.rand(24, num_vertices, generator=g)
    lsp = torch.rand(14, num_vertices, generator=g)
    return SimpleNamespace(name="stand-in", joint_regressor=joint / joint.sum(1, keepdim=True),
                           lsp_regressor=lsp / lsp.sum(1, keepdim=True))


def make_model(cfg=TINY, seed=0, trained_head=False):
    torch.manual_seed(seed)
    reference = 0.3 * torch.randn(3, cfg.uv_grid, cfg.uv_grid)
    model = DecoMR(cfg, stand_in_body(), StandInSampler(NUM_VERTS, cfg.map_size), reference_map=reference)
    if trained_head:  # LNet's last layer starts at zero (a fresh model predicts the template), which
        torch.nn.init.normal_(model.lnet.head[-1].weight, std=0.1)  # blocks gradients until the first step:
    return model  # give it the non-zero weights any trained model has, to test the wiring behind it


@pytest.mark.parametrize("variant", ["global", "local", "local+global", "pixels+global"])
def test_forward_shapes_for_every_variant(variant):
    cfg = TINY.replace(lnet_input=variant)
    model = make_model(cfg).eval()
    out = model(torch.rand(2, 3, 64, 64))
    assert isinstance(out, DecoMROutput)
    assert out.mask_logits.shape == (2, 1, 16, 16) and out.uv.shape == (2, 2, 16, 16)
    assert out.global_features.shape == (2, cfg.global_channels) and out.camera.shape == (2, 3)
    if variant == "global":
        assert out.transferred is None
    else:
        assert out.transferred.shape == (2, cfg.transferred_channels, 16, 16)
    assert out.location_map.shape == (2, 3, 32, 32)
    assert out.vertices.shape == (2, NUM_VERTS, 3)
    assert out.joints.shape == (2, 24, 3) and out.lsp_joints.shape == (2, 14, 3)
    assert out.iuv.shape == (2, 3, 16, 16) and out.mask.shape == (2, 1, 16, 16)


def test_mesh_and_joints_follow_from_the_location_map():
    model = make_model().eval()
    out = model(torch.rand(1, 3, 64, 64))
    assert_close(out.vertices, model.sampler.map_to_mesh(out.location_map), atol=1e-6)
    assert_close(out.joints, torch.einsum("jv,bvc->bjc", model.joint_regressor, out.vertices), atol=1e-6)
    assert_close(out.lsp_joints, torch.einsum("jv,bvc->bjc", model.lsp_regressor, out.vertices), atol=1e-6)


def test_cnet_stage_skips_lnet():
    model = make_model().eval()
    out = model(torch.rand(1, 3, 64, 64), stage="cnet")
    assert out.location_map is None and out.vertices is None and out.transferred is None
    assert out.mask_logits.shape == (1, 1, 16, 16)
    with pytest.raises(ValueError, match="stage"):
        model(torch.rand(1, 3, 64, 64), stage="lnet")


def test_bad_images_raise():
    model = make_model().eval()
    with pytest.raises(ValueError, match="images"):
        model(torch.rand(1, 3, 224, 224))
    with pytest.raises(ValueError, match="images"):
        model(torch.rand(1, 1, 64, 64))


def test_constructor_checks():
    with pytest.raises(ValueError, match="reference_map"):
        DecoMR(TINY, stand_in_body(), StandInSampler(NUM_VERTS, TINY.map_size))
    with pytest.raises(ValueError, match="resolution"):
        DecoMR(TINY, stand_in_body(), StandInSampler(NUM_VERTS, 64), reference_map=torch.zeros(3, 16, 16))


def _forced_foreground(model):
    """Make the mask head predict foreground everywhere so that every pixel is transferred."""
    with torch.no_grad():
        model.cnet.mask_head[-1].bias.fill_(10.0)


@pytest.mark.parametrize("variant", ["local+global", "local"])
def test_gradients_reach_cnet_through_features_not_indices(variant):
    model = make_model(TINY.replace(lnet_input=variant), trained_head=True).train()
    _forced_foreground(model)
    out = model(torch.rand(2, 3, 64, 64))
    out.location_map.square().mean().backward()
    grad = {name: p.grad for name, p in model.named_parameters()}
    # Local features carry the gradient back into the decoder and the encoder ...
    assert grad["cnet.up.2.conv3.weight"].abs().sum() > 0
    assert grad["cnet.encoder.conv1.weight"].abs().sum() > 0
    # ... while the UV and mask heads only choose cells / pixels: no gradient reaches them.
    for name, g in grad.items():
        if name.startswith(("cnet.uv_head", "cnet.mask_head", "cnet.camera_head")):
            assert g is None or g.abs().sum() == 0, name


def test_global_variant_does_not_use_the_decoder():
    model = make_model(TINY.replace(lnet_input="global"), trained_head=True).train()
    model(torch.rand(2, 3, 64, 64)).location_map.square().mean().backward()
    assert model.cnet.global_head[0].weight.grad.abs().sum() > 0
    assert model.cnet.up[2].conv3.weight.grad is None


def test_seam_aware_read_can_be_turned_off(anny_parts):
    """model.seam_aware_read=False (the paper's plain Eq. 3) gives the plain bilinear sampler."""
    body, atlas = anny_parts
    cfg = TINY.replace(atlas="continuous")
    aware, plain = DecoMR(cfg, body, atlas), DecoMR(cfg.replace(seam_aware_read=False), body, atlas)
    assert aware.sampler.seam_aware and not plain.sampler.seam_aware
    maps = torch.randn(1, 3, cfg.map_size, cfg.map_size, generator=torch.Generator().manual_seed(0))
    from decomr.uv import UVSampler

    assert torch.allclose(plain.location_map_to_mesh(maps), UVSampler(atlas, cfg.map_size).map_to_mesh(maps))


def test_the_read_of_eq3_can_be_switched_on_a_trained_model(anny_parts):
    """set_seam_aware_read gives the outputs of the same weights in a model built with the other read."""
    body, atlas = anny_parts
    cfg = TINY.replace(atlas="continuous")
    aware = DecoMR(cfg, body, atlas).eval()
    torch.nn.init.normal_(aware.lnet.head[-1].weight, std=0.1)  # a fresh LNet predicts the template only
    plain = DecoMR(cfg.replace(seam_aware_read=False), body, atlas).eval()
    plain.load_state_dict(aware.state_dict())
    images = torch.rand(2, 3, cfg.img_size, cfg.img_size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before, reference = aware(images).vertices, plain(images).vertices
        aware.set_seam_aware_read(False)
        switched = aware(images).vertices
        aware.set_seam_aware_read(True, body=body)
        back = aware(images).vertices
    assert not torch.allclose(before, reference, atol=1e-4)  # the two reads differ on this atlas
    assert torch.equal(switched, reference) and torch.equal(back, before)
    assert aware.config.seam_aware_read and aware.sampler.seam_aware
    # a model built from a bare sampler has no atlas to rebuild Eq. 3 from
    bare = make_model()
    with pytest.raises(ValueError, match="no atlas"):
        bare.set_seam_aware_read(not bare.config.seam_aware_read)


def test_regressors_and_reference_are_not_in_the_checkpoint():
    state = make_model().state_dict()
    assert not any(k in state for k in ("joint_regressor", "lsp_regressor", "lnet.reference_map"))
    restored = make_model(seed=1)
    restored.load_state_dict(state)


# --------------------------------------------------------------------------- with the real body and atlas
@pytest.fixture(scope="module")
def anny_parts(anny_body):
    from decomr.uv import load_atlas

    return anny_body, load_atlas(anny_body, "continuous")


def test_anny_model_shapes_and_reference_map(anny_parts):
    from decomr.uv import UVSampler, reference_location_map

    body, atlas = anny_parts
    cfg = ModelConfig.quick(pretrained=None)
    torch.manual_seed(0)
    model = DecoMR(cfg, body, atlas).eval()
    assert isinstance(model.sampler, UVSampler) and model.sampler.resolution == cfg.map_size
    assert (model.body_name, model.atlas_name) == ("anny", "continuous")
    assert_close(model.lnet.reference_map, reference_location_map(body, atlas, cfg.uv_grid), atol=0)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 224, 224))
    assert out.location_map.shape == (1, 3, 64, 64)
    assert out.vertices.shape == (1, body.num_vertices, 3)
    assert out.joints.shape == (1, 24, 3) and out.lsp_joints.shape == (1, 14, 3)
    joints, lsp = body.regress_joints(out.vertices)
    assert_close(out.joints, joints, atol=1e-5)
    assert_close(out.lsp_joints, lsp, atol=1e-5)


def test_anny_ground_truth_location_map_gives_back_the_mesh(anny_parts):
    """Feeding a mesh's own location map through the model's map->mesh path recovers it (Eq. 3)."""
    from decomr.uv import camera_frame_vertices, location_maps

    body, atlas = anny_parts
    model = DecoMR(ModelConfig(pretrained=None, lnet_levels=1, lnet_channels=8, decoder_channels=(8, 8),
                               local_channels=8, backbone="resnet18"), body, atlas)
    g = torch.Generator().manual_seed(0)
    vertices = camera_frame_vertices(body, pose=body.sample_pose(2, generator=g))  # (2, V, 3)
    recovered = model.location_map_to_mesh(location_maps(model.sampler, vertices))
    error = (recovered - vertices).norm(dim=-1)
    # Rasterising into a 128 x 128 map and sampling back loses a few millimetres on average (more
    # on thin parts such as the fingers); see decomr.uv.round_trip_errors for the full study.
    assert error.mean() < 6e-3 and error.max() < 0.1, (float(error.mean()), float(error.max()))  # metres
    joints, _ = model.regress_joints(recovered)
    assert_close(joints, body.regress_joints(vertices)[0], atol=5e-3)


def test_from_config_and_atlas_mismatch(anny_parts):
    from decomr.uv import load_atlas

    body, atlas = anny_parts
    small = ModelConfig.quick(pretrained=None, atlas="default", lnet_channels=8, local_channels=8,
                              decoder_channels=(8, 8), global_channels=8)
    assert DecoMR.from_config(small, body).atlas_name == "default"
    with pytest.raises(ValueError, match="atlas"):
        DecoMR(small, body, atlas)  # the continuous atlas under a config that names the default one
    assert load_atlas(body, "default").name == "default"


def test_tiny_model_overfits_a_handful_of_synthetic_samples(anny_parts):
    """Four synthetic samples (64 px crops, real Anny targets) and every loss term: the loss must collapse."""
    from decomr.data import SyntheticBatchGenerator, SyntheticConfig
    from decomr.uv import weight_map

    body, atlas = anny_parts
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the CPU is shared: one thread is faster than two fighting for it
    try:
        data = SyntheticConfig.quick(image_size=TINY.img_size, iuv_size=TINY.iuv_size, mask_full_res=False)
        batch = SyntheticBatchGenerator(data, "cpu", body).batch("train", range(4))
        torch.manual_seed(0)
        model = DecoMR(TINY, body, atlas).train()
        targets = LossTargets.from_batch(batch, model.sampler)
        weights = weight_map(body, atlas, TINY.map_size)
        optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
        start = time.perf_counter()
        history = []
        for _ in range(60):
            terms = compute_losses(model(batch.image), targets, weights, LossConfig())
            optimiser.zero_grad()
            terms.total.backward()
            optimiser.step()
            history.append(terms.as_dict())
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    first, last = history[0], history[-1]
    assert last["total"] < first["total"] / 6, (first, last)
    for name in ("mask", "uv", "location_map", "joints3d", "joints2d", "consistency"):
        assert last[name] < first[name] / 2.5, (name, first[name], last[name])
    assert elapsed < 45, f"overfitting took {elapsed:.1f} s"


@pytest.mark.slow
def test_torch_export_with_a_dynamic_batch():
    """CNet + transfer + LNet have static shapes apart from the batch: torch.export (ONNX's front end) works."""

    class Outputs(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, images):
            out = self.model(images)
            return out.location_map, out.vertices, out.camera

    model = Outputs(make_model().eval())
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (torch.rand(2, 3, 64, 64),), dynamic_shapes={"images": {0: batch}})
    images = torch.rand(3, 3, 64, 64)
    for exported, eager in zip(program.module()(images), model(images)):
        assert_close(exported, eager, atol=1e-5)
