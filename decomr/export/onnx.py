"""ONNX export of DecoMR (crops in, mesh out) and an onnxruntime check against PyTorch.

The exported graph is the whole network of Fig. 2 — CNet, the UV transfer (Eq. 5), LNet and the
location map -> mesh sampling (Eq. 3) with the joint regressors — for a batch of crops:

    input  ``images``: (B, 3, S, S) float32 RGB in [0, 1] (ImageNet normalisation is inside)
    outputs ``mask_logits`` (B, 1, h, w), ``uv`` (B, 2, h, w), ``camera`` (B, 3),
            ``location_map`` (B, 3, R, R), ``vertices`` (B, V, 3), ``joints`` (B, 24, 3),
            ``lsp_joints`` (B, 14, 3)

with a dynamic batch B. Cropping (box -> crop) stays outside the graph
(:meth:`decomr.predict.Predictor.crop`). It uses the TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``): the UV transfer is one ``scatter_add`` with static
shapes (``ScatterElements`` with ``reduction="add"``, opset >= 16) and the mesh sampling a
``grid_sample``/gathers (opset >= 16). ``decomr.uv.UVSampler`` uses sparse CSR products in
PyTorch, which ONNX cannot express; while exporting it switches to its dense-gather twin (the
same numbers, tested in ``tests/test_uv_sampler.py``), and :func:`compare_onnx` checks the file
against the PyTorch model.
The model config, body name and conventions are stored in the file's metadata.

Requires the ``deploy`` extra (``onnx``, ``onnxruntime``) only to check or run the file.
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["ONNX_INPUT", "ONNX_OUTPUTS", "MIN_OPSET", "OnnxExport", "ExportWrapper", "export_onnx",
           "onnx_session", "run_onnx", "compare_onnx"]

ONNX_INPUT = "images"
ONNX_OUTPUTS = ("mask_logits", "uv", "camera", "location_map", "vertices", "joints", "lsp_joints")
#: ScatterElements with reduction="add" and GridSample both need opset 16; 17 is the default here.
MIN_OPSET = 16


class ExportWrapper(nn.Module):
    """DecoMR's forward pass returning a tuple in :data:`ONNX_OUTPUTS` order (exporters need tuples).

    ``decomr.uv.UVSampler`` switches from its sparse products to equivalent dense gathers while
    exporting or tracing, so the model exports as it is.

    Args:
        model: the DecoMR model (its weights are shared, not copied).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(images)
        return tuple(getattr(out, name) for name in ONNX_OUTPUTS)


@dataclass(frozen=True)
class OnnxExport:
    """Result of :func:`export_onnx`.

    Attributes:
        path: the ``.onnx`` file.
        opset: ONNX opset version.
        img_size: S, the crop size the graph takes.
        seconds: export time.
        max_abs_diff: per output, max |onnxruntime - PyTorch| on a check batch (empty if not checked).
    """

    path: Path
    opset: int
    img_size: int
    seconds: float
    max_abs_diff: dict[str, float] = field(default_factory=dict)


def _unwrap(model_or_predictor: Any) -> tuple[nn.Module, Any]:
    model = getattr(model_or_predictor, "model", model_or_predictor)
    if hasattr(model, "_orig_mod"):
        model = model._orig_mod
    if not isinstance(model, nn.Module) or not hasattr(model, "config"):
        raise ValueError(f"model: expected a DecoMR model or a Predictor, got {type(model_or_predictor).__name__}")
    return model, getattr(model_or_predictor, "body", None)


def _metadata(model: nn.Module, body: Any) -> dict[str, str]:
    return {
        "producer": "decomr",
        "model_config": json.dumps(model.config.to_dict()),
        "body": str(getattr(body, "name", None) or getattr(model, "body_name", None)),
        "atlas": str(getattr(model, "atlas_name", None)),
        "input": f"{ONNX_INPUT}: (B, 3, {model.config.img_size}, {model.config.img_size}) float32 RGB in [0, 1]",
        "outputs": ", ".join(ONNX_OUTPUTS),
        "frame": "camera frame (OpenCV: x right, y down, z away), metres, pelvis-centred; camera = [s, tx, ty]",
    }


