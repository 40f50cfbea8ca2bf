"""Write the API reference pages (``docs/api/*.rst``) from the package's public names.

The reference documents every name in ``rkbs.__all__`` (grouped by the module that
defines it), the on-demand modules ``rkbs.symbolic`` and every ``rkbs.attention``
submodule's ``__all__``. It is generated on every build (``conf.py`` calls :func:`write`),
so a name added to an ``__all__`` appears in the reference without editing the docs.

Run by hand: ``python docs/tools/gen_api.py`` (writes into ``docs/api``).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
API_DIR = DOCS / "api"

#: Modules imported on demand (not re-exported by ``import rkbs``), documented with
#: their own ``__all__``. ``rkbs.attention`` submodules are discovered.
ON_DEMAND = ("rkbs.symbolic",)


def _on_demand_modules() -> list[str]:
    import rkbs.attention

    names = [m.name for m in pkgutil.iter_modules(rkbs.attention.__path__, "rkbs.attention.")
             if not m.name.rsplit(".", 1)[1].startswith("_")]
    return [*ON_DEMAND, *sorted(names)]


def _is_routine_or_class(obj: object) -> bool:
    return isinstance(obj, type) or callable(obj)


def public_names() -> dict[str, list[str]]:
    """Map each documented namespace (``rkbs``, ``rkbs.attention.model``, ...) to its names."""
    import rkbs

    out = {"rkbs": list(rkbs.__all__)}
    for modname in _on_demand_modules():
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n, o in vars(mod).items() if not n.startswith("_")
                     and getattr(o, "__module__", None) == modname]
        out[modname] = list(names)
    return out


def _section(title: str, char: str = "-") -> str:
    return f"{title}\n{char * len(title)}\n\n"


def _autosummary(qualnames: list[str]) -> str:
    body = "".join(f"   {q}\n" for q in qualnames)
    return f".. autosummary::\n   :toctree: generated\n   :nosignatures:\n\n{body}\n"


def _data_block(qualnames: list[str]) -> str:
    # constants (dicts, tuples, mapping proxies) get autodata entries on this page
    return "".join(f".. autodata:: {q}\n   :no-value:\n\n" for q in qualnames)


def render() -> dict[str, str]:
    """The reST text of each API page, keyed by file name."""
    import rkbs

    pages: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    data: dict[str, list[str]] = {}
    names = public_names()
    for name in names["rkbs"]:
        obj = getattr(rkbs, name)
        mod = getattr(obj, "__module__", None) if _is_routine_or_class(obj) else None
        key = ".".join(mod.split(".")[:2]) if isinstance(mod, str) and mod.startswith("rkbs.") \
            else "constants"
        (groups if key != "constants" else data).setdefault(key, []).append(name)
    text = _section("Top-level package ``rkbs``", "=")
    text += (".. currentmodule:: rkbs\n\n"
             "Every name in ``rkbs.__all__``, grouped by the subpackage that defines it. "
             "``import rkbs`` loads neither torch nor cvxpy; the functions that need them "
             "import them on first use.\n\n")
    for key in sorted(groups):
        text += _section(f"From ``{key}``") + _autosummary(groups[key])
    if data:
        text += _section("Constants") + _data_block(data["constants"])
    pages["rkbs.rst"] = text
    # an object is documented once, where it first appears (the top level first); a module
    # that re-exports it links there instead (two descriptions would be a Sphinx warning)
    documented = {id(getattr(rkbs, n)): f"rkbs.{n}" for n in names["rkbs"]}
    for modname, mnames in names.items():
        if modname == "rkbs":
            continue
        mod = importlib.import_module(modname)
        reexports = {n: documented[id(getattr(mod, n))] for n in mnames
                     if id(getattr(mod, n)) in documented}
        own = [n for n in mnames if n not in reexports]
        consts = [n for n in own if not _is_routine_or_class(getattr(mod, n))]
        routines = [n for n in own if n not in consts]
        text = _section(f"``{modname}``", "=")
        text += f".. automodule:: {modname}\n   :no-members:\n\n"
        text += f".. currentmodule:: {modname}\n\n"
        if routines:
            text += _autosummary(routines)
        if consts:
            text += _data_block(consts)
        if reexports:
            text += "Also importable from here (documented where linked):\n\n"
            text += "".join(f"* ``{n}``: :py:obj:`{target}`\n" for n, target in reexports.items())
            text += "\n"
        documented.update({id(getattr(mod, n)): f"{modname}.{n}" for n in own})
        pages[f"{modname}.rst"] = text
    index = _section("API reference", "=")
    index += ("The reference is generated from the package's ``__all__`` lists on every "
              "build. Formulas cited as *theory §N* are on the :doc:`../theory` page.\n\n"
              ".. toctree::\n   :maxdepth: 1\n\n")
    index += "".join(f"   {fname[:-4]}\n" for fname in pages)
    pages["index.rst"] = index
    return pages


def write(api_dir: Path = API_DIR) -> list[Path]:
    """Write the pages, leaving unchanged files untouched (keeps Sphinx's cache valid)."""
    api_dir.mkdir(parents=True, exist_ok=True)
    written = []
    pages = render()
    # autosummary's pages of names no longer listed (renamed, moved) would be orphans
    current = set()
    for text in pages.values():
        mod = re.findall(r"\.\. currentmodule:: (\S+)", text)
        for block in re.findall(r"\.\. autosummary::\n(?:   :.*\n)*\n((?:   \S.*\n)+)", text):
            current |= {f"{mod[0]}.{ln.strip()}" for ln in block.splitlines()}
    for stale in (api_dir / "generated").glob("*.rst"):
        if stale.stem not in current:
            stale.unlink()
    for fname, text in pages.items():
        path = api_dir / fname
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write():
        print(p)
