"""``decomr info``: versions, device, and which body models, assets and datasets are present.

For each missing licence-gated file it prints the exact file name, the folder it goes in and
where users get it.
"""
from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import dataclass, field

from decomr import paths
from decomr.body.smpl_body import SMPL_FILES, SMPL_HELP, SMPL_UV_FILE, smpl_folder
from decomr.data.official import dataset_status

PACKAGES = ("torch", "torchvision", "numpy", "scipy", "anny", "libigl", "smplx", "trimesh", "matplotlib", "plotly")


@dataclass
class Item:
    """One thing decomr can use: present or not, and how to get it when missing."""

    name: str
    present: bool
    where: str
    how: str = ""
    details: list[str] = field(default_factory=list)


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def body_models() -> list[Item]:
    anny_cache = paths.data_dir() / "cache" / "anny"
    items = [Item("anny (default)", True, str(anny_cache),
                  details=["model cache built" if any(anny_cache.glob("**/*")) else "first load builds the cache (~35 s)"])]
    folder = smpl_folder()
    for gender, fname in SMPL_FILES.items():
        present = (folder / fname).exists() or (folder / fname).with_suffix(".npz").exists()
        items.append(Item(f"smpl {gender}", present, str(folder / fname),
                          how="" if present else SMPL_HELP.format(files=fname, folder=folder)))
    uv = folder / SMPL_UV_FILE
    items.append(Item("smpl default UV", uv.exists(), str(uv),
                      how="" if uv.exists() else f"SMPL's UV template OBJ (from the SMPL downloads), saved as {uv}"))
    return items


def assets() -> list[Item]:
    atlas_dir = paths.data_dir() / "atlases"
    atlases = sorted(p.name for p in atlas_dir.glob("*.npz")) if atlas_dir.exists() else []
    ckpt_dir = paths.data_dir() / "checkpoints"
    ckpts = sorted(p.name for p in ckpt_dir.glob("*.pt")) if ckpt_dir.exists() else []
    return [
        Item("UV atlases", bool(atlases), str(atlas_dir), how="built on first use or by `decomr build-uv`", details=atlases),
        Item("checkpoints", bool(ckpts), str(ckpt_dir), how="train one: `decomr train --config configs/quick.yaml`", details=ckpts),
    ]


def datasets() -> list[Item]:
    return [Item(**s) for s in dataset_status()]


def report() -> str:
    """The full ``decomr info`` text."""
    import torch

    lines = ["decomr " + _version("decomr"), f"python {platform.python_version()} on {platform.platform()}"]
    lines += [f"  {p:12s} {_version(p)}" for p in PACKAGES]
    if torch.cuda.is_available():
        lines.append(f"device: cuda ({torch.cuda.get_device_name(0)}), {torch.cuda.device_count()} GPU(s)")
    else:
        lines.append(f"device: cpu ({torch.get_num_threads()} threads); no CUDA device")
    lines.append(f"data folder: {paths.data_dir()}")
    for title, items in (("body models", body_models()), ("assets", assets()), ("datasets", datasets())):
        lines.append(f"{title}:")
        for it in items:
            mark = "ok     " if it.present else "missing"
            lines.append(f"  [{mark}] {it.name:22s} {it.where}")
            for d in it.details:
                lines.append(f"            {d}")
            if not it.present and it.how:
                lines.append(f"            -> {it.how}")
    return "\n".join(lines)
