"""Tests for decomr.train.config: paper defaults, typed key=value overrides, YAML files, presets."""
from __future__ import annotations

import io

import pytest
import torch
import yaml

from decomr.losses import LossConfig
from decomr.models import ModelConfig
from decomr.paths import REPO_ROOT
from decomr.train.config import (DataConfig, OptimConfig, TrainConfig, apply_overrides, config_keys, describe_config,
                                 load_config, save_config)

CONFIG_FILES = sorted((REPO_ROOT / "configs").glob("*.yaml"))


def test_defaults_are_the_papers_settings():
    c = TrainConfig()
    assert c.train.lr == 2.5e-4 and c.train.batch_size == 128 and c.train.lr_schedule == "constant"
    assert (c.train.stage1_epochs, c.train.stage2_epochs) == (5.0, 30.0)  # Sec. 4.1
    assert c.model == ModelConfig() and c.model.backbone == "resnet50"
    assert c.loss == LossConfig() and c.loss.mask == 0.2 and c.loss.tv == 1e-4
    assert c.body == "anny" and c.data.source == "synthetic"


def test_overrides_are_parsed_and_type_checked():
    c = apply_overrides(TrainConfig(), [
        "train.lr=1e-4",  # YAML would read "1e-4" as a string: converted for the float field
        "train.batch_size=32", "train.amp=false", "model.backbone=resnet18", "model.pretrained=null",
        "model.decoder_channels=[256, 128]", "model.camera_hidden=64", "train.stage1_steps=1e3",
        "name=123", "train.betas=0.8,0.99",
    ])
    assert c.train.lr == 1e-4 and isinstance(c.train.lr, float)
    assert c.train.batch_size == 32 and c.train.amp is False
    assert c.model.backbone == "resnet18" and c.model.pretrained is None
    assert c.model.decoder_channels == (256, 128) and c.model.camera_hidden == (64,)
    assert c.train.stage1_steps == 1000 and isinstance(c.train.stage1_steps, int)
    assert c.name == "123" and c.train.betas == (0.8, 0.99)
    assert apply_overrides(c, ["train.stage1_steps=None"]).train.stage1_steps is None


