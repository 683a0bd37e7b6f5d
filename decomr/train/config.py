"""Training configuration: one nested, frozen dataclass shared by the CLI, notebooks and checkpoints.

:class:`TrainConfig` groups the configs of the other components (``model``: :class:`ModelConfig`,
``loss``: :class:`LossConfig`, ``data``: :class:`DataConfig`) with the optimisation/runtime knobs
(``train``: :class:`OptimConfig`). Defaults are the paper's settings (Sec. 3.4, 4.1):
Adam, lr 2.5e-4, batch 128, constant lr, stage 1 = CNet alone for 5 epochs, stage 2 =
end to end for 30 epochs.

Each fact has one key: ``model.img_size``, ``model.iuv_size``, ``model.atlas`` and ``body`` also
size the data; :attr:`TrainConfig.synthetic` and :attr:`TrainConfig.augmentation` are the complete
configs handed to the data code (``data.*`` holds the rest of their settings).

Three ways to get one, all validated the same way:

* Python: ``TrainConfig()`` (paper), ``TrainConfig.quick()`` (2-core CPU, minutes);
* YAML: :func:`load_config` (``configs/*.yaml``; a file may give only what differs from the
  defaults);
* overrides: ``key=value`` strings with dotted keys (``model.backbone=resnet18``,
  ``train.lr=1e-4``), applied by :func:`apply_overrides`. Values are parsed as YAML scalars/lists
  and checked against the field's type; unknown keys raise ``ValueError`` listing close matches.

The config travels with every checkpoint as plain dicts (:meth:`TrainConfig.to_dict`) and is
written next to the run as ``config.yaml``, so ``resume`` needs nothing else. Older configs that
repeat those values inside ``data`` still load when the copies agree (:data:`DUPLICATE_KEYS`).

>>> cfg = apply_overrides(TrainConfig.quick(), ["train.lr=1e-4", "model.backbone=resnet18"])
>>> cfg.train.lr, cfg.model.backbone
(0.0001, 'resnet18')
>>> apply_overrides(cfg, ["train.learning_rate=1"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown config key 'train.learning_rate'. Did you mean: train.lr, ...
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import inspect
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from decomr.data.augment import AugmentConfig
from decomr.data.synthetic import SyntheticConfig
from decomr.losses import LossConfig
from decomr.models import ModelConfig
from decomr.paths import REPO_ROOT, atomic_write_bytes

__all__ = ["OptimConfig", "DataConfig", "SyntheticSection", "AugmentSection", "TrainConfig", "DUPLICATE_KEYS",
           "apply_overrides", "load_config", "save_config", "config_from_dict", "config_to_dict", "config_keys",
           "describe_config"]

LR_SCHEDULES = ("constant", "cosine")
DATA_SOURCES = ("synthetic", "official")
PIPELINES = ("auto", "gpu", "loader")

#: Fields of the data configs that a TrainConfig fills from their one source (a key of the config).
SYNTHETIC_FROM: dict[str, str] = {"image_size": "model.img_size", "iuv_size": "model.iuv_size",
                                  "atlas": "model.atlas", "body": "body"}
AUGMENT_FROM: dict[str, str] = {"crop_size": "model.img_size"}
#: Keys that older configs repeated inside ``data`` -> the one key holding that value now. They are
#: still read (and dropped) when they agree with it.
DUPLICATE_KEYS: dict[str, str] = {**{f"data.synthetic.{k}": v for k, v in SYNTHETIC_FROM.items()},
                                  **{f"data.augmentation.{k}": v for k, v in AUGMENT_FROM.items()}}


# ------------------------------------------------------------------------------------------------
# Sections
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptimConfig:
    """Optimisation, schedule and runtime (the ``train.*`` keys). Defaults = the paper."""

    # --- optimiser (Sec. 4.1: Adam, lr 2.5e-4, batch 128, no schedule) ---
    lr: float = 2.5e-4  # Adam learning rate
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas (PyTorch defaults, as the official code)
    weight_decay: float = 0.0  # Adam weight decay (0 in the paper)
    lr_schedule: str = "constant"  # "constant" (paper) or "cosine" (decay to min_lr over each stage)
    min_lr: float = 0.0  # final lr of the cosine schedule
    warmup_steps: int = 0  # linear warm-up at the start of each stage (0 in the paper)
    grad_clip: float = 0.0  # clip the global gradient norm to this value; 0 = off (paper: off)
    batch_size: int = 128  # GLOBAL batch per optimiser step (split over GPUs and micro-batches)
    grad_accum: int = 1  # micro-batches per step (gradient accumulation; batch_size must divide)
    # --- length: stage 1 = CNet alone (Eq. 4 only), stage 2 = end to end (Eq. 1) ---
    stage1_epochs: float = 5.0  # paper: 5 epochs of CNet alone
    stage2_epochs: float = 30.0  # paper: 30 epochs end to end
    stage1_steps: int | None = None  # if set, overrides stage1_epochs (optimiser steps)
    stage2_steps: int | None = None  # if set, overrides stage2_epochs
    epoch_size: int | None = None  # samples per epoch for the conversion; None = the training set's size
    # --- reproducibility ---
    seed: int = 0  # seeds the model init, the data order/augmentation and every RNG
    # --- speed ---
    device: str = "auto"  # "auto" (cuda if available, else cpu), "cpu", "cuda", "cuda:1", ...
    amp: bool = True  # bf16 autocast on CUDA and on CPUs with native bf16 (else fp32); weights and Adam stay fp32
    channels_last: bool = True  # NHWC memory format (faster convolutions on CUDA and with oneDNN on the CPU)
    compile: bool = False  # torch.compile the model (slower start, faster steps)
    pipeline: str = "auto"  # "gpu" (workers draw synthetic params, the device renders), "loader" (Dataset + workers), "auto"
    num_workers: int = 4  # DataLoader worker processes ("loader" pipeline and evaluation)
    cpu_threads: int = 0  # torch intra-op CPU threads; 0 = PyTorch's default (1 is faster on a busy shared CPU)
    sync_bn: bool = True  # SyncBatchNorm across GPUs under torchrun (CUDA only)
    # --- bookkeeping ---
    log_every: int = 50  # steps between log lines / TensorBoard scalars
    image_every: int = 1000  # steps between TensorBoard sample images (0 = never)
    ckpt_every: int = 1000  # steps between checkpoints (also written at the end and on time-out)
    eval_every: int = 2000  # steps between evaluations on data.eval_split / data.official_test (0 = only at the end)
    eval_batches: int | None = None  # limit evaluations to this many batches (None = whole split)
    max_minutes: float = 0.0  # stop cleanly (checkpoint, exit 0) after this many minutes of steps; 0 = no limit
    out_dir: str = ""  # run folder; "" = runs/<name> at the repository root
    tensorboard: bool = True  # write TensorBoard logs when tensorboard is importable

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        _check(self.lr > 0, "train.lr", "> 0", self.lr)
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "train.betas", "two values in [0, 1)", self.betas)
        _check(self.lr_schedule in LR_SCHEDULES, "train.lr_schedule", f"one of {LR_SCHEDULES}", self.lr_schedule)
        _check(0 <= self.min_lr <= self.lr, "train.min_lr", f"in [0, lr={self.lr}]", self.min_lr)
        _check(self.grad_accum >= 1 and self.batch_size % self.grad_accum == 0, "train.grad_accum",
               f">= 1 and dividing batch_size={self.batch_size}", self.grad_accum)
        _check(self.pipeline in PIPELINES, "train.pipeline", f"one of {PIPELINES}", self.pipeline)
        for name in ("weight_decay", "warmup_steps", "grad_clip", "stage1_epochs", "stage2_epochs", "num_workers",
                     "cpu_threads", "eval_every", "image_every", "max_minutes"):
            _check(getattr(self, name) >= 0, f"train.{name}", ">= 0", getattr(self, name))
        for name in ("batch_size", "log_every", "ckpt_every"):
            _check(getattr(self, name) >= 1, f"train.{name}", ">= 1", getattr(self, name))
        for name, low in (("stage1_steps", 0), ("stage2_steps", 0), ("epoch_size", 1), ("eval_batches", 1)):
            value = getattr(self, name)
            _check(value is None or value >= low, f"train.{name}", f"None or >= {low}", value)


def _section(full: type, filled: dict[str, str], name: str) -> type:
    """A frozen dataclass with the fields (types, defaults) of config class ``full`` but ``filled``;
    its ``build(**filled_values)`` makes the complete config (also run, with defaults, to validate it)."""
    hints = typing.get_type_hints(full)
    specs = [(f.name, hints[f.name], field(default=f.default, default_factory=f.default_factory))
             for f in dataclasses.fields(full) if f.name not in filled]

    def build(self: Any, **values: Any) -> Any:
        """The complete config: these settings and ``values`` (the filled fields)."""
        return full(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, **values)

    doc = (f"{full.__name__} settings inside a TrainConfig: all but "
           f"{', '.join(f'{k} (= {v})' for k, v in filled.items())}.")
    return dataclasses.make_dataclass(name, specs, frozen=True, namespace={
        "__module__": __name__, "__doc__": doc, "__post_init__": build, "build": build, "full_config": full})


#: ``data.synthetic``: :class:`~decomr.data.synthetic.SyntheticConfig` without its output geometry.
SyntheticSection = _section(SyntheticConfig, SYNTHETIC_FROM, "SyntheticSection")
#: ``data.augmentation``: :class:`~decomr.data.augment.AugmentConfig` without ``crop_size``.
AugmentSection = _section(AugmentConfig, AUGMENT_FROM, "AugmentSection")


@dataclass(frozen=True)
class DataConfig:
    """What to train and evaluate on (the ``data.*`` keys)."""

    source: str = "synthetic"  # "synthetic" (Anny renders, works out of the box) or "official"
    # Synthetic data (decomr.data.synthetic): splits, people, camera, appearance. Its image_size,
    # iuv_size, atlas and body are model.img_size, model.iuv_size, model.atlas and body
    # (TrainConfig.synthetic is the complete SyntheticConfig).
    synthetic: SyntheticSection = field(default_factory=SyntheticSection)
    # Pre-rendered synthetic train split (decomr.data.cache, `decomr render-synthetic`): a folder,
    # relative paths under data/; rendered with every core at the start when missing (resumable).
    # "" renders the training images on the fly instead.
    cache: str = ""
    eval_split: str = "val"  # synthetic split evaluated during training (best.pt); `decomr eval` uses "test"
    augment: bool = True  # the paper's augmentation of training samples (Sec. 4.1: flip, colour, rotation, scale)
    augmentation: AugmentSection = field(default_factory=AugmentSection)  # its settings (crop = model.img_size)
    # Official data (decomr.data.official; licence-gated, see `decomr info`): "name:split" items.
    official_train: tuple[str, ...] = ("h36m:train", "up3d:trainval")  # paper (Sec. 4.1): H36M + UP-3D, by size
    # Evaluated by `decomr eval` (Table 2's protocol 2). It is never used during training: best.pt
    # is selected on a validation split carved from the training sets (data.official_val_fraction).
    official_test: str = "h36m:valid_p2"
    # Share of each official training set held out (its last records: whole sequences, since the
    # files are ordered by subject and sequence) to evaluate during training and select best.pt.
    official_val_fraction: float = 0.02
    official_root: str = ""  # folder holding <name>/ dataset folders; "" = data/datasets

    def __post_init__(self) -> None:
        object.__setattr__(self, "official_train", tuple(str(s) for s in self.official_train))
        _check(self.source in DATA_SOURCES, "data.source", f"one of {DATA_SOURCES}", self.source)
        for key, section in (("synthetic", SyntheticSection), ("augmentation", AugmentSection)):
            _check(isinstance(getattr(self, key), section), f"data.{key}",
                   f"a {section.__name__} ({section.__doc__.rstrip('.')})", type(getattr(self, key)).__name__)
        _check(self.eval_split in ("val", "test"), "data.eval_split", "'val' or 'test'", self.eval_split)
        _check(0.0 < self.official_val_fraction < 0.5, "data.official_val_fraction", "in (0, 0.5)",
               self.official_val_fraction)
        for item in (*self.official_train, self.official_test):
            _check(isinstance(item, str) and item.count(":") == 1, "data.official_train/official_test",
                   "'name:split' items (e.g. 'h36m:train')", item)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; saved in every checkpoint and as ``<run>/config.yaml``."""

    name: str = "decomr"  # run name; the run folder is runs/<name> unless train.out_dir is set
    body: str = "anny"  # body model: "anny" (free, default) or "smpl" (licensed files in data/)
    model: ModelConfig = field(default_factory=ModelConfig)  # architecture (decomr.models)
    loss: LossConfig = field(default_factory=LossConfig)  # loss weights (decomr.losses, Eq. 1)
    data: DataConfig = field(default_factory=DataConfig)  # training/evaluation data
    train: OptimConfig = field(default_factory=OptimConfig)  # optimiser, schedule, runtime

    def __post_init__(self) -> None:
        _check(bool(self.name) and "/" not in self.name, "name", "a non-empty name without '/'", self.name)
        _check(self.body in ("anny", "smpl"), "body", "'anny' or 'smpl'", self.body)
        _ = self.synthetic, self.augmentation  # building them validates the complete data configs

    # ---------------------------------------------------------------- presets
    @classmethod
    def quick(cls, **sections: Any) -> "TrainConfig":
        """A tiny run for a 2-core CPU (a few minutes): ResNet-18, 128 px crops, small maps.

        ``configs/quick.yaml`` holds the same values (a test checks it).
        """
        model = ModelConfig.quick(pretrained=None, img_size=128, iuv_size=32)
        data = DataConfig(synthetic=SyntheticSection(train_size=2000, val_size=64, test_size=64))  # model's sizes
        train = OptimConfig(
            batch_size=8, stage1_steps=60, stage2_steps=240, seed=0, device="cpu", amp=False,
            channels_last=False, pipeline="loader", num_workers=1, cpu_threads=1, log_every=10, image_every=0,
            ckpt_every=100, eval_every=100, eval_batches=4, tensorboard=True,
        )
        config = cls(name="quick", model=model, data=data, train=train)
        return dataclasses.replace(config, **sections) if sections else config

    # ---------------------------------------------------------------- derived values
    @property
    def synthetic(self) -> SyntheticConfig:
        """The complete synthetic-data config: ``data.synthetic`` at the model's sizes and atlas, of ``body``."""
        return self.data.synthetic.build(**{k: _get(self, v) for k, v in SYNTHETIC_FROM.items()})

    @property
    def augmentation(self) -> AugmentConfig:
        """The complete augmentation config: ``data.augmentation`` cropping to ``model.img_size``."""
        return self.data.augmentation.build(**{k: _get(self, v) for k, v in AUGMENT_FROM.items()})

    @property
    def run_dir(self) -> Path:
        """The run folder (``train.out_dir`` or ``runs/<name>``)."""
        return Path(self.train.out_dir).expanduser() if self.train.out_dir else REPO_ROOT / "runs" / self.name

    def stage_steps(self, dataset_size: int | None = None) -> tuple[int, int]:
        """Optimiser steps of stage 1 and stage 2.

        Explicit ``train.stage{1,2}_steps`` win; otherwise ``ceil(epochs * epoch_size / batch)``
        with ``epoch_size`` = ``train.epoch_size`` or ``dataset_size``.

        Raises:
            ValueError: epochs are used but no epoch size is known.
        """
        t = self.train
        out = []
        for steps, epochs, name in ((t.stage1_steps, t.stage1_epochs, "stage1"), (t.stage2_steps, t.stage2_epochs, "stage2")):
            if steps is not None:
                out.append(int(steps))
                continue
            size = t.epoch_size or dataset_size
            if not size:
                raise ValueError(f"train.{name}_epochs: set train.epoch_size or train.{name}_steps "
                                 "(the training set's size is unknown)")
            out.append(int(math.ceil(epochs * size / t.batch_size)))
        return out[0], out[1]

    # ---------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain dicts/lists/primitives (YAML/JSON friendly, ``torch.load(weights_only=True)`` safe)."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys raise, and the
        copies older versions kept in ``data`` (:data:`DUPLICATE_KEYS`) load when they agree."""
        return config_from_dict(cls, data)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some top-level fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def _check(ok: bool, key: str, expected: str, got: Any) -> None:
    if not ok:
        raise ValueError(f"{key}: expected {expected}, got {got!r}")


def _get(config: Any, key: str) -> Any:
    """The value of dotted ``key`` in a (nested) config, e.g. ``_get(cfg, "model.img_size")``."""
    return functools.reduce(getattr, key.split("."), config)


# ------------------------------------------------------------------------------------------------
# Parsing: one short conversion per field type
# ------------------------------------------------------------------------------------------------
def _to_bool(value: Any, key: str) -> bool:
    word = str(value).strip().lower() if isinstance(value, (bool, str)) else None
    if word in ("true", "yes", "on", "false", "no", "off"):
        return word in ("true", "yes", "on")
    raise ValueError(f"{key}: expected a bool (true/false), got {value!r}")


def _to_float(value: Any, key: str, expected: str = "a number") -> float:
    """Numbers and numeric strings (``"1e-4"``, ``"100_000"``); not bools."""
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value.replace("_", "") if isinstance(value, str) else value)
        except ValueError:
            pass
    raise ValueError(f"{key}: expected {expected}, got {value!r}")


def _to_int(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _to_float(value, key, "an int")
    if not number.is_integer():  # 2.5; but 1e3 and 1000.0 are ints
        raise ValueError(f"{key}: expected an int, got {value!r}")
    return int(number)


def _to_str(value: Any, key: str) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)  # `name: 123` in YAML is the name "123"
    raise ValueError(f"{key}: expected a string, got {value!r}")


def _to_tuple(value: Any, tp: Any, key: str) -> tuple:
    """``tuple[X, Y]`` (exactly these items) or ``tuple[X, ...]`` (any number) from a list, a
    ``"a,b"`` string (overrides) or one number (``model.camera_hidden=64``)."""
    if isinstance(value, str):
        value = [yaml.safe_load(v) for v in value.strip().strip("()[]").split(",") if v.strip()]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{key}: expected a list {_type_name(tp)}, got {value!r}")
    items = typing.get_args(tp)
    if items[-1] is Ellipsis:
        items = (items[0],) * len(value)
    elif len(value) != len(items):
        raise ValueError(f"{key}: expected {len(items)} values {_type_name(tp)}, got {len(value)}: {value!r}")
    return tuple(_parse(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, items)))


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _parse(value: Any, tp: Any, key: str, root: type | None = None) -> Any:
    """``value`` (from YAML, a dict or an override) converted to the field type ``tp``.

    Raises:
        ValueError: the value does not fit, naming ``key``.
    """
    if tp in _SCALARS:
        return _SCALARS[tp](value, key)
    if dataclasses.is_dataclass(tp):  # a nested section
        return value if isinstance(value, tp) else config_from_dict(tp, value, key + ".", root)
    if typing.get_origin(tp) is tuple:
        return _to_tuple(value, tp, key)
    options = typing.get_args(tp)
    if len(options) == 2 and type(None) in options:  # X | None
        if value is None or str(value).strip().lower() in ("none", "null", "~"):
            return None
        inner = options[0] if options[1] is type(None) else options[1]
        try:
            return _parse(value, inner, key, root)
        except ValueError as err:
            raise ValueError(f"{err} (or null)") from None
    raise TypeError(f"{key}: no parser for the field type {_type_name(tp)}")


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def config_to_dict(obj: Any) -> Any:
    """A (nested) config dataclass as plain dicts, lists and primitives."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: config_to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [config_to_dict(v) for v in obj]
    return obj


