"""Per-vertex body-part groups.

* **Weight-map groups** (supplementary Sec. 3, Eq. 6): torso, neck & head, arms & legs,
  hands & feet, with loss weights 1 : 2 : 5 : 25.
* **LSP parts** (Table 4): the six-part segmentation used on the LSP test set — head, torso,
  left arm, right arm, left leg, right leg — plus background (label 0).
"""
from __future__ import annotations

WEIGHT_GROUP_NAMES: tuple[str, ...] = ("torso", "neck_head", "arms_legs", "hands_feet")
#: λ_t : λ_n&h : λ_a&l : λ_h&f (supplementary Sec. 3).
WEIGHT_GROUP_VALUES: tuple[float, ...] = (1.0, 2.0, 5.0, 25.0)

LSP_PART_NAMES: tuple[str, ...] = (
    "background", "head", "torso", "left_arm", "right_arm", "left_leg", "right_leg",
)
#: ``LSP_PART_FLIP_PERM[label]`` is the label of the same part on the mirrored body.
LSP_PART_FLIP_PERM: tuple[int, ...] = (0, 1, 2, 4, 3, 6, 5)
