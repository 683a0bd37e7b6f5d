"""DecoMR's networks: CNet (Sec. 3.2), UV feature transfer (Eq. 5), LNet (Sec. 3.3) and the full model.

>>> from decomr.models import ModelConfig
>>> ModelConfig().lnet_in_channels     # 259 transferred + 256 global + 3 reference (Sec. 3.3)
518
"""
from decomr.models.cnet import CNet, CNetOutput, find_pretrained_weights
from decomr.models.config import READS, ModelConfig, read_flag, read_name
from decomr.models.decomr import ORACLE_LINKS, DecoMR, DecoMROutput, Oracle
from decomr.models.lnet import LNet
from decomr.models.transfer import pixel_centers, transfer_to_uv, uv_cell_index

__all__ = [
    "ModelConfig",
    "READS",
    "read_name",
    "read_flag",
    "CNet",
    "CNetOutput",
    "LNet",
    "DecoMR",
    "DecoMROutput",
    "Oracle",
    "ORACLE_LINKS",
    "transfer_to_uv",
    "uv_cell_index",
    "pixel_centers",
    "find_pretrained_weights",
]
