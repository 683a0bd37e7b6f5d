"""Stress cards: the model's error against one factor of the synthetic data, beside the template.

See :func:`decomr.eval.stress.stress_sweep`.
"""
from __future__ import annotations

from typing import Any, Sequence

__all__ = ["plot_sweep", "plot_sweeps"]

_LABELS = {"pa_mpjpe": "PA-MPJPE (mm)", "mpjpe": "MPJPE (mm)", "pve": "per-vertex error (mm)",
           "facing_error": "facing error (degrees)"}


def _draw(ax: Any, result: Any, metric: str, legend: bool) -> None:
    x, y = result.values, result.model[metric]
    err = result.spread.get(metric, [0.0] * len(y))
    ax.plot(x, y, "o-", color="tab:blue", markersize=3, label="DecoMR")
    ax.fill_between(x, [a - 2 * e for a, e in zip(y, err)], [a + 2 * e for a, e in zip(y, err)],
                    color="tab:blue", alpha=0.15, linewidth=0)
    ax.plot(x, result.template[metric], "--", color="tab:red", linewidth=1.2, label="template body")
    ax.set_xlabel(result.label, fontsize=8)
    ax.set_ylabel(_LABELS.get(metric, metric), fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)
    if result.measured:
        top = ax.secondary_xaxis("top")
        top.set_xticks(x[:: max(1, len(x) // 4)])
        top.set_xticklabels([f"{m:.2f}" if m < 10 else f"{m:.0f}" for m in result.measured[:: max(1, len(x) // 4)]],
                            fontsize=7)
        top.set_xlabel(result.measured_label, fontsize=7)
    if legend:
        ax.legend(fontsize=7)


def plot_sweep(result: Any, metrics: Sequence[str] = ("pa_mpjpe", "mpjpe")):
    """One stress card: each metric against the swept factor (band: ±2 standard errors).

    Args:
        result: a :class:`decomr.eval.stress.SweepResult`.
        metrics: which errors to draw, one panel each.

    Returns:
        matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.0 * len(metrics), 3.3), squeeze=False)
    for k, (ax, metric) in enumerate(zip(axes[0], metrics)):
        _draw(ax, result, metric, legend=k == 0)
    fig.suptitle(f"stress card: {result.factor} ({result.num_samples} test people at every value)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_sweeps(results: Sequence[Any], metric: str = "pa_mpjpe", columns: int = 4):
    """Several stress cards side by side, one metric (the same people in every panel).

    Returns:
        matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("results: expected at least one SweepResult")
    cols = min(columns, len(results))
    rows = (len(results) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.1 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < len(results):
            _draw(ax, results[k], metric, legend=k == 0)
            ax.set_title(results[k].factor, fontsize=9)
        else:
            ax.set_axis_off()
    fig.tight_layout()
    return fig
