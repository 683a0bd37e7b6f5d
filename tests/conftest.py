"""Shared test fixtures: the `slow` marker, a device option and one assertion helper.

The test suite never writes tracked files: figures go to a temporary folder (``DECOMR_FIGURES``,
inherited by the notebook kernels too), and the session fails if ``git status`` shows a tracked
file that the suite changed.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
os.environ["DECOMR_FIGURES"] = tempfile.mkdtemp(prefix="decomr-test-figures-")  # not the tracked figures/


def _tracked_changes() -> set[str] | None:
    """``git status --porcelain`` lines of tracked files (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {line for line in out.splitlines() if line.strip()}


_BEFORE = _tracked_changes()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when the tests changed tracked files (they must write to temporary folders)."""
    after = _tracked_changes()
    if _BEFORE is None or after is None:
        return
    changed = sorted(after - _BEFORE)
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "the test suite changed tracked files (tests must write to temporary folders): " + ", ".join(changed)
        if reporter is not None:
            reporter.write_line(f"FAILED git status: {message}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")
    parser.addoption("--device", default="cuda", help="CUDA device of the tests marked `cuda` (they skip without one)")


def pytest_collection_modifyitems(config, items):
    for item in items:  # a test that takes the `device` fixture compares a CUDA run with the CPU
        if "device" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cuda)
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: pass --runslow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def device(request) -> torch.device:
    """The CUDA device of a `cuda` test (``--device``, default ``cuda``); skips without a GPU
    (those tests compare the GPU path with the CPU: on a CPU-only machine there is nothing to compare)."""
    name = request.config.getoption("--device")
    if not name.startswith("cuda"):
        raise pytest.UsageError(f"--device: expected a CUDA device (cuda, cuda:1), got {name!r}")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (on a GPU machine: scripts/gpu_check.sh or pytest -m cuda)")
    return torch.device(name)


@pytest.fixture(scope="session")
def anny_body():
    """The default body model (Anny, full resolution), built once per session and cached under data/."""
    from decomr.body import load

    return load("anny")
