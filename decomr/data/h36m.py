"""Human3.6M's evaluation subsets, read from the official image names (Sec. 4.1, Tables 2 and 5).

Protocol 1 (P1) and protocol 2 (P2) keep the test subjects S9 and S11 and every 5th frame; P2
keeps the frontal camera only. The official preprocessed files name each frame
``images/S9_Directions_1.54138969_000001.jpg`` (subject, action, camera, 1-based frame), so the
subsets follow from the names alone. :mod:`decomr.eval.protocols` re-exports these names.

>>> frame = parse_h36m_imgname("images/S11_Sitting_Down_2.60457274_000126.jpg")
>>> frame.subject, frame.camera, in_h36m_protocol(frame, 2)
(11, '60457274', True)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

__all__ = ["H36M_TEST_SUBJECTS", "H36M_FRONTAL_CAMERA", "H36M_FRAME_STRIDE", "H36MFrame", "parse_h36m_imgname",
           "in_h36m_protocol", "h36m_protocol_mask", "filter_h36m_imgnames"]

# --------------------------------------------------------------------------------------------
#: Test subjects (Sec. 4.1: S1, S5, S6, S7, S8 train; S9, S11 test).
H36M_TEST_SUBJECTS: tuple[int, ...] = (9, 11)
#: The frontal camera of protocol 2.
H36M_FRONTAL_CAMERA = "60457274"
#: Both protocols keep every 5th frame (frames 1, 6, 11, ... in the 1-based image names).
H36M_FRAME_STRIDE = 5

_H36M_NAME = re.compile(r"(?:^|[/\\])S(\d+)_(.+)\.(\d+)_(\d+)\.(?:jpg|jpeg|png)$", re.IGNORECASE)


@dataclass(frozen=True)
class H36MFrame:
    """What an official H36M image name encodes.

    Attributes:
        subject: e.g. 9 for ``S9``.
        action: e.g. ``"Directions_1"`` (spaces were replaced by underscores).
        camera: e.g. ``"60457274"``.
        frame: 1-based frame number in the video.
    """

    subject: int
    action: str
    camera: str
    frame: int


def parse_h36m_imgname(name: str) -> H36MFrame:
    """Parse ``[images/]S9_Directions_1.54138969_000001.jpg``.

    Raises:
        ValueError: the name does not follow the official pattern.
    """
    m = _H36M_NAME.search(str(name))
    if m is None:
        raise ValueError(
            f"name: expected an official H36M image name like 'images/S9_Directions_1.54138969_000001.jpg', got {name!r}")
    return H36MFrame(int(m.group(1)), m.group(2), m.group(3), int(m.group(4)))


def _protocol(protocol: Union[int, str]) -> int:
    p = {1: 1, 2: 2, "1": 1, "2": 2, "p1": 1, "p2": 2}.get(
        protocol.lower() if isinstance(protocol, str) else protocol)
    if p is None:
        raise ValueError(f"protocol: expected 1, 2, 'p1' or 'p2', got {protocol!r}")
    return p


def in_h36m_protocol(frame: H36MFrame, protocol: Union[int, str]) -> bool:
    """Whether a parsed frame belongs to protocol P1 or P2 (see :func:`h36m_protocol_mask`)."""
    p = _protocol(protocol)
    return (frame.subject in H36M_TEST_SUBJECTS
            and (frame.frame - 1) % H36M_FRAME_STRIDE == 0
            and (p == 1 or frame.camera == H36M_FRONTAL_CAMERA))


def h36m_protocol_mask(imgnames: Sequence[str], protocol: Union[int, str]) -> np.ndarray:
    """Which official H36M image names belong to protocol P1 or P2.

    Both protocols: subjects S9 and S11, frames 1, 6, 11, ... (every 5th). P1: all cameras;
    P2: camera 60457274 only.

    Args:
        imgnames: official image names (with or without the ``images/`` folder).
        protocol: 1 / 2 (or ``"p1"`` / ``"p2"``).

    Returns:
        (N,) bool array.
    """
    p = _protocol(protocol)
    return np.fromiter((in_h36m_protocol(parse_h36m_imgname(n), p) for n in imgnames),
                       dtype=bool, count=len(imgnames))


def filter_h36m_imgnames(imgnames: Sequence[str], protocol: Union[int, str]) -> list[int]:
    """Indices of the image names kept by protocol P1 or P2 (see :func:`h36m_protocol_mask`)."""
    return np.flatnonzero(h36m_protocol_mask(imgnames, protocol)).tolist()
