"""File output that never loses work: path checks up front, atomic writes, clear reads.

Every command of :mod:`rkbs.cli`, the figure scripts, the benchmarks and the training
loop write through this module, so that

* an output path is validated **before** any computation starts
  (:func:`check_output_file`, :func:`check_output_dir`): a missing parent folder, a
  folder given where a file is expected, or a read-only location is reported at once as
  an :class:`OutputPathError` naming the path;
* a file is either absent, the old version, or the complete new version -- never
  truncated: :func:`atomic_write` writes to a temporary file in the same folder,
  flushes and fsyncs it, then renames it over the target with :func:`os.replace`
  (atomic on POSIX and Windows when source and target are on one file system);
* a file that is corrupt or truncated anyway (written by another tool, a full disk) is
  reported by :func:`read_json` / :func:`load_torch` as a :class:`CorruptFileError`
  that names the file and says what to do, instead of a decoder traceback.

Nothing here imports torch unless a torch file is saved or loaded.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "OutputPathError",
    "CorruptFileError",
    "check_output_file",
    "check_output_dir",
    "atomic_write",
    "write_text",
    "write_bytes",
    "write_json",
    "read_json",
    "save_torch",
    "load_torch",
    "to_jsonable",
]


class OutputPathError(ValueError):
    """An output path cannot be written (missing parent, a folder, not writable)."""


class CorruptFileError(ValueError):
    """A file exists but cannot be read back (truncated, not the expected format)."""


def _nearest_existing(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_file(path, *, what: str = "output file", create_parent: bool = False) -> Path:
    """Check that ``path`` can be written as a file, before any work is done.

    Parameters
    ----------
    path : str or os.PathLike
        The file to be written later.
    what : str
        How the message names the file (e.g. ``"--json file"``).
    create_parent : bool
        Create a missing parent folder instead of refusing it.

    Returns
    -------
    pathlib.Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputPathError
        If ``path`` is an existing folder, its parent folder does not exist (and
        ``create_parent`` is false) or is not a folder, or the parent is not writable.
    """
    if path is None or str(path) == "":
        raise OutputPathError(f"{what}: empty path")
    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputPathError(f"{what} {str(path)!r} is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        if not create_parent:
            raise OutputPathError(f"{what} {str(path)!r}: folder {str(parent)!r} does not exist")
        check_output_dir(parent, what=f"folder of the {what}")
    elif not parent.is_dir():
        raise OutputPathError(f"{what} {str(path)!r}: {str(parent)!r} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {str(path)!r}: folder {str(parent)!r} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise OutputPathError(f"{what} {str(path)!r} exists and is not writable")
    return p


def check_output_dir(path, *, what: str = "output folder", create: bool = True) -> Path:
    """Check that ``path`` is (or can be made) a writable folder; create it by default.

    Raises
    ------
    OutputPathError
        If ``path`` is an existing file, a parent on the way is a file, or the folder
        (or its nearest existing ancestor, when it must be created) is not writable.
    """
    if path is None or str(path) == "":
        raise OutputPathError(f"{what}: empty path")
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"{what} {str(path)!r} exists and is not a folder")
    if not p.exists():
        anc = _nearest_existing(p.absolute())
        if not anc.is_dir():
            raise OutputPathError(f"{what} {str(path)!r}: {str(anc)!r} is a file, not a folder")
        if not os.access(anc, os.W_OK | os.X_OK):
            raise OutputPathError(f"{what} {str(path)!r}: cannot create it, {str(anc)!r} is "
                                  "not writable")
        if create:
            try:
                p.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputPathError(f"{what} {str(path)!r}: cannot create it ({exc.strerror})"
                                      ) from exc
        return p
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what} {str(path)!r} is not writable")
    return p


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", *, encoding: str | None = "utf-8",
                 newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    If the ``with`` block raises (or the process is interrupted), the temporary file is
    removed and ``path`` keeps its previous content. The parent folder is created.

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    mode : {"w", "wb"}
        Text or binary.
    encoding, newline
        As for :func:`open` (text mode only).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        kw = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
        with os.fdopen(fd, mode, **kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def write_text(path, text: str) -> str:
    """Write ``text`` to ``path`` atomically (UTF-8); return the path as a string."""
    with atomic_write(path) as fh:
        fh.write(text)
    return str(path)


def write_bytes(path, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically; return the path as a string."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return str(path)


def to_jsonable(o: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats for :mod:`json`.

    Non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"`` (strict JSON has
    no literal for them); dict keys become strings.
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a core dependency
        np = None
    if np is not None:
        if isinstance(o, np.ndarray):
            return [to_jsonable(x) for x in o.tolist()]
        if isinstance(o, np.generic):
            o = o.item()
    if isinstance(o, dict):
        return {str(k): to_jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [to_jsonable(x) for x in o]
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    return o


def write_json(path, obj: Any, *, indent: int = 2) -> str:
    """Write ``obj`` (see :func:`to_jsonable`) as JSON to ``path`` atomically."""
    text = json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False)
    return write_text(path, text + "\n")


def read_json(path, *, what: str = "file", hint: str = "delete it and rerun") -> Any:
    """Read a JSON file; a truncated or malformed file raises :class:`CorruptFileError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{what} {str(p)!r} is corrupt or truncated ({exc}); {hint}"
                               ) from exc


def save_torch(path, obj: Any) -> str:
    """``torch.save`` to ``path`` atomically (temporary file + :func:`os.replace`)."""
    import torch

    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)
    return str(path)


def load_torch(path, *, what: str = "checkpoint", hint: str = "delete it and rerun",
               check: Callable[[Any], None] | None = None, **kw) -> Any:
    """``torch.load`` (``weights_only=True``, CPU) with a clear error on a damaged file.

    Parameters
    ----------
    check : callable, optional
        Called with the loaded object; it raises ``KeyError``/``TypeError``/``ValueError``
        when an expected entry is missing, which is reported the same way.
    """
    import pickle
    import zipfile

    import torch

    kw.setdefault("map_location", "cpu")
    kw.setdefault("weights_only", True)
    try:
        obj = torch.load(path, **kw)
        if check is not None:
            check(obj)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, KeyError,
            TypeError, ValueError) as exc:
        detail = (str(exc).splitlines() or [""])[0].split(". ")[0][:120]
        raise CorruptFileError(f"{what} {str(path)!r} is corrupt, truncated or not a "
                               f"checkpoint of this program ({type(exc).__name__}: {detail}); "
                               f"{hint}") from exc
    return obj
