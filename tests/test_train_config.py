"""Tests for decomr.train.config: paper defaults, typed key=value overrides, YAML files, presets, one key per fact."""
from __future__ import annotations

import io

import pytest
import torch
import yaml

from decomr.data.augment import AugmentConfig
from decomr.data.synthetic import SyntheticConfig
from decomr.losses import LossConfig
from decomr.models import ModelConfig
from decomr.paths import REPO_ROOT
from decomr.train.config import (DUPLICATE_KEYS, DataConfig, OptimConfig, SyntheticSection, TrainConfig, apply_overrides,
                                 config_keys, describe_config, load_config, save_config)

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


# ------------------------------------------------------------------------------------------------
# One key per fact: the model's sizes and atlas, and the body, feed the data configs
# ------------------------------------------------------------------------------------------------
def test_model_img_size_sizes_the_synthetic_data_and_the_augmentation():
    c = apply_overrides(TrainConfig.quick(), ["model.img_size=96", "model.iuv_size=24", "model.atlas=default"])
    assert isinstance(c.synthetic, SyntheticConfig) and isinstance(c.augmentation, AugmentConfig)
    assert (c.synthetic.image_size, c.synthetic.iuv_size, c.synthetic.atlas) == (96, 24, "default")
    assert c.augmentation.crop_size == 96 and c.synthetic.body == c.body == "anny"
    assert c.synthetic.train_size == 2000  # the rest comes from data.synthetic
    assert apply_overrides(c, ["body=smpl"]).synthetic.body == "smpl"
    # the copies exist nowhere in the config: not in to_dict (checkpoints, config.yaml) nor as keys
    tree = c.to_dict()
    assert not {"image_size", "iuv_size", "atlas", "body"} & set(tree["data"]["synthetic"])
    assert "crop_size" not in tree["data"]["augmentation"]
    assert not set(DUPLICATE_KEYS) & set(config_keys(TrainConfig))
    with pytest.raises(AttributeError):
        c.data.synthetic.image_size  # noqa: B018


def test_data_code_receives_the_model_size(monkeypatch):
    from decomr.train import data

    seen = {}

    class Recorder:
        def __init__(self, split, config, augment, body, atlases):
            seen.update(config=config, augment=augment)

    monkeypatch.setattr(data, "SyntheticDataset", Recorder)
    c = apply_overrides(TrainConfig.quick(), ["model.img_size=96", "model.iuv_size=24"])
    data._synthetic(c, "train", body=None, atlas=None, augment=True)
    assert seen["config"].image_size == 96 and seen["augment"].crop_size == 96


def test_data_sections_reject_the_complete_data_configs():
    with pytest.raises(ValueError, match="data.synthetic: expected a SyntheticSection"):
        DataConfig(synthetic=SyntheticConfig(image_size=64))
    with pytest.raises(ValueError, match="SyntheticConfig.yaw_range"):
        SyntheticSection(yaw_range=(1.0, 0.0))  # validated like the complete config
    assert SyntheticSection(train_size=5).build(image_size=64, iuv_size=16, atlas="default", body="anny") == \
        SyntheticConfig(image_size=64, iuv_size=16, atlas="default", train_size=5)


def _old_style(config: TrainConfig, **changes) -> dict:
    """``config`` as older versions saved it: the model's values repeated in the data sections."""
    tree = config.to_dict()
    syn = {"image_size": config.model.img_size, "iuv_size": config.model.iuv_size, "atlas": config.model.atlas,
           "body": config.body}
    tree["data"]["synthetic"].update(syn)
    tree["data"]["augmentation"]["crop_size"] = config.model.img_size
    for key, value in changes.items():
        section, leaf = key.split("__")
        tree["data"][section][leaf] = value
    return tree


def test_old_dicts_with_agreeing_copies_load():
    c = TrainConfig.quick()
    old = _old_style(c)
    assert TrainConfig.from_dict(old) == c
    assert "image_size" in old["data"]["synthetic"]  # the input is left as it was
    # "both" atlases included the model's continuous one (older configs accepted it)
    assert TrainConfig.from_dict(_old_style(c, synthetic__atlas="both")) == c
    # in YAML files too, and as overrides that agree
    assert apply_overrides(c, ["data.synthetic.image_size=128", "data.augmentation.crop_size=128"]) == c
    c96 = apply_overrides(c, ["model.img_size=96", "model.iuv_size=24", "data.synthetic.image_size=96"])
    assert c96.synthetic.image_size == 96


