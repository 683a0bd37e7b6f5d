"""Tests for decomr.viz.train_plots: loss curves from logged rows, IUV colours, prediction panels."""
from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest
import torch

from decomr.models import DecoMROutput
from decomr.viz.train_plots import iuv_rgb, load_history, plot_learning_curve, plot_loss_curves, prediction_panel

matplotlib.use("Agg")


def _rows():
    rows = [{"step": s, "kind": "train", "stage": 1 if s <= 20 else 2, "total": 1.0 / s, "mask": 0.1, "uv": 0.2,
             "location_map": 0.0 if s <= 20 else 0.3} for s in range(10, 60, 10)]
    rows += [{"step": 20, "kind": "eval", "mask_iou": 0.3}, {"step": 50, "kind": "eval", "pve": 300.0, "mask_iou": 0.5}]
    return rows


def test_learning_curve_plots_images_seen_beside_the_template():
    rows = _rows() + [{"step": 10, "kind": "eval", "stage": 1, "mask_iou": 0.2},
                      {"step": 60, "kind": "eval", "stage": 2, "pa_mpjpe": 90.0, "mpjpe": 150.0, "mask_iou": 0.8}]
    fig = plot_learning_curve(rows, batch_size=32, template={"pa_mpjpe": 168.0, "mpjpe": 360.0},
                              constant={"pa_mpjpe": 250.0})
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == ["PA-MPJPE (mm)", "MPJPE (mm)", "foreground IoU"]  # facing_error was not logged
    pa = fig.axes[0]
    curve = next(line for line in pa.get_lines() if line.get_label() == "DecoMR (validation)")
    assert list(curve.get_xdata()) == [60 * 32 / 1000] and list(curve.get_ydata()) == [90.0]
    flat = {line.get_label(): line.get_ydata()[0] for line in pa.get_lines() if line.get_label() != "DecoMR (validation)"
            and not line.get_label().startswith("_")}
    assert flat == {"template body": 168.0, "best constant (orientation average)": 250.0}
    iou = next(line for line in fig.axes[2].get_lines() if line.get_label() == "DecoMR (validation)")
    assert list(iou.get_ydata()) == [0.2, 0.3, 0.5, 0.8]  # sorted by step
    with pytest.raises(ValueError, match="no evaluation"):
        plot_learning_curve([r for r in rows if r["kind"] == "train"], batch_size=32)


def test_loss_curves_from_rows_or_a_run_folder(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    assert load_history(tmp_path) == _rows()
    fig = plot_loss_curves(tmp_path)
    assert len(fig.axes) == 3
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "total (Eq. 1)" in labels and "location_map" in labels and "tv" not in labels
    assert [line.get_label() for line in fig.axes[1].get_lines() if line.get_label() == "pve"] == ["pve"]
    with pytest.raises(FileNotFoundError):
        load_history(tmp_path / "missing")


def test_iuv_colours_and_prediction_panel(anny_body):
    iuv = torch.zeros(3, 4, 4)
    iuv[:, 1, 1] = torch.tensor([1.0, 0.25, 0.75])
    rgb = iuv_rgb(iuv)
    assert rgb.shape == (4, 4, 3) and np.allclose(rgb[1, 1], [0.25, 0.75, 0.4]) and rgb[0, 0].sum() == 0
    with pytest.raises(ValueError, match="iuv"):
        iuv_rgb(torch.zeros(2, 4, 4))
    v = anny_body.template[None] * torch.tensor([1.0, -1.0, -1.0])  # upright, facing the camera
    out = DecoMROutput(mask_logits=torch.ones(1, 1, 8, 8), uv=torch.rand(1, 2, 8, 8), local_features=torch.zeros(1),
                       global_features=torch.zeros(1), camera=torch.tensor([[0.9, 0.0, 0.0]]), vertices=v)
    batch = {"image": torch.rand(1, 3, 32, 32), "iuv": torch.rand(1, 3, 8, 8)}
    panel = prediction_panel(batch, out, faces=anny_body.faces)
    assert panel.shape == (32, 4 * 32, 3) and 0 <= panel.min() and panel.max() <= 1
    assert prediction_panel(batch, out).shape == (32, 3 * 32, 3)  # no faces: no mesh tile
