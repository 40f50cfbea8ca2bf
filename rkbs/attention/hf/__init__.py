"""HuggingFace ``transformers`` heads as binary kernel machines (optional extra ``rkbs[hf]``).

``transformers`` is imported on demand, when a function that needs it runs:
``import rkbs`` and ``import rkbs.attention.hf`` never import it.
"""

from rkbs.attention.hf.extract import (
    AttentionLayout,
    HFHead,
    architecture_layout,
    check_exactness,
    extract_heads,
    generic_layout,
    recompute_weights,
)
from rkbs.attention.hf.tiny import TINY_ARCHS, tiny_model

__all__ = [
    "TINY_ARCHS",
    "tiny_model",
    "AttentionLayout",
    "HFHead",
    "architecture_layout",
    "check_exactness",
    "extract_heads",
    "generic_layout",
    "recompute_weights",
]