def export_onnx(model_or_predictor: Any, path: str | Path, opset: int = 17, check: bool = True,
                check_batch: int = 2, atol: float | None = None) -> OnnxExport:
    """Export a DecoMR model to ONNX with a dynamic batch.

    Args:
        model_or_predictor: a :class:`~decomr.models.DecoMR` or a :class:`~decomr.predict.Predictor`.
        path: the ``.onnx`` file to write.
        opset: ONNX opset (>= 16).
        check: run the file with onnxruntime (if installed) on random crops of batch
            ``check_batch + 1`` (another size than the trace's) and record the differences.
        check_batch: batch size used to trace.
        atol: if given with ``check``, raise ``AssertionError`` when an output differs by more.

    Returns:
        :class:`OnnxExport`.
    """
    if opset < MIN_OPSET:
        raise ValueError(f"opset: expected >= {MIN_OPSET} (ScatterElements add, GridSample), got {opset}")
    model, body = _unwrap(model_or_predictor)
    device = next(model.parameters()).device
    size = int(model.config.img_size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    wrapper = ExportWrapper(model).eval()  # eval() on the wrapper: the exporter restores the wrapper's mode
    example = torch.rand(check_batch, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            for category in (torch.jit.TracerWarning, DeprecationWarning, FutureWarning):
                warnings.simplefilter("ignore", category)  # TracerWarning: shape checks are constant per export
            torch.onnx.export(
                wrapper, (example,), str(path), dynamo=False, opset_version=opset, do_constant_folding=True,
                input_names=[ONNX_INPUT], output_names=list(ONNX_OUTPUTS),
                dynamic_axes={name: {0: "batch"} for name in (ONNX_INPUT, *ONNX_OUTPUTS)},
            )
    finally:
        model.train(was_training)
    seconds = time.perf_counter() - start
    try:
        import onnx

        proto = onnx.load(str(path))
        for key, value in _metadata(model, body).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(path))
    except ImportError:
        pass
    diffs: dict[str, float] = {}
    if check:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            warnings.warn("onnxruntime is not installed: the ONNX file was not checked (pip install 'decomr[deploy]')",
                          stacklevel=2)
        else:
            images = torch.rand(check_batch + 1, 3, size, size, generator=torch.Generator().manual_seed(1))
            diffs = compare_onnx(model, path, images)
            if atol is not None:
                bad = {k: v for k, v in diffs.items() if not v <= atol}
                if bad:
                    raise AssertionError(f"{path}: onnxruntime differs from PyTorch by more than {atol}: {bad}")
    return OnnxExport(path=path, opset=opset, img_size=size, seconds=seconds, max_abs_diff=diffs)


def onnx_session(path: str | Path, threads: int | None = None, providers: list[str] | None = None):
    """An ``onnxruntime.InferenceSession`` (CPU unless ``providers`` says otherwise).

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (None: onnxruntime's default).
        providers: execution providers, e.g. ``["CUDAExecutionProvider", "CPUExecutionProvider"]``.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"])


def run_onnx(session_or_path: Any, images: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
    """Run an exported model.

    Args:
        session_or_path: an ``InferenceSession`` or a ``.onnx`` path.
        images: (B, 3, S, S) float32 crops in [0, 1].

    Returns:
        dict output name -> array (see :data:`ONNX_OUTPUTS`).
    """
    session = onnx_session(session_or_path) if isinstance(session_or_path, (str, Path)) else session_or_path
    x = images.detach().cpu().float().numpy() if torch.is_tensor(images) else np.asarray(images, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images: expected (B, 3, S, S), got {x.shape}")
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {ONNX_INPUT: x})))


@torch.inference_mode()
def compare_onnx(model_or_predictor: Any, path: str | Path, images: torch.Tensor) -> dict[str, float]:
    """Max |onnxruntime - PyTorch| per output on the given crops (model in eval mode, CPU float32).

    Args:
        model_or_predictor: the model that was exported.
        path: its ``.onnx`` file.
        images: (B, 3, S, S) crops in [0, 1].

    Returns:
        dict output name -> max absolute difference.
    """
    model, _ = _unwrap(model_or_predictor)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        ref = ExportWrapper(model)(images.to(device))  # the model as it runs in PyTorch
    finally:
        model.train(was_training)
    got = run_onnx(path, images)
    return {name: float(np.abs(got[name] - r.float().cpu().numpy()).max()) for name, r in zip(ONNX_OUTPUTS, ref)}
