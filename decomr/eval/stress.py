"""Where does the model fail? One factor of the synthetic data swept at a time (stress cards).

Only a generator can change one thing and keep everything else: :func:`stress_sweep` takes the
parameters of N synthetic test samples (people, clothes, backgrounds, cameras), overrides a single
factor with each of a list of values, renders the N images again and evaluates the model *and*
the template body on them. The same N people appear at every value, so the curve shows the
factor's effect and not a change of sample.

=============  ====================================================================================
factor         what is swept (everything else as drawn for the test sample)
=============  ====================================================================================
``yaw``        rotation about the body's vertical axis, degrees (0 = facing the camera, ±180 = back)
``elevation``  lean towards / away from the camera (camera elevation), degrees; yaw drawn uniformly
``pose``       the sampled pose scaled towards the rest pose (0 = rest pose, 1 = as drawn)
``occlusion``  one square occluder near the person's centre, half side in crop units (0 = none)
``height``     Anny's height phenotype (0-1; the measured standing height is reported)
``weight``     Anny's weight phenotype (0-1; the BMI computed from the mesh volume is reported)
``age``        Anny's age phenotype (0-1): children at the low end, which training never shows
=============  ====================================================================================

Example::

    result = stress_sweep("data/checkpoints/decomr_anny_cpu.pt", "yaw", num_samples=64)
    fig = plot_sweep(result)                     # decomr.viz.train_plots
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from decomr.data.synthetic import SyntheticBatchGenerator, upright_orientation
from decomr.paths import atomic_write_bytes
from decomr.train.checkpoint import load_model
from decomr.train.errors import batch_errors, template_errors
from decomr.train.loop import _float_output

__all__ = ["SWEEP_FACTORS", "SweepResult", "stress_sweep", "sweep_values", "write_sweep"]

_PHENOTYPES = ("height", "weight", "age")
#: factor -> (default values, x-axis label).
SWEEP_FACTORS: dict[str, tuple[tuple[float, ...], str]] = {
    "yaw": (tuple(float(v) for v in range(-180, 181, 30)), "yaw (degrees; 0 = facing the camera)"),
    "elevation": ((-40.0, -30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0, 40.0), "camera elevation (degrees)"),
    "pose": ((0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5), "pose scale (0 = rest pose, 1 = as sampled)"),
    "occlusion": ((0.0, 0.1, 0.2, 0.3, 0.4, 0.5), "occluder half side (crop units; the crop spans 2)"),
    **{f: ((0.0, 0.2, 0.4, 0.6, 0.8, 1.0), f"Anny {f} phenotype") for f in _PHENOTYPES},
}
_METRICS = ("mpjpe", "pa_mpjpe", "pve", "facing_error")
_BODY_DENSITY = 985.0  # kg / m^3, for the BMI of a mesh


@dataclass
class SweepResult:
    """One stress card.

    Attributes:
        factor: one of :data:`SWEEP_FACTORS`.
        values: the swept values.
        label: x-axis label.
        num_samples: test people rendered at every value.
        model: metric -> mean over the samples, one per value (mm; degrees for ``facing_error``).
        template: the template body's errors on the same images.
        spread: metric -> standard error of the model's mean, one per value.
        measured: optional per-value measurement of the bodies (e.g. standing height in metres).
        measured_label: what ``measured`` is.
        checkpoint: the file evaluated.
    """

    factor: str
    values: list[float]
    label: str
    num_samples: int
    model: dict[str, list[float]]
    template: dict[str, list[float]]
    spread: dict[str, list[float]] = field(default_factory=dict)
    measured: list[float] = field(default_factory=list)
    measured_label: str = ""
    checkpoint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def worst(self, metric: str = "pa_mpjpe") -> tuple[float, float]:
        """(value, error) where the model's ``metric`` is largest."""
        i = max(range(len(self.values)), key=lambda k: self.model[metric][k])
        return self.values[i], self.model[metric][i]


def sweep_values(factor: str) -> tuple[float, ...]:
    """The default values of ``factor``.

    Raises:
        ValueError: unknown factor (the message lists them).
    """
    if factor not in SWEEP_FACTORS:
        raise ValueError(f"factor: expected one of {tuple(SWEEP_FACTORS)}, got {factor!r}")
    return SWEEP_FACTORS[factor][0]


def _override(params: Any, factor: str, value: float, body: Any, generator: torch.Generator) -> Any:
    """``params`` with one factor set to ``value`` for every sample."""
    n = len(params)
    if factor in ("yaw", "elevation"):
        if factor == "yaw":
            yaw, pitch = torch.full((n,), math.radians(value)), torch.zeros(n)
        else:
            yaw = (2 * torch.rand(n, generator=generator) - 1) * math.pi
            pitch = torch.full((n,), math.radians(value))
        go = upright_orientation(yaw.double(), pitch.double(), torch.zeros(n, dtype=torch.float64)).float()
        return dataclasses.replace(params, global_orient=go)
    if factor == "pose":
        return dataclasses.replace(params, pose=params.pose * value)
    if factor == "occlusion":
        boxes = params.occluders.boxes.clone()  # (B, M, 5)
        boxes[..., 4] = 0.0
        if value > 0:
            centre = 0.6 * (torch.rand(n, 2, generator=generator) - 0.5)  # near the middle of the crop
            boxes[:, 0] = torch.cat([centre, torch.full((n, 2), float(value)), torch.ones(n, 1)], dim=1)
        return dataclasses.replace(params, occluders=dataclasses.replace(params.occluders, boxes=boxes))
    if factor in _PHENOTYPES:
        labels = tuple(getattr(body, "phenotype_labels", ()))
        if factor not in labels:
            raise ValueError(f"factor {factor!r}: the body model {getattr(body, 'name', '?')!r} has no such shape "
                             f"parameter (it has {labels or 'none'}); sweep it with Anny")
        shape = params.shape.clone()
        shape[:, labels.index(factor)] = float(value)
        return dataclasses.replace(params, shape=shape)
    raise ValueError(f"factor: expected one of {tuple(SWEEP_FACTORS)}, got {factor!r}")


