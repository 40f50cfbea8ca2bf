"""On-demand import of the optional ``transformers`` dependency (extra ``rkbs[hf]``)."""

from __future__ import annotations

__all__ = ["require_transformers"]


def require_transformers():
    """Import and return :mod:`transformers`, or raise an ImportError saying how to get it."""
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching sys.modules
        raise ImportError(
            "rkbs.attention.hf needs the HuggingFace `transformers` package: "
            "pip install 'rkbs[hf]' (or pip install 'transformers>=4.45')"
        ) from exc
    return transformers
