"""Former name of :mod:`rkbs.machines.newton` (the Newton solver is backend-agnostic).

Kept so that ``from rkbs.machines.torch_solver import torch_solve`` keeps working.
"""

from rkbs.machines.newton import *  # noqa: F401,F403
from rkbs.machines.newton import (  # noqa: F401
    __all__,
    _armijo,
    _dpsi,
    _exponent,
    _from_u,
    _newton_direction,
    _side_curvature,
    _to_u,
)
