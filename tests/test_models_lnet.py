"""Tests for decomr.models.lnet (Sec. 3.3, Table 5): every input variant, shapes, input checks."""
from __future__ import annotations

import pytest
import torch

from decomr.models.config import LNET_INPUTS, ModelConfig
from decomr.models.lnet import LNet


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (no flaky tolerances)."""
    torch.manual_seed(0)

TINY = ModelConfig.quick(pretrained=None, img_size=64, iuv_size=16, uv_grid=16, map_size=32, lnet_levels=2)


def inputs(cfg, batch=2):
    g = cfg.uv_grid
    transferred = torch.randn(batch, cfg.transferred_channels, g, g) if cfg.uses_transfer else None
    global_features = torch.randn(batch, cfg.global_channels) if cfg.uses_global else None
    return transferred, global_features


@pytest.mark.parametrize("variant", LNET_INPUTS)
def test_every_variant_gives_a_location_map(variant):
    cfg = TINY.replace(lnet_input=variant)
    net = LNet(cfg, torch.randn(3, 16, 16))
    transferred, global_features = inputs(cfg)
    assembled = net.assemble_input(transferred, global_features)
    assert assembled.shape == (2, cfg.lnet_in_channels, 16, 16)
    out = net(transferred, global_features)
    assert out.shape == (2, 3, 32, 32) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("variant", LNET_INPUTS)
def test_quick_variants_at_full_quick_size(variant):
    cfg = ModelConfig.quick(pretrained=None, lnet_input=variant, lnet_residual=False)
    net = LNet(cfg, torch.randn(3, cfg.uv_grid, cfg.uv_grid)).eval()
    batch = inputs(cfg, batch=2)
    with torch.no_grad():
        out = net(*batch)
        # values: in eval mode every sample is mapped on its own (batch independence)
        one = net(*(None if t is None else t[1:] for t in batch))
    assert out.shape == (2, 3, 64, 64) and out.abs().max() > 0
    assert torch.allclose(out[1:], one, atol=1e-5)


def test_paper_input_has_518_channels_in_the_documented_order():
    cfg = ModelConfig(pretrained=None)
    reference = torch.arange(3 * 64 * 64, dtype=torch.float32).view(3, 64, 64)
    net = LNet(cfg, reference)
    transferred, global_features = torch.randn(1, 259, 64, 64), torch.randn(1, 256)
    x = net.assemble_input(transferred, global_features)
    assert x.shape == (1, 518, 64, 64)
    assert torch.equal(x[:, :259], transferred)
    assert torch.equal(x[0, 259:515, 10, 20], global_features[0])
    assert torch.equal(x[0, 515:], reference)


@pytest.mark.parametrize("ratio", [1, 4])
def test_map_size_other_multiples_of_the_grid(ratio):
    cfg = TINY.replace(map_size=16 * ratio, lnet_residual=False)
    net = LNet(cfg, torch.zeros(3, 16, 16)).eval()
    transferred, global_features = inputs(cfg)
    with torch.no_grad():
        out = net(transferred, global_features)
        # values: the global feature is broadcast over the grid, so shuffling it between samples
        # shuffles the outputs the same way (the transferred features shuffled along)
        swapped = net(transferred.flip(0), global_features.flip(0))
    assert out.shape == (2, 3, 16 * ratio, 16 * ratio)
    assert torch.allclose(swapped, out.flip(0), atol=1e-5) and not torch.allclose(out[0], out[1])


def test_residual_head_starts_at_zero_and_gradients_reach_the_inputs():
    net = LNet(TINY, torch.zeros(3, 16, 16))
    assert TINY.lnet_residual and float(net(*inputs(TINY)).abs().max()) == 0.0  # a fresh model: the template
    assert float(LNet(TINY.replace(lnet_residual=False), torch.zeros(3, 16, 16))(*inputs(TINY)).abs().max()) > 0
    torch.nn.init.normal_(net.head[-1].weight, std=0.1)  # as after the first optimiser step
    transferred, global_features = inputs(TINY)
    transferred.requires_grad_(True)
    global_features.requires_grad_(True)
    net(transferred, global_features).square().mean().backward()
    assert transferred.grad.abs().sum() > 0 and global_features.grad.abs().sum() > 0


def test_reference_map_is_a_non_persistent_buffer():
    net = LNet(TINY, torch.ones(3, 16, 16))
    assert "reference_map" not in net.state_dict()
    assert torch.equal(net.reference_map, torch.ones(3, 16, 16))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="reference_map"):
        LNet(TINY, torch.zeros(3, 32, 32))
    net = LNet(TINY, torch.zeros(3, 16, 16))
    transferred, global_features = inputs(TINY)
    with pytest.raises(ValueError, match="transferred"):
        net(None, global_features)
    with pytest.raises(ValueError, match="transferred"):
        net(transferred[:, :5], global_features)
    with pytest.raises(ValueError, match="global_features"):
        net(transferred, None)
    with pytest.raises(ValueError, match="global_features"):
        net(transferred, global_features[:1])
