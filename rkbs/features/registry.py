r"""Attention kernels by name: the one place where a name like ``taylor4`` is parsed.

An *attention kernel* is a binary kernel of :mod:`rkbs.kernels` and/or a feature pair
of :mod:`rkbs.features` at a given head dimension d, both acting on mapped queries and
keys. Names are a family, optionally followed by an integer parameter:

========================  ==================================================  =========
name                      kernel / features                                   D
========================  ==================================================  =========
``edp`` (``softmax``)     :math:`\exp(q\cdot k)`                              ∞
``rbf``                   :math:`\exp(-\lVert q-k\rVert^2/2\sigma^2)`         ∞
``exp_intersection``      :math:`\exp\sum_l\min(q_l, k_l)`                    ∞
``poly<m>`` (``poly``)    :math:`(q\cdot k + 1)^m`, multinomial features      C(d+m, m)
``taylor<N>``             :math:`\sum_{n\le N}(q\cdot k)^n/n!`, Taylor feat.  C(d+N, N)
``prf<D>``                FAVOR+ positive random features of EDP              D
``elu``                   :math:`\varphi(u) = \operatorname{elu}(u) + 1`      d
``dpfp<nu>``              DPFP (Schlag et al. 2021, §4.2)                     2νd
``linear``                :math:`q\cdot k` (parsed, refused as attention)     d
========================  ==================================================  =========

Each family is one :class:`AttentionKernelFamily` in :data:`ATTENTION_KERNELS`; adding
an attention kernel is one kernel class (and optionally one feature-pair class) plus one
:func:`register_attention_kernel` call. :func:`parse_attention_name` validates a name
without building anything (cheap: the command line uses it before any work);
:func:`build_attention_kernel` builds the kernel and features, optionally with the
query/key maps of a trained head (extraction uses that).
:func:`rkbs.attention.kernel_attention.make_attention` is the attention-side wrapper.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rkbs.features.base import FeaturePair
from rkbs.features.dpfp import DPFPFeatures
from rkbs.features.elu import EluFeatures
from rkbs.features.exact import PolynomialFeatures, TaylorFeatures
from rkbs.features.random import PositiveRandomFeatures
from rkbs.kernels.base import BinaryKernel
from rkbs.kernels.registry import KERNELS

__all__ = [
    "ATTENTION_KERNELS",
    "AttentionKernel",
    "AttentionKernelFamily",
    "attention_kernel_names",
    "build_attention_kernel",
    "parse_attention_name",
    "register_attention_kernel",
]

#: What a family's builder returns: the kernel (exact path) and the features (linear
#: path); at least one is not None.
Built = tuple[BinaryKernel | None, FeaturePair | None]


@dataclass(frozen=True)
class AttentionKernelFamily:
    """One family of attention kernels, e.g. ``taylor<N>``.

    Attributes
    ----------
    name : str
        Family name, the prefix of the kernel names (``"taylor"``).
    build : callable
        ``build(kernel, param, *, seed, sigma) -> (BinaryKernel | None, FeaturePair | None)``
        where ``kernel(cls, **params)`` instantiates a kernel class of
        :data:`rkbs.kernels.KERNELS` with the requested maps, scale and head dimension.
    param : str or None
        Name of the integer parameter (``"N"``); None for families without one.
    default : int or None
        Parameter used when the name carries no number (``poly`` means ``poly2``);
        None makes the number required.
    minimum : int
        Smallest valid parameter.
    even : bool
        The parameter must be even for the kernel to be non-negative (attention weights).
    aliases : tuple of str
        Other names of the family.
    path : {"exact", "features"}
        Path ``make_attention(..., path="auto")`` takes when both are available.
    summary : str
        One line for listings (``rkbs train --help``).
    listed : bool
        Shown in :func:`attention_kernel_names` (``linear`` is parsed only so that the
        refusal says why).
    example : int or None
        A typical parameter, for messages and tests (``prf64``).
    """

    name: str
    build: Callable[..., Built]
    param: str | None = None
    default: int | None = None
    minimum: int = 0
    even: bool = False
    aliases: tuple[str, ...] = ()
    path: str = "exact"
    summary: str = ""
    listed: bool = True
    example: int | None = None

    @property
    def pattern(self) -> str:
        """Display pattern, e.g. ``"taylor<N> (N even)"``."""
        if self.param is None:
            return self.name
        return f"{self.name}<{self.param}>" + (f" ({self.param} even)" if self.even else "")


@dataclass(frozen=True)
class AttentionKernel:
    """A parsed (and possibly built) attention kernel name.

    Attributes
    ----------
    name : str
        The name as given.
    family : AttentionKernelFamily
    param : int or None
        The integer parameter (``4`` for ``taylor4``).
    kernel : BinaryKernel or None
        Exact (quadratic) path; None for families without a closed form (``prf<D>``).
    features : FeaturePair or None
        Linear-time path; None for infinite-dimensional kernels.
    """

    name: str
    family: AttentionKernelFamily
    param: int | None
    kernel: BinaryKernel | None = None
    features: FeaturePair | None = field(default=None)

    @property
    def feature_dim(self):
        """D: the features' width, else the kernel's feature dimension (``math.inf``)."""
        if self.features is not None:
            return self.features.n_features
        return self.kernel.feature_dim


_FAMILIES: dict[str, AttentionKernelFamily] = {}
_ALIASES: dict[str, str] = {}
#: Read-only view of the registered families by name.
ATTENTION_KERNELS = MappingProxyType(_FAMILIES)


def register_attention_kernel(family: AttentionKernelFamily) -> AttentionKernelFamily:
    """Add a family to :data:`ATTENTION_KERNELS` (its name and aliases must be new)."""
    if family.path not in ("exact", "features"):
        raise ValueError(f"path must be 'exact' or 'features', got {family.path!r}")
    for key in (family.name, *family.aliases):
        key = _normalize(key)
        if key in _ALIASES:
            raise ValueError(f"attention kernel name {key!r} is already registered "
                             f"(family {_ALIASES[key]!r})")
    for key in (family.name, *family.aliases):
        _ALIASES[_normalize(key)] = family.name
    _FAMILIES[family.name] = family
    return family


def attention_kernel_names() -> list[str]:
    """Names accepted for attention, in registration order (``<N>``: an integer)."""
    out = []
    for fam in _FAMILIES.values():
        if not fam.listed:
            continue
        if fam.param is None or fam.default is not None:  # the bare name is valid
            out.append(fam.name)
        if fam.param is not None:
            out.append(fam.pattern)
        out.extend(a for a in fam.aliases if fam.param is None or fam.default is not None)
    return out


def _normalize(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def _unknown(name) -> ValueError:
    return ValueError(f"unknown attention kernel {name!r}; valid names: "
                      f"{', '.join(attention_kernel_names())}")


def parse_attention_name(name: str, *, attention: bool = True) -> tuple[AttentionKernelFamily,
                                                                         int | None]:
    """Parse a name into its family and parameter, building nothing.

    Parameters
    ----------
    name : str
        E.g. ``"edp"``, ``"taylor4"``, ``"prf_64"``, ``"dpfp2"`` (case and ``-``/``_``
        are ignored).
    attention : bool
        Also refuse parameters that make the kernel take negative values (odd ``poly<m>``
        and ``taylor<N>``), which cannot be attention weights.

    Returns
    -------
    (AttentionKernelFamily, int or None)

    Raises
    ------
    ValueError
        Unknown name (the message lists the valid ones), a missing or invalid number.
    """
    if not isinstance(name, str):
        raise TypeError(f"attention kernel name must be a str, got {type(name).__name__}")
    key = _normalize(name)
    param = None
    if key in _ALIASES:
        fam = _FAMILIES[_ALIASES[key]]
    else:
        m = re.fullmatch(r"([a-z][a-z_+]*?)_?(\d+)", key)
        if not m or m.group(1) not in _ALIASES:
            raise _unknown(name)
        fam = _FAMILIES[_ALIASES[m.group(1)]]
        if fam.param is None:
            raise ValueError(f"attention kernel {fam.name!r} takes no number, got {name!r}; "
                             f"valid names: {', '.join(attention_kernel_names())}")
        param = int(m.group(2))
    if fam.param is not None:
        if param is None:
            if fam.default is None:
                raise ValueError(f"attention kernel {name!r} needs its number: "
                                 f"{fam.pattern}, e.g. {fam.name}{fam.example or max(fam.minimum, 2)}")
            param = fam.default
        if param < fam.minimum:
            raise ValueError(f"attention kernel {name!r}: {fam.param} must be >= {fam.minimum}, "
                             f"got {param}")
        if attention and fam.even and param % 2:
            raise ValueError(f"attention kernel {name!r} cannot serve as attention weights: "
                             f"the {fam.name} kernel of odd degree {param} takes negative "
                             f"values; use an even {fam.param}")
    return fam, param


def build_attention_kernel(name: str, head_dim: int, *, seed=None, sigma: float = 1.0,
                           W_Q=None, W_K=None, scale=None,
                           attention: bool = True) -> AttentionKernel:
    r"""Parse ``name`` and build its kernel and feature pair for head dimension d.

    Parameters
    ----------
    name : str
        See :func:`parse_attention_name`.
    head_dim : int
        Dimension d of the mapped queries and keys.
    seed : int, Generator or None
        Randomness of random features (drawn here, at ``fit(dim=head_dim)``).
    sigma : float
        Bandwidth of ``rbf``.
    W_Q, W_K : array (d, d_in), optional
        Query and key maps; None (identity) for attention, which maps and scales itself.
    scale : None, "attention" or float
        Scaling of the kernel (None for attention: q, k arrive scaled by
        :math:`d^{-1/4}`; ``"attention"`` with the maps of a trained head on raw states).
    attention : bool
        Refuse odd degrees up front (see :func:`parse_attention_name`).

    Returns
    -------
    AttentionKernel
    """
    fam, param = parse_attention_name(name, attention=attention)
    maps = {"W_Q": W_Q, "W_K": W_K, "scale": scale, "dim": head_dim}

    def kernel(cls_or_name, **params):
        cls = KERNELS[cls_or_name] if isinstance(cls_or_name, str) else cls_or_name
        return cls(maps["W_Q"], maps["W_K"], scale=maps["scale"], dim=maps["dim"], **params)

    kern, feats = fam.build(kernel, param, seed=seed, sigma=sigma)
    if kern is None and feats is None:  # pragma: no cover - a registration bug
        raise RuntimeError(f"family {fam.name!r} built neither a kernel nor features")
    return AttentionKernel(name, fam, param, kern, feats)


# ------------------------------------------------------------------ the families
def _kernel_only(kernel_name: str, **fixed: Any):
    def build(kernel, param, *, seed, sigma):
        params = dict(fixed)
        if kernel_name == "rbf":
            params["sigma"] = sigma
        return kernel(kernel_name, **params), None
    return build


def _poly(kernel, m, *, seed, sigma):
    k = kernel("polynomial", degree=m, c=1.0)
    return k, PolynomialFeatures(k)


def _taylor(kernel, N, *, seed, sigma):
    return kernel("taylor_edp", degree=N), TaylorFeatures(kernel("edp"), degree=N)


def _prf(kernel, D, *, seed, sigma):
    edp = kernel("edp")
    pair = PositiveRandomFeatures(edp, D, seed=seed)
    pair.fit(dim=edp.dim)
    return None, pair


def _elu(kernel, param, *, seed, sigma):
    k = kernel("elu")
    return k, EluFeatures(k)


def _dpfp(kernel, nu, *, seed, sigma):
    k = kernel("dpfp", nu=nu)
    return k, DPFPFeatures(k)


register_attention_kernel(AttentionKernelFamily(
    "edp", _kernel_only("edp"), aliases=("softmax",),
    summary="exp(q·k), softmax attention (infinite-dimensional)"))
register_attention_kernel(AttentionKernelFamily(
    "rbf", _kernel_only("rbf"), summary="exp(-|q-k|²/2σ²) (infinite-dimensional)"))
register_attention_kernel(AttentionKernelFamily(
    "exp_intersection", _kernel_only("exp_intersection"), aliases=("intersection",),
    summary="exp(Σ min(q_l, k_l)) (infinite-dimensional)"))
register_attention_kernel(AttentionKernelFamily(
    "poly", _poly, param="m", default=2, even=True, example=2, aliases=("polynomial",),
    summary="(q·k + 1)^m, exact multinomial features, D = C(d+m, m)"))
register_attention_kernel(AttentionKernelFamily(
    "taylor", _taylor, param="N", even=True, example=4,
    summary="Taylor truncation of EDP at degree N, D = C(d+N, N)"))
register_attention_kernel(AttentionKernelFamily(
    "prf", _prf, param="D", minimum=1, example=64, aliases=("favor",), path="features",
    summary="FAVOR+ positive random features of EDP, D features"))
register_attention_kernel(AttentionKernelFamily(
    "elu", _elu, aliases=("elu1", "elu+1", "linear_elu"), path="features",
    summary="elu(u)+1 features (linear attention), D = d"))
register_attention_kernel(AttentionKernelFamily(
    "dpfp", _dpfp, param="nu", minimum=1, example=2, path="features",
    summary="DPFP features (Schlag et al. 2021), D = 2·nu·d"))
register_attention_kernel(AttentionKernelFamily(
    "linear", _kernel_only("linear"), listed=False,
    summary="q·k: takes negative values, refused as attention weights"))