def _measure(factor: str, body: Any, params: Any) -> float | None:
    """Mean standing height (m) or BMI of the bodies at this value (phenotype sweeps only)."""
    if factor not in _PHENOTYPES:
        return None
    with torch.no_grad():
        v = body(shape=params.shape).vertices  # (B, V, 3) rest pose
    height = v[..., 1].amax(1) - v[..., 1].amin(1)  # (B,)
    if factor != "weight":
        return float(height.mean())
    f = body.faces
    a, b, c = v[:, f[:, 0]], v[:, f[:, 1]], v[:, f[:, 2]]
    volume = (a * torch.cross(b, c, dim=-1)).sum(-1).sum(-1).abs() / 6  # (B,) m^3 (closed mesh)
    return float((volume * _BODY_DENSITY / height ** 2).mean())


def stress_sweep(checkpoint: str | Path, factor: str, values: Sequence[float] | None = None, num_samples: int = 64,
                 batch_size: int = 16, device: str = "cpu", seed: int = 0, progress: bool = False) -> SweepResult:
    """Evaluate ``checkpoint`` with one factor of the synthetic test images swept.

    Args:
        checkpoint: a release, training checkpoint or run folder (synthetic-trained).
        factor: one of :data:`SWEEP_FACTORS`.
        values: the values (default :func:`sweep_values`).
        num_samples: test people rendered at every value (the first of the test split).
        batch_size: render / forward batch size.
        device: torch device.
        seed: seeds the draws a factor needs (the yaw of the elevation sweep, occluder positions).
        progress: a tqdm bar over the values.

    Returns:
        :class:`SweepResult`.

    Raises:
        ValueError: unknown factor, empty values, a checkpoint trained on official data.
    """
    values = tuple(float(v) for v in (sweep_values(factor) if values is None else values))
    if not values:
        raise ValueError("values: expected at least one value")
    if num_samples < 1:
        raise ValueError(f"num_samples: expected >= 1, got {num_samples}")
    loaded = load_model(checkpoint, device=device)
    if loaded.config.data.source != "synthetic":
        raise ValueError(f"{checkpoint}: trained on {loaded.config.data.source!r} data; stress sweeps render the "
                         "synthetic test images the model was trained for (a synthetic-trained checkpoint)")
    syn = loaded.config.synthetic  # the complete SyntheticConfig (image sizes from the model)
    syn = dataclasses.replace(syn, test_size=max(num_samples, syn.test_size))  # sample i is test image i
    gen = SyntheticBatchGenerator(syn, device=device, body=loaded.body, atlases={loaded.atlas.name: loaded.atlas})
    model = loaded.model.eval()
    base = gen.params("test", range(num_samples))
    label = SWEEP_FACTORS[factor][1]
    rows: dict[str, dict[str, list[float]]] = {r: {k: [] for k in _METRICS} for r in ("model", "template", "spread")}
    measured: list[float] = []
    for value in tqdm(values, disable=not progress, desc=f"sweep {factor}"):
        g = torch.Generator().manual_seed(seed)  # the same draws at every value
        params = _override(base, factor, value, gen.body_cpu, g)
        m = _measure(factor, gen.body_cpu, params)
        if m is not None:
            measured.append(m)
        errs = []  # per batch: (the model's errors, the template body's)
        for start in range(0, num_samples, batch_size):
            batch = gen.render(params.select(list(range(start, min(start + batch_size, num_samples)))))
            with torch.no_grad():
                out = _float_output(model(batch.image))
            errs.append((batch_errors(out, batch), template_errors(loaded.body, batch)))
        for k in _METRICS:
            x, t = (torch.cat([e[j][k].float().cpu() for e in errs]) for j in (0, 1))  # (num_samples,) each
            rows["model"][k].append(float(x.mean()))
            rows["spread"][k].append(float(x.std() / math.sqrt(len(x))) if len(x) > 1 else 0.0)
            rows["template"][k].append(float(t.mean()))
    measured_label = {"height": "standing height (m)", "weight": "BMI (kg/m², from the mesh volume)",
                      "age": "standing height (m)"}.get(factor, "")
    return SweepResult(factor=factor, values=list(values), label=label, num_samples=num_samples, **rows,
                       measured=measured, measured_label=measured_label, checkpoint=str(loaded.path))


def write_sweep(result: SweepResult, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/sweep_<factor>.json`` atomically; returns the path."""
    path = Path(out_dir) / f"sweep_{result.factor}.json"
    atomic_write_bytes(path, (json.dumps(result.to_dict(), indent=2) + "\n").encode())
    return path
