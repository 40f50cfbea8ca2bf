"""rkbs: reproducing kernel Banach spaces and binary kernel machines, made checkable.

Wright & Gonzalez, "Transformers are Deep Infinite-Dimensional Non-Mercer Binary Kernel
Machines" (arXiv:2106.01506). The public API is re-exported here; the torch-only
attention side lives in :mod:`rkbs.attention` (imported on demand).
"""

from rkbs.approximation import *  # noqa: F403
from rkbs.approximation import __all__ as _approximation_all
from rkbs.diagnostics import *  # noqa: F403
from rkbs.diagnostics import __all__ as _diagnostics_all
from rkbs.features import *  # noqa: F403
from rkbs.features import __all__ as _features_all
from rkbs.kernels import *  # noqa: F403
from rkbs.kernels import __all__ as _kernels_all
from rkbs.machines import *  # noqa: F403
from rkbs.machines import __all__ as _machines_all
from rkbs.plotting import OKABE_ITO
from rkbs.spaces import *  # noqa: F403
from rkbs.spaces import __all__ as _spaces_all
from rkbs.verify import *  # noqa: F403
from rkbs.verify import __all__ as _verify_all

__version__ = "0.1.0"

__all__ = [
    *_kernels_all,
    *_features_all,
    *_spaces_all,
    *_machines_all,
    *_verify_all,
    *_diagnostics_all,
    *_approximation_all,
    "OKABE_ITO",
]
