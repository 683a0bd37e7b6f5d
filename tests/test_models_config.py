"""Tests for decomr.models.config: paper defaults, quick preset, validation, (de)serialisation."""
from __future__ import annotations

import json

import pytest

from decomr.models.config import READS, ModelConfig, read_flag, read_name



def test_defaults_are_the_papers_model():
    cfg = ModelConfig()
    assert (cfg.backbone, cfg.atlas, cfg.lnet_input) == ("resnet50", "continuous", "local+global")
    assert (cfg.img_size, cfg.iuv_size, cfg.uv_grid, cfg.map_size) == (224, 56, 64, 128)
    assert (cfg.local_channels, cfg.global_channels) == (256, 256)
    # Sec. 3.3 / official LNet: 259 transferred + 256 global + 3 reference channels.
    assert cfg.transferred_channels == 259 and cfg.lnet_in_channels == 518


@pytest.mark.parametrize(
    "variant, transferred, total",
    [("global", 0, 259), ("local", 259, 262), ("local+global", 259, 518), ("pixels+global", 6, 265)],
)
def test_lnet_input_channels_per_table5_row(variant, transferred, total):
    cfg = ModelConfig(lnet_input=variant)
    assert cfg.transferred_channels == transferred and cfg.lnet_in_channels == total


def test_quick_preset_and_overrides():
    cfg = ModelConfig.quick()
    assert cfg.backbone == "resnet18" and cfg.map_size == 64 and cfg.uv_grid == 32
    assert ModelConfig.quick(lnet_input="global").lnet_input == "global"


def test_json_round_trip():
    cfg = ModelConfig.quick(pretrained=None, lnet_input="pixels+global")
    restored = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert restored == cfg and isinstance(restored.decoder_channels, tuple)


def test_unknown_keys_are_rejected():
    with pytest.raises(ValueError, match="unknown keys"):
        ModelConfig.from_dict({"backbone": "resnet18", "depth": 3})


@pytest.mark.parametrize(
    "changes",
    [
        dict(backbone="vgg16"),
        dict(atlas="smpl"),
        dict(lnet_input="pixels"),
        dict(norm="layer"),
        dict(img_size=200),
        dict(iuv_size=64),
        dict(uv_grid=60),
        dict(map_size=96),
        dict(decoder_channels=(512,)),
        dict(mask_threshold=1.5),
        dict(camera_scale_init=0.0),
        dict(local_channels=0),
    ],
)
def test_invalid_values_raise(changes):
    with pytest.raises(ValueError, match="ModelConfig"):
        ModelConfig(**changes)


def test_frozen():
    with pytest.raises(Exception):
        ModelConfig().backbone = "resnet18"


def test_read_names_of_eq3():
    """The two reads of Eq. 3 are named from ``seam_aware_read`` and back; unknown names are refused."""
    assert set(READS) == {"plain", "seam-aware"}
    for flag in (False, True):
        assert read_flag(read_name(flag)) is flag
        assert read_name(ModelConfig(seam_aware_read=flag).seam_aware_read) == read_name(flag)
    assert [read_flag(name) for name in READS] == [False, True]  # the paper's plain read first
    assert read_name(ModelConfig().seam_aware_read) == "seam-aware"  # decomr's default
    assert read_name(1) == "seam-aware" and read_name(0) == "plain"  # truthiness, like bool()
    with pytest.raises(ValueError, match=r"read: expected one of \('plain', 'seam-aware'\), got 'bilinear'"):
        read_flag("bilinear")