def config_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted leaf key of a (nested) config dataclass, e.g. ``"train.lr"``."""
    keys = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        keys += config_keys(tp, f"{prefix}{f.name}.") if dataclasses.is_dataclass(tp) else [prefix + f.name]
    return keys


_SYNONYMS = {"learning_rate": "lr", "bs": "batch_size", "workers": "num_workers", "threads": "cpu_threads"}


def _unknown_key_error(key: str, root: type) -> ValueError:
    keys = config_keys(root)
    leaf_of = {k: k.rsplit(".", 1)[-1] for k in keys}
    leaf = _SYNONYMS.get(key.rsplit(".", 1)[-1], key.rsplit(".", 1)[-1])
    tokens = set(leaf.split("_"))
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.8)  # typos in the whole key
    near = set(difflib.get_close_matches(leaf, list(set(leaf_of.values())), n=3, cutoff=0.6))
    close += [k for k in keys if leaf_of[k] in near and k not in close]  # right name, wrong section
    close += [k for k in keys if k not in close and (leaf_of[k] in tokens or leaf in leaf_of[k].split("_"))]
    hint = f" Did you mean: {', '.join(close[:5])}?" if close else ""
    sections = sorted({k.split(".")[0] for k in keys if "." in k})
    return ValueError(f"unknown config key {key!r}.{hint} (sections: {', '.join(sections)}; "
                      "`decomr train --show-config` lists every key)")


def config_from_dict(cls: type, data: dict[str, Any], prefix: str = "", root: type | None = None) -> Any:
    """Build config dataclass ``cls`` from a (partial) nested dict with type checks.

    Missing keys keep their defaults; unknown keys raise ``ValueError`` with close matches; each
    value is converted to its field's type (see :func:`_parse`) and the dataclass' own validation
    runs. For a :class:`TrainConfig`, the keys of :data:`DUPLICATE_KEYS` (older dicts) are dropped
    when they agree with the key that holds the value now.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{prefix.rstrip('.') or cls.__name__}: expected a mapping, got {data!r}")
    root = root or cls
    duplicates: dict[str, Any] = {}
    if cls is TrainConfig and not prefix:
        data, duplicates = _pop_duplicates(data)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise _unknown_key_error(prefix + str(key), root)
        kwargs[key] = _parse(value, hints[key], prefix + key, root)
    try:
        config = cls(**kwargs)
    except ValueError as err:
        if prefix and not str(err).startswith(prefix):
            raise ValueError(f"{prefix.rstrip('.')}: {err}") from err
        raise
    for old, value in duplicates.items():
        _check_duplicate(config, old, value)
    return config


