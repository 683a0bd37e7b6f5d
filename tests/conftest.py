"""Shared test fixtures: the `slow` marker, a device option and one assertion helper."""
from __future__ import annotations

import pytest
import torch


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")
    parser.addoption("--device", default="cpu", help="torch device for device tests (cpu or cuda)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: pass --runslow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def device(request) -> torch.device:
    name = request.config.getoption("--device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("CUDA requested but not available")
    return torch.device(name)


@pytest.fixture(scope="session")
def anny_body():
    """The default body model (Anny, full resolution), built once per session and cached under data/."""
    from decomr.body import load

    return load("anny")
