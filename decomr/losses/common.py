"""Small helpers shared by the loss functions: masked means and input checks."""
from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, weights: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Weighted mean ``sum(w * x) / max(sum(w), eps)`` over all elements (0 when every weight is 0).

    Args:
        values: any shape.
        weights: broadcastable to ``values`` (a 0/1 mask or non-negative weights).

    Returns:
        () scalar. Never NaN for finite values: an all-zero mask gives exactly 0 (with a zero
        gradient).

    >>> masked_mean(torch.tensor([1.0, 3.0, 100.0]), torch.tensor([1.0, 1.0, 0.0]))
    tensor(2.)
    >>> masked_mean(torch.tensor([1.0, 3.0]), torch.zeros(2))
    tensor(0.)
    """
    weights = weights.to(values.dtype).expand_as(values)
    # where() rather than a product so that NaN/inf in masked-out entries cannot leak through.
    total = torch.where(weights > 0, values * weights, torch.zeros_like(values)).sum()
    return total / weights.sum().clamp(min=eps)


def sample_weights(valid: torch.Tensor | None, batch: int, device, dtype=torch.float32) -> torch.Tensor:
    """Per-sample 0/1 weights (B,) from an optional (B,) bool/float mask (None = all valid)."""
    if valid is None:
        return torch.ones(batch, device=device, dtype=dtype)
    valid = torch.as_tensor(valid, device=device)
    if valid.shape != (batch,):
        raise ValueError(f"per-sample mask: expected ({batch},), got {tuple(valid.shape)}")
    return valid.to(dtype)


def check_shape(name: str, tensor: torch.Tensor, expected: tuple, dims: str) -> None:
    """Raise ``ValueError`` unless ``tensor.shape`` matches ``expected`` (None = any size)."""
    shape = tuple(tensor.shape)
    ok = len(shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, shape))
    if not ok:
        raise ValueError(f"{name}: expected {dims} {tuple('*' if e is None else e for e in expected)}, got {shape}")
