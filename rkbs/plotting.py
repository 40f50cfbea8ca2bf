"""Shared plotting constants: one colour-blind-safe palette for every figure.

The Okabe–Ito palette (Okabe & Ito, "Color Universal Design", 2008) without its yellow
(#F0E442), which is unreadable on white paper; black closes the cycle.
"""

from __future__ import annotations

__all__ = ["OKABE_ITO"]

#: blue, vermillion, bluish green, reddish purple, orange, sky blue, black.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
)
