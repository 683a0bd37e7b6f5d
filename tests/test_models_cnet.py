"""Tests for decomr.models.cnet (Sec. 3.2): shapes, camera initialisation, input checks, weights."""
from __future__ import annotations

import warnings

import pytest
import torch
import torchvision

from decomr.models import cnet as cnet_module
from decomr.models.cnet import IMAGENET_MEAN, IMAGENET_STD, CNet, build_encoder, find_pretrained_weights
from decomr.models.config import ModelConfig
from tests.helpers import assert_close


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (no flaky tolerances)."""
    torch.manual_seed(0)

TINY = ModelConfig.quick(pretrained=None, img_size=64, iuv_size=16, uv_grid=16, map_size=32, lnet_levels=2)


@pytest.fixture(scope="module")
def tiny_cnet():
    torch.manual_seed(0)
    return CNet(TINY).eval()


def test_output_shapes_and_ranges(tiny_cnet):
    out = tiny_cnet(torch.rand(2, 3, 64, 64))
    assert out.mask_logits.shape == (2, 1, 16, 16)
    assert out.uv.shape == (2, 2, 16, 16)
    assert out.local_features.shape == (2, TINY.local_channels, 16, 16)
    assert out.global_features.shape == (2, TINY.global_channels)
    assert out.camera.shape == (2, 3)
    assert out.code.shape == (2, 512)
    assert all(t.dtype == torch.float32 for t in (out.mask_logits, out.uv, out.camera))
    assert out.uv.min() >= 0 and out.uv.max() <= 1


def test_quick_config_shapes_at_224():
    net = CNet(ModelConfig.quick(pretrained=None)).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        out = net(x)
        # values: the pooled code is torchvision's own ResNet forward (fc removed), the global
        # feature its MLP, the mask logits the mask head on the local features
        reference_code = net.encoder((x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None])
        assert torch.allclose(out.code, reference_code, atol=1e-5)
        assert torch.allclose(out.global_features, net.global_head(reference_code), atol=1e-5)
        assert torch.allclose(out.mask_logits, net.mask_head(out.local_features), atol=1e-6)
    assert out.mask_logits.shape == (1, 1, 56, 56) and out.local_features.shape == (1, 64, 56, 56)


def test_fresh_camera_is_the_configured_initialisation():
    net = CNet(TINY.replace(camera_scale_init=1.3)).eval()
    cam = net(torch.rand(3, 3, 64, 64)).camera
    assert_close(cam, torch.tensor([[1.3, 0.0, 0.0]] * 3), atol=1e-6)


def test_camera_scale_stays_positive(tiny_cnet):
    with torch.no_grad():
        tiny_cnet.camera_head[-1].bias.copy_(torch.tensor([-50.0, 0.0, 0.0]))
        cam = tiny_cnet(torch.rand(1, 3, 64, 64)).camera
        tiny_cnet.camera_head[-1].bias.zero_()
    assert cam[0, 0] >= 0


def test_imagenet_normalisation_happens_inside(tiny_cnet):
    images = torch.rand(1, 3, 64, 64)
    normalised = tiny_cnet.normalize(images)
    expected = (images - torch.tensor(cnet_module.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        cnet_module.IMAGENET_STD).view(1, 3, 1, 1)
    assert_close(normalised, expected, atol=1e-6)


@pytest.mark.parametrize(
    "images",
    [
        torch.rand(1, 3, 224, 224),  # wrong size for the tiny config
        torch.rand(1, 1, 64, 64),  # grey image
        torch.rand(1, 4, 64, 64),  # RGBA
        torch.rand(3, 64, 64),  # no batch dimension
        torch.randint(0, 255, (1, 3, 64, 64), dtype=torch.uint8),  # not float
    ],
)
def test_bad_images_raise(tiny_cnet, images):
    with pytest.raises(ValueError, match="images"):
        tiny_cnet(images)


def test_gradients_reach_the_encoder(tiny_cnet):
    tiny_cnet.train()
    out = tiny_cnet(torch.rand(2, 3, 64, 64))
    (out.local_features.mean() + out.mask_logits.mean() + out.camera.sum() + out.global_features.mean()).backward()
    assert tiny_cnet.encoder.conv1.weight.grad.abs().sum() > 0
    assert tiny_cnet.camera_head[-1].weight.grad.abs().sum() > 0
    tiny_cnet.zero_grad(set_to_none=True)
    tiny_cnet.eval()


def test_pretrained_weights_from_a_path(tmp_path):
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "weights.pth"
    torch.save(reference.state_dict(), path)
    encoder = build_encoder("resnet18", str(path))
    assert_close(encoder.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)
    with pytest.raises(ValueError, match="pretrained"):
        build_encoder("resnet18", str(tmp_path / "missing.pth"))


def test_imagenet_weights_found_in_hub_cache_or_warned_once(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.setenv("DECOMR_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(cnet_module, "_WARNED", set())
    assert find_pretrained_weights("resnet18") is None
    with pytest.warns(UserWarning, match="from scratch"):
        build_encoder("resnet18", "imagenet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second time is silent
        build_encoder("resnet18", "imagenet")

    reference = torchvision.models.resnet18(weights=None)
    (hub / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), hub / "checkpoints" / "resnet18-f37072fd.pth")
    assert find_pretrained_weights("resnet18").name == "resnet18-f37072fd.pth"
    assert_close(build_encoder("resnet18", "imagenet").conv1.weight, reference.conv1.weight)
