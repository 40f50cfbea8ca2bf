"""Resumable sweeps over a grid of cells on any concurrent.futures-style executor.

A *cell* is a dict of JSON-serializable parameters; ``fn(cell) -> dict`` computes its
result. :func:`run_sweep` submits the cells to an executor, and as each one completes
writes ``DIR/cells/<key>.json`` **atomically** (a temporary file in the same folder, then
:func:`os.replace`), so a crash, a Ctrl-C or a lost worker loses at most the cells in
flight; a re-run loads the finished cells and submits only the rest.

The default executor is a Dask ``distributed`` ``LocalCluster`` started in-process
(``n_workers`` worker processes, one thread each); ``scheduler="tcp://HOST:PORT"`` sends
the same cells to an existing Dask cluster instead (for example one that dask-jobqueue
started on SLURM or PBS). Dask re-runs the tasks of a worker that dies on the surviving
workers; the result file of a cell is written once, by this process, when its future
completes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

__all__ = ["cell_key", "write_json_atomic", "load_cells", "run_sweep", "dask_executor",
           "echo_cell"]


def cell_key(cell: dict) -> str:
    """Stable file-name key of a cell: ``k1=v1__k2=v2`` over sorted keys (safe characters).

    Lists become ``a-b-c``; a dict value (nested settings) becomes the first 10 hex digits
    of the SHA-1 of its sorted JSON, so changed settings give a new key (a new cell).
    """
    if not isinstance(cell, dict) or not cell:
        raise TypeError(f"a cell must be a non-empty dict of parameters, got {cell!r}")
    parts = []
    for k in sorted(cell):
        v = cell[k]
        if isinstance(v, dict):  # nested settings: a short content hash keeps names short
            blob = json.dumps(v, sort_keys=True, default=str).encode()
            v = hashlib.sha1(blob).hexdigest()[:10]
        elif isinstance(v, (list, tuple)):
            v = "-".join(str(x) for x in v)
        parts.append(f"{k}={v}")
    return re.sub(r"[^A-Za-z0-9=._+-]", "_", "__".join(parts))


def write_json_atomic(path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temp file in the folder + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_cells(out_dir) -> dict:
    """``{key: record}`` of every finished cell stored under ``out_dir/cells``."""
    folder = Path(out_dir) / "cells"
    out = {}
    if folder.is_dir():
        for f in sorted(folder.glob("*.json")):
            rec = json.loads(f.read_text(encoding="utf-8"))
            out[rec["key"]] = rec
    return out


@contextlib.contextmanager
def dask_executor(n_workers: int = 1, scheduler: str | None = None):
    """A concurrent.futures executor on Dask: a LocalCluster, or the cluster at ``scheduler``.

    Yields ``(executor, client)``; the cluster (when started here) is closed on exit.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        cluster = None
    else:
        if not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive int, got {n_workers!r}")
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=40)
        client = Client(cluster)
    try:
        yield client.get_executor(pure=False), client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(cells: Iterable[dict], fn: Callable[[dict], dict], out_dir, *,
              executor=None, n_workers: int = 1, scheduler: str | None = None,
              should_run: Callable[[dict, dict], bool] | None = None,
              max_in_flight: int | None = None, progress: bool = True,
              desc: str = "cells", on_result: Callable | None = None) -> dict:
    """Compute ``fn(cell)`` for every cell not already stored under ``out_dir``.

    Parameters
    ----------
    cells : iterable of dict
        The grid, in submission order (distinct :func:`cell_key`).
    fn : callable
        ``fn(cell) -> dict`` (picklable: a module-level function).
    out_dir : path
        Results go to ``out_dir/cells/<key>.json`` as ``{"key", "cell", "result",
        "wall_time_s", "finished_at"}``.
    executor : concurrent.futures-style executor, optional
        Anything with ``submit(fn, *args)`` returning ``concurrent.futures.Future``
        objects. Default: :func:`dask_executor` (``n_workers``, ``scheduler``).
    should_run : callable, optional
        ``should_run(cell, done) -> bool``, asked just before a cell is submitted with
        ``done`` the ``{key: record}`` finished so far; False skips the cell (not stored).
        Submission is then lazy (at most ``max_in_flight`` cells in flight).
    max_in_flight : int, optional
        Default ``n_workers`` with ``should_run``, unlimited otherwise.
    on_result : callable, optional
        ``on_result(record)`` after each new cell is stored (hooks, tests).

    Returns
    -------
    dict
        ``{key: record}`` of every finished cell (old and new), in cell order; skipped keys
        under ``"_skipped"`` is not included — see :func:`load_cells` for the store.
    """
    from tqdm.auto import tqdm

    cells = list(cells)
    keys = [cell_key(c) for c in cells]
    if len(set(keys)) != len(keys):
        raise ValueError("cells must be distinct (two cells have the same key)")
    out = Path(out_dir)
    (out / "cells").mkdir(parents=True, exist_ok=True)
    done = {k: r for k, r in load_cells(out).items() if k in set(keys)}
    todo = [(k, c) for k, c in zip(keys, cells) if k not in done]
    if not todo:
        return {k: done[k] for k in keys if k in done}
    if executor is None:
        with dask_executor(n_workers, scheduler) as (ex, _):
            return run_sweep(cells, fn, out_dir, executor=ex, n_workers=n_workers,
                             should_run=should_run, max_in_flight=max_in_flight,
                             progress=progress, desc=desc, on_result=on_result)
    limit = max_in_flight or (n_workers if should_run is not None else len(todo))
    bar = tqdm(total=len(keys), initial=len(done), desc=desc, unit="cell",
               disable=not progress)
    pending, queue = {}, list(todo)
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                k, c = queue.pop(0)
                if should_run is not None and not should_run(c, done):
                    bar.total -= 1
                    bar.refresh()
                    continue
                pending[executor.submit(_timed, fn, c)] = (k, c)
            if not pending:
                break
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                k, c = pending.pop(fut)
                result, seconds = fut.result()
                rec = {"key": k, "cell": c, "result": result, "wall_time_s": seconds,
                       "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                write_json_atomic(out / "cells" / f"{k}.json", rec)
                done[k] = rec
                bar.update()
                if on_result is not None:
                    on_result(rec)
    finally:
        bar.close()
        for fut in pending:
            fut.cancel()
    return {k: done[k] for k in keys if k in done}


def _timed(fn, cell):
    t0 = time.perf_counter()
    res = fn(cell)
    return res, time.perf_counter() - t0


def echo_cell(cell: dict) -> dict:
    """A trivial cell: sleeps ``cell.get("sleep", 0)`` seconds and returns the cell and pid.

    For tests and for checking that a cluster given by ``--scheduler`` runs cells.
    """
    time.sleep(float(cell.get("sleep", 0.0)))
    return {"echo": dict(cell), "pid": os.getpid()}
