"""decomr: a teachable, reproducible PyTorch implementation of DecoMR (CVPR 2020).

Subpackages follow the paper:

- :mod:`decomr.body`   body models (Anny by default, SMPL when its files are present)
- :mod:`decomr.uv`     the continuous UV map (Sec. 3.1), its metrics (Table 1) and samplers (Eq. 3)
- :mod:`decomr.render` a pure-PyTorch rasteriser for IUV images, masks and parts
- :mod:`decomr.data`   the synthetic SURREAL-like dataset, augmentation, official dataset loaders
- :mod:`decomr.models` CNet (Sec. 3.2), UV feature transfer (Eq. 5) and LNet (Sec. 3.3)
- :mod:`decomr.losses` Eq. 1-10
- :mod:`decomr.train`  the two-stage trainer
- :mod:`decomr.eval`   MPJPE / PA-MPJPE, surface error, segmentation metrics (Tables 2-5)
- :mod:`decomr.viz`    plots and interactive viewers
"""
__version__ = "0.1.0"


def __getattr__(name: str):
    """Lazy top-level exports (torch is imported only when they are used)."""
    if name in ("Predictor", "Prediction"):
        from decomr import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'decomr' has no attribute {name!r}")