@pytest.mark.parametrize("key, value, source", [
    ("synthetic__image_size", 96, "model.img_size=128"),
    ("synthetic__iuv_size", 24, "model.iuv_size=32"),
    ("synthetic__atlas", "default", "model.atlas='continuous'"),
    ("synthetic__body", "smpl", "body='anny'"),
    ("augmentation__crop_size", 96, "model.img_size=128"),
])
def test_old_dicts_with_disagreeing_copies_raise(key, value, source, tmp_path):
    old = _old_style(TrainConfig.quick(), **{key: value})
    name = "data." + key.replace("__", ".")
    with pytest.raises(ValueError, match=f"{name}={value!r} disagrees with {source}".replace("(", r"\(")) as err:
        TrainConfig.from_dict(old)
    assert f"remove {name}" in str(err.value)
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(old))
    with pytest.raises(ValueError, match=name):
        load_config(tmp_path / "old.yaml")


def test_shipped_checkpoint_and_run_configs_load():
    for path in [REPO_ROOT / "data/checkpoints/decomr_anny_cpu.pt", REPO_ROOT / "runs/cpu/last.pt"]:
        if path.is_file():
            c = TrainConfig.from_dict(torch.load(path, map_location="cpu", weights_only=True)["config"])
            assert c.synthetic.image_size == c.model.img_size == c.augmentation.crop_size
    if (REPO_ROOT / "runs/cpu/config.yaml").is_file():
        assert load_config(REPO_ROOT / "runs/cpu/config.yaml").name == "cpu"


# ------------------------------------------------------------------------------------------------
# The parser's errors
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, message", [
    ({"train": {"amp": "maybe"}}, "train.amp: expected a bool (true/false), got 'maybe'"),
    ({"train": {"amp": 1}}, "train.amp: expected a bool"),
    ({"train": {"batch_size": "eight"}}, "train.batch_size: expected an int, got 'eight'"),
    ({"train": {"batch_size": 2.5}}, "train.batch_size: expected an int, got 2.5"),
    ({"train": {"batch_size": True}}, "train.batch_size: expected an int, got True"),
    ({"train": {"lr": None}}, "train.lr: expected a number, got None"),
    ({"model": {"backbone": None}}, "model.backbone: expected a string, got None"),
    ({"train": {"stage1_steps": "soon"}}, "train.stage1_steps: expected an int, got 'soon' (or null)"),
    ({"train": {"betas": {"a": 1}}}, "train.betas: expected a list"),
    ({"data": {"synthetic": [1, 2]}}, "data.synthetic: expected a mapping"),
    ({"data": {"synthetic": {"yaw_range": [0, "x"]}}}, "data.synthetic.yaw_range[1]: expected a number"),
])
def test_parser_errors_name_the_key(data, message):
    with pytest.raises(ValueError) as err:
        TrainConfig.from_dict(data)
    assert message in str(err.value)


def test_parser_conversions():
    c = TrainConfig.from_dict({"name": 7, "train": {"amp": "off", "batch_size": "1_024", "lr": 1, "stage1_steps": "null",
                                                    "betas": (0.5, 0.9)},
                               "data": {"synthetic": {"background_kinds": "noise,checker", "orig_size": [480, 640]}}})
    assert c.name == "7" and c.train.amp is False and c.train.batch_size == 1024 and c.train.lr == 1.0
    assert c.train.stage1_steps is None and c.train.betas == (0.5, 0.9)
    assert c.data.synthetic.background_kinds == ("noise", "checker") and c.data.synthetic.orig_size == (480, 640)


def test_unknown_keys_in_files_suggest_the_right_key(tmp_path):
    with pytest.raises(ValueError, match=r"unknown config key 'model.lr'\. Did you mean: train.lr"):
        TrainConfig.from_dict({"model": {"lr": 1}})
    with pytest.raises(ValueError, match="Did you mean: data.synthetic.train_size"):
        apply_overrides(TrainConfig(), ["data.synthetic.train_sise=5"])
    (tmp_path / "bad.yaml").write_text("name: a\ntrain:\n  lr: [1\n")
    with pytest.raises(ValueError, match=r"bad.yaml, line \d+, column \d+: not valid YAML"):
        load_config(tmp_path / "bad.yaml")