@pytest.mark.parametrize("item, message", [
    ("train.batch_size=abc", "train.batch_size: expected an int"),
    ("train.batch_size=2.5", "train.batch_size: expected an int"),
    ("train.amp=maybe", "train.amp: expected a bool"),
    ("train.lr=fast", "train.lr: expected a number"),
    ("model.decoder_channels=[1, 2, 3]", "model.decoder_channels: expected 2 values"),
    ("model.backbone=vgg", "ModelConfig.backbone: expected one of"),  # the component's own validation
    ("train.lr=-1", "train.lr: expected > 0"),
    ("train.grad_accum=3", "train.grad_accum"),  # must divide the batch of 128
    ("train.lr", "expected key=value"),
])
def test_bad_overrides_raise_clear_errors(item, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        apply_overrides(TrainConfig(), [item])


def test_unknown_keys_list_close_matches():
    with pytest.raises(ValueError) as err:
        apply_overrides(TrainConfig(), ["train.learning_rate=1e-3"])
    assert "unknown config key 'train.learning_rate'" in str(err.value)
    with pytest.raises(ValueError) as err:
        apply_overrides(TrainConfig(), ["model.lr=1e-3"])  # right name, wrong section
    assert "train.lr" in str(err.value)
    with pytest.raises(ValueError) as err:
        apply_overrides(TrainConfig(), ["modle.backbone=resnet18"])
    assert "model.backbone" in str(err.value)
    with pytest.raises(ValueError, match="unknown config key 'train.lr.x'"):
        apply_overrides(TrainConfig(), ["train.lr.x=1"])


def test_every_key_is_listed_and_described():
    keys = config_keys(TrainConfig)
    assert "train.lr" in keys and "model.backbone" in keys and "loss.consistency" in keys and "name" in keys
    assert any(k.startswith("data.synthetic.") for k in keys)
    text = describe_config()
    assert "train.lr: float = 0.00025  # Adam learning rate" in text
    for key in keys:
        assert key + ":" in text


def test_round_trip_through_yaml_and_weights_only_torch_load(tmp_path):
    c = apply_overrides(TrainConfig.quick(), ["train.lr=3e-4", "model.lnet_input=local"])
    path = save_config(c, tmp_path / "config.yaml")
    assert load_config(path) == c
    assert TrainConfig.from_dict(c.to_dict()) == c
    buf = io.BytesIO()
    torch.save({"config": c.to_dict()}, buf)  # plain dicts: accepted by weights_only loading
    buf.seek(0)
    assert TrainConfig.from_dict(torch.load(buf, weights_only=True)["config"]) == c


def test_partial_yaml_keeps_defaults_and_rejects_unknown_keys(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\ntrain: {lr: 1.0e-3}\nmodel: {backbone: resnet18}\n")
    c = load_config(tmp_path / "a.yaml", ["train.batch_size=16"])
    assert (c.name, c.train.lr, c.model.backbone, c.train.batch_size) == ("a", 1e-3, "resnet18", 16)
    assert c.loss == LossConfig()
    (tmp_path / "b.yaml").write_text("train: {lr_typo: 1}\n")
    with pytest.raises(ValueError, match="unknown config key 'train.lr_typo'"):
        load_config(tmp_path / "b.yaml")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_config("no_such_config")


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[p.stem for p in CONFIG_FILES])
def test_shipped_configs_load(path):
    c = load_config(path)
    assert c.name == path.stem
    assert all(k in yaml.safe_load(path.read_text()) for k in ("name",))


def test_quick_yaml_is_the_quick_preset():
    assert {p.stem for p in CONFIG_FILES} >= {"quick", "synthetic", "paper", "surreal"}
    assert load_config("quick") == TrainConfig.quick()
    assert load_config("quick").model.backbone == "resnet18" and load_config("quick").train.device == "cpu"


def test_paper_config_is_the_paper_setting():
    c = load_config("paper")
    assert c.body == "smpl" and c.data.source == "official"
    assert c.data.official_train == ("h36m:train", "up3d:trainval")
    # the paper's architecture: decomr's additions (LNet residual on the template, seam-aware Eq. 3,
    # area-averaged raw pixels) are off; everything else is the default (= the paper's widths)
    assert c.model == ModelConfig(lnet_residual=False, seam_aware_read=False, pixel_transfer="input")
    assert c.loss == LossConfig()
    assert (c.train.lr, c.train.batch_size, c.train.stage1_epochs, c.train.stage2_epochs) == (2.5e-4, 128, 5.0, 30.0)


def test_stage_steps_from_epochs_or_steps():
    c = TrainConfig()
    assert c.stage_steps(1280) == (50, 300)  # ceil(5 * 1280 / 128), ceil(30 * 1280 / 128)
    assert c.stage_steps(1000) == (40, 235)
    c2 = apply_overrides(c, ["train.stage1_steps=7", "train.epoch_size=256"])
    assert c2.stage_steps(None) == (7, 60)
    with pytest.raises(ValueError, match="epoch_size"):
        c.stage_steps(None)


def test_sections_validate_on_their_own():
    with pytest.raises(ValueError, match="train.pipeline"):
        OptimConfig(pipeline="fast")
    with pytest.raises(ValueError, match="data.source"):
        DataConfig(source="imagenet")
    with pytest.raises(ValueError, match="name:"):
        TrainConfig(name="a/b")
    assert TrainConfig(name="x").run_dir == REPO_ROOT / "runs" / "x"
    assert apply_overrides(TrainConfig(), ["train.out_dir=/tmp/r"]).run_dir.as_posix() == "/tmp/r"
