"""Where decomr keeps generated assets and looks for user-supplied files.

Everything lives under one data folder: ``$DECOMR_DATA`` if set, otherwise ``data/`` at the
repository root (the folder next to the ``decomr`` package). Layout::

    data/
      cache/anny/           Anny's model cache (first build ~30 s, then ~1 s)
      cache/body/           decomr's per-body tables (joint regressors, mirror maps, part labels)
      atlases/              UV atlases (continuous, default) as small .npz files
      body_models/smpl/     SMPL_NEUTRAL.pkl, SMPL_MALE.pkl, SMPL_FEMALE.pkl (licence-gated, user-supplied)
      datasets/<name>/      official datasets (licence-gated, user-supplied)
      checkpoints/          trained models
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

REPO_ROOT = Path(__file__).resolve().parent.parent


def repo_relative(path: str | Path) -> str:
    """``path`` relative to the repository root when it lies inside it (for reports that are
    committed), else as given."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def data_dir() -> Path:
    """The root data folder (``$DECOMR_DATA`` or ``<repo>/data``); created on demand."""
    root = Path(os.environ.get("DECOMR_DATA", REPO_ROOT / "data")).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def sub_dir(*parts: str) -> Path:
    """A sub-folder of :func:`data_dir`, created on demand."""
    path = data_dir().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(name: str) -> Path:
    """``data/cache/<name>``: generated, reproducible files that are safe to delete."""
    return sub_dir("cache", name)


def figures_dir() -> Path:
    """``figures/`` at the repository root (``$DECOMR_FIGURES`` overrides it)."""
    path = Path(os.environ.get("DECOMR_FIGURES", REPO_ROOT / "figures")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """Open ``path`` for binary writing so that it appears whole or not at all.

    Writes go to ``.<name>.tmp<pid>`` in the same folder, which is fsynced and renamed over
    ``path`` when the ``with`` block ends; on an error it is removed and ``path`` is untouched.
    (Temporaries of killed processes are cleaned by :func:`remove_stale_temporaries`.)

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.bin"
    >>> with atomic_writer(p) as fh:
    ...     _ = fh.write(b"hello")
    >>> p.read_bytes()
    b'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically (:func:`atomic_writer`)."""
    with atomic_writer(path) as fh:
        fh.write(payload)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete ``.<name>.tmp<pid>`` files of the atomic writers whose process is gone.

    A process killed while writing a checkpoint leaves its temporary file behind (the final file
    is untouched: the rename never happened). Temporaries of live processes are kept.

    Returns:
        The files removed.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.glob(".*.tmp*"):
        match = re.fullmatch(r"\..+\.tmp(\d+)", path.name)
        if match and path.is_file() and not _pid_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