def _pop_duplicates(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` without the :data:`DUPLICATE_KEYS` it holds, and those keys' values."""
    data, found = copy.deepcopy(data), {}
    for old in DUPLICATE_KEYS:
        *path, leaf = old.split(".")
        node = data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            found[old] = node.pop(leaf)
    return data, found


def _check_duplicate(config: TrainConfig, old: str, value: Any) -> None:
    """Accept an older config's copy ``old`` of a value only if it agrees with the one source."""
    new = DUPLICATE_KEYS[old]
    value, current = _parse(value, _field_type(TrainConfig, new), old), _get(config, new)
    both = new == "model.atlas" and value == "both" and current == "continuous"  # "both" included "continuous"
    if value != current and not both:
        raise ValueError(f"{old}={value!r} disagrees with {new}={current!r}, which alone sets it now: "
                         f"remove {old} (or set {new}={value!r} instead)")


# ------------------------------------------------------------------------------------------------
# Overrides and files
# ------------------------------------------------------------------------------------------------
def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    *path, leaf = key.split(".")
    for part in path:
        if not isinstance(tree.get(part), dict):
            tree[part] = {}
        tree = tree[part]
    tree[leaf] = value


def _field_type(cls: type, key: str) -> Any:
    """The annotated type of dotted ``key`` in ``cls`` (raises the unknown-key error)."""
    tp: Any = cls
    for part in key.split("."):
        if not dataclasses.is_dataclass(tp) or part not in {f.name for f in dataclasses.fields(tp)}:
            raise _unknown_key_error(key, cls)
        tp = typing.get_type_hints(tp)[part]
    return tp


def apply_overrides(config: TrainConfig, overrides: list[str] | tuple[str, ...] | None) -> TrainConfig:
    """Apply ``key=value`` overrides (dotted keys) to a config, with type checks.

    Values are read as YAML (``true``, ``null``, ``[256, 128]``), then converted to the field's
    type: ``train.lr=1e-4`` is a float, ``model.pretrained=null`` is None, ``name=123`` stays the
    string ``"123"``. A whole section can be replaced by a mapping (``model={backbone: resnet18}``).
    ``model.img_size=128`` also sizes the synthetic renders and the augmentation crops (one key).

    Raises:
        ValueError: malformed item (no ``=``), unknown key (with close matches) or a value that
            does not fit the field.
    """
    tree = config_to_dict(config)
    for item in overrides or ():
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected key=value (e.g. train.lr=1e-4)")
        key, text = item.split("=", 1)
        key = key.strip().removeprefix("--")
        tp = _field_type(type(config), DUPLICATE_KEYS.get(key, key))
        try:  # YAML, except for str fields (name=123 is the name "123") and empty values
            value = text if tp is str or not text.strip() else yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        _set_dotted(tree, key, value)
    return config_from_dict(type(config), tree)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] | None = None) -> TrainConfig:
    """Read a YAML config (keys absent from the file keep their defaults) and apply overrides.

    Args:
        path: a YAML file (``configs/quick.yaml``), or a bare name looked up in ``configs/``
            (``"quick"``), or None for the defaults (the paper's settings).
        overrides: ``key=value`` strings, see :func:`apply_overrides`.
    """
    data: dict[str, Any] = {}
    if path is not None:
        file = resolve_config_path(path)
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ValueError(f"{file}{where}: not valid YAML ({problem}); fix the file "
                             "(see configs/quick.yaml for the layout)") from None
        if not isinstance(data, dict):
            raise ValueError(f"{file}: expected a YAML mapping at the top level, got {type(data).__name__}")
    return apply_overrides(config_from_dict(TrainConfig, data), overrides)


def resolve_config_path(path: str | Path) -> Path:
    """``path`` itself if it exists, else ``configs/<path>[.yaml]`` at the repository root."""
    file = Path(path).expanduser()
    if file.is_file():
        return file
    for candidate in (REPO_ROOT / "configs" / file, REPO_ROOT / "configs" / f"{file}.yaml"):
        if candidate.is_file():
            return candidate
    available = sorted(p.stem for p in (REPO_ROOT / "configs").glob("*.yaml"))
    raise FileNotFoundError(f"config {str(path)!r} not found (nor in configs/: {available})")


def save_config(config: TrainConfig, path: str | Path) -> Path:
    """Write the complete config as YAML (atomically); :func:`load_config` reads it back."""
    text = "# decomr training config (complete; `decomr train --config <this file>` reruns it)\n"
    text += yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None)
    atomic_write_bytes(Path(path), text.encode())
    return Path(path)


def describe_config(cls: type = TrainConfig, prefix: str = "") -> str:
    """One line per key: ``key: type = default  # comment`` (the field comments from the source)."""
    try:
        source = inspect.getsource(getattr(cls, "full_config", cls))  # a section's comments are its full config's
    except (OSError, TypeError):
        source = ""
    comments = dict(re.findall(r"^ *(\w+):[^#\n]*#\s*(.*?)\s*$", source, re.M))  # name: type = default  # comment
    lines = []
    default = cls()
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            lines.append(describe_config(tp, prefix + f.name + "."))
            continue
        value = config_to_dict(getattr(default, f.name))
        note = f"  # {comments[f.name]}" if f.name in comments else ""
        lines.append(f"{prefix}{f.name}: {_type_name(tp)} = {value!r}{note}")
    return "\n".join(lines)
