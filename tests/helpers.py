"""Assertion helpers shared by the tests."""
from __future__ import annotations

import numpy as np
import torch


def assert_close(actual, expected, atol: float = 1e-6, rtol: float = 0.0, msg: str = "") -> None:
    """Assert two arrays agree; on failure report the max difference and where it is."""
    a = actual.detach().cpu().double().numpy() if torch.is_tensor(actual) else np.asarray(actual, dtype=np.float64)
    b = expected.detach().cpu().double().numpy() if torch.is_tensor(expected) else np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, f"{msg} shape mismatch: {a.shape} vs {b.shape}"
    diff = np.abs(a - b)
    tol = atol + rtol * np.abs(b)
    if not np.all(diff <= tol) or np.isnan(a).any() != np.isnan(b).any():
        idx = np.unravel_index(np.nanargmax(diff - tol), diff.shape) if diff.size else ()
        raise AssertionError(
            f"{msg} max |diff| = {np.nanmax(diff):.3e} at index {idx} "
            f"(actual {a[idx]:.6g}, expected {b[idx]:.6g}, atol={atol}, rtol={rtol})"
        )
