r"""Per-head analysis of a HuggingFace model as binary kernel machines, in one call.

For each selected (layer, head), on S windows of L tokens (no padding):

1. **Mercer report** of the head's kernel :math:`\kappa(\tilde x, \tilde y)` (EDP on
   augmented states, or the rotary kernel on (state, position) rows) on the distinct
   states of the windows: asymmetry :math:`\lVert K-K^\top\rVert_F/\lVert K\rVert_F`,
   negative mass of the symmetric part, and the numerical rank as the number of states
   grows (:func:`rkbs.diagnostics.mercer_report`, :func:`rkbs.diagnostics.rank_growth`).
2. **Pair-operator fits** of the head's maps from its states alone, with the row-softmax
   loss over the pairs the model lets attend (causal mask) and the Frobenius regularizer,

   .. math:: \min_A \sum_s\sum_i \Bigl(-\sum_{j\in N(i)} P^{(s)}_{ij} h_A(\tilde x_i,
             \tilde y_j) + \log\sum_{j\in N(i)} e^{h_A(\tilde x_i, \tilde y_j)}\Bigr)
             + \lambda\lVert A\rVert_F^2,

   in several feature spaces (linear on :math:`\tilde x` — the head's own function class
   for non-rotary heads —, Taylor-N truncations of EDP, positive random features of EDP,
   the exact EDP pair, and for rotary heads the head's own rotary kernel), trained on the
   first windows and scored on the others: held-out :math:`\mathrm{KL}(P\Vert\hat P)` per
   row and top-1 agreement (:func:`rkbs.attention.compare.score_maps`).
3. **Recovered operator**: the linear fit's :math:`A^\star` against the head's
   :math:`c\,\tilde W_Q^\top\tilde W_K` (cosine on the identifiable part,
   :func:`rkbs.attention.compare.operator_alignment`).

:func:`analyze_model` returns a JSON-ready report; :func:`plot_heatmaps` draws layers ×
heads heatmaps per figure of merit and :func:`plot_head_detail` one head in detail.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from rkbs.attention.hf._deps import require_transformers
from rkbs.attention.hf.extract import (
    HFHead,
    architecture_layout,
    check_exactness,
    extract_heads,
)

__all__ = [
    "AnalysisConfig",
    "analyze_heads",
    "analyze_model",
    "load_model",
    "pack_windows",
    "plot_head_detail",
    "plot_heatmaps",
    "write_report",
]


def AnalysisConfig(quick: bool = False, **overrides) -> dict:
    """Default analysis settings (quick: seconds per head on a CPU), with overrides.

    Keys: ``seq_len`` (L), ``n_seq`` (windows), ``n_train`` (training windows),
    ``taylor`` (degrees), ``prf`` (feature counts), ``exact_edp``, ``lam``, ``tol``,
    ``mercer_points`` (distinct states for the Mercer report), ``rank_ns``, ``seed``,
    ``dense_max`` (largest number of training scores for the dense dual solve; above it
    the matrix-free, row-block preconditioned solver, ``solver="gmres"``).
    """
    cfg = ({"seq_len": 12, "n_seq": 8, "n_train": 5, "taylor": (2,), "prf": (32,),
            "exact_edp": True, "lam": 1e-3, "tol": 1e-8, "mercer_points": 48,
            "rank_ns": (8, 16, 32, 48), "seed": 0, "dense_max": 4096}
           if quick else
           {"seq_len": 32, "n_seq": 24, "n_train": 16, "taylor": (1, 2, 4), "prf": (64, 256),
            "exact_edp": True, "lam": 1e-3, "tol": 1e-8, "mercer_points": 256,
            "rank_ns": (16, 32, 64, 128, 256), "seed": 0, "dense_max": 4096})
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"unknown analysis settings {sorted(unknown)}; valid: {sorted(cfg)}")
    cfg.update(overrides)
    if not 0 < cfg["n_train"] < cfg["n_seq"]:
        raise ValueError(f"need 0 < n_train < n_seq, got n_train={cfg['n_train']}, "
                         f"n_seq={cfg['n_seq']}")
    return cfg


# ----------------------------------------------------------------------- inputs
def load_model(name: str, *, device: str = "cpu"):
    """Load a model (and its tokenizer, if any) from a local directory or the hub cache.

    Uses ``AutoModel`` with eager attention. ``HF_HUB_OFFLINE=1`` (or ``TRANSFORMERS_OFFLINE``)
    restricts loading to local files.

    Returns
    -------
    model, tokenizer (None when the checkpoint has none)

    Raises
    ------
    FileNotFoundError
        Naming the local path and the hub cache that were searched.
    """
    tr = require_transformers()
    offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
                  for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    local = Path(name).expanduser()
    kw = {"local_files_only": True} if offline or local.is_dir() else {}
    try:
        model = tr.AutoModel.from_pretrained(str(local) if local.is_dir() else name,
                                             attn_implementation="eager", **kw)
    except (OSError, ValueError) as exc:
        try:
            from huggingface_hub.constants import HF_HUB_CACHE as cache
        except ImportError:  # pragma: no cover
            cache = "the HuggingFace hub cache"
        raise FileNotFoundError(
            f"model {name!r} not found: looked for a local directory {str(local.resolve())!r} "
            f"and for a hub checkpoint {name!r} in {cache}"
            f"{' (offline mode: HF_HUB_OFFLINE is set, no download tried)' if offline else ''}"
            f": {exc}") from exc
    try:
        tok = tr.AutoTokenizer.from_pretrained(str(local) if local.is_dir() else name, **kw)
    except (OSError, ValueError, TypeError):
        tok = None
    return model.to(device).eval(), tok


def pack_windows(ids_list, seq_len: int, n_seq: int) -> np.ndarray:
    """Concatenate token-id sequences and cut ``n_seq`` windows of ``seq_len`` tokens.

    Raises
    ------
    ValueError
        When the texts hold fewer than ``seq_len * n_seq`` tokens.
    """
    flat = np.concatenate([np.asarray(s, dtype=np.int64).reshape(-1) for s in ids_list])
    need = seq_len * n_seq
    if flat.size < need:
        raise ValueError(f"the texts hold {flat.size} tokens but {n_seq} windows of {seq_len} "
                         f"need {need}: give more text or lower n_seq/seq_len")
    return flat[:need].reshape(n_seq, seq_len)


def _read_texts(path, tokenizer, ids_mode: bool):
    lines = [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines()
             if ln.strip()]
    if not lines:
        raise ValueError(f"{path} holds no text lines")
    if ids_mode:
        try:
            return [[int(t) for t in ln.split()] for ln in lines]
        except ValueError as exc:
            raise ValueError(f"--ids: every line of {path} must be whitespace-separated "
                             f"integers: {exc}") from exc
    if tokenizer is None:
        raise ValueError("the model has no tokenizer: pass token ids (--ids) instead of text")
    return [tokenizer(ln, add_special_tokens=False)["input_ids"] for ln in lines]


# --------------------------------------------------------------------- per head
def _distinct(Z: np.ndarray, n_max: int) -> np.ndarray:
    """The first ``n_max`` distinct rows of Z (n, p), in order of appearance."""
    _, idx = np.unique(np.round(Z, 12), axis=0, return_index=True)
    return Z[np.sort(idx)][:n_max]


def _spaces(rec: HFHead, dim: int, cfg: dict) -> dict:
    from rkbs.attention.compare import comparison_features

    sp = comparison_features(dim, taylor_degrees=cfg["taylor"], prf_dims=cfg["prf"],
                             poly_degree=None, implicit_taylor=True,
                             exact_edp=cfg["exact_edp"], seed=cfg["seed"])
    if rec.rotary is not None:
        sp["head_kernel"] = rec.kernel()
    return sp


def _fit(space, X, Y, P, mask, cfg: dict, device: str = "cpu"):
    """Fit one space; primal for small explicit features, dual (dense or CG) otherwise."""
    import warnings

    from rkbs.features import FeaturePair
    from rkbs.machines import DualPairOperatorMachine, PairOperatorMachine

    n_scores = int(np.prod(P.shape))
    explicit = isinstance(space, FeaturePair)
    with warnings.catch_warnings():
        # a fit that misses tol is kept and reported (status and residual in the report)
        warnings.filterwarnings("ignore", ".*PairOperatorMachine", RuntimeWarning)
        if explicit and space.n_features ** 2 <= n_scores:
            m = PairOperatorMachine(space, loss="softmax", regularizer="frobenius",
                                    lam=cfg["lam"], solver="torch", tol=cfg["tol"],
                                    device=device, on_failure="warn")
            solver = "primal"
        else:
            solver = "dual" if n_scores <= cfg["dense_max"] else "gmres"
            m = DualPairOperatorMachine(space, loss="softmax", lam=cfg["lam"], tol=cfg["tol"],
                                        device=device, on_failure="warn",
                                        solver="dense" if solver == "dual" else "gmres")
        m.fit(X, Y, P, mask)
    return m, solver


def _n_feat(space):
    from rkbs.features import FeaturePair

    if isinstance(space, FeaturePair):
        return int(space.n_features)
    fd = space.feature_dim
    return "inf" if fd == math.inf else int(fd)


def analyze_heads(records: list[HFHead], cfg: dict, *, progress: bool = False,
                  device: str = "cpu") -> list[dict]:
    """Mercer report, fits and operator alignment for each head record (see module doc).

    ``device``: torch device of the pair-operator solves (e.g. ``"cuda"``)."""
    from tqdm.auto import tqdm

    from rkbs.attention.compare import operator_alignment, score_maps
    from rkbs.diagnostics import mercer_report, rank_growth
    from rkbs.machines import masked_row_softmax

    out = []
    ntr = cfg["n_train"]
    for rec in tqdm(records, desc="heads", unit="head", disable=not progress):
        t0 = time.perf_counter()
        X, Y = rec.points("query"), rec.points("key")            # (S, L, D+1[+1])
        P, M = rec.weights, rec.allowed()                          # (S, L, L)
        kern = rec.kernel()
        # ---- Mercer report over distinct (state[, position]) points
        Z = _distinct(X.reshape(-1, X.shape[-1]), cfg["mercer_points"])
        rep = mercer_report(kern, Z)
        ns = [n for n in cfg["rank_ns"] if n <= Z.shape[0]] or [Z.shape[0]]
        rg = rank_growth(kern, Z, ns=ns)
        row = {"layer": rec.layer, "head": rec.head, "kv_head": rec.kv_head,
               "rotary": rec.rotary is not None, "affine": rec.affine,
               "mercer": {"n_points": int(Z.shape[0]), "asymmetry": rep.asymmetry,
                          "negative_mass": rep.negative_mass,
                          "negative_mass_roundoff": rep.negative_mass_roundoff,
                          "n_negative": rep.n_negative, "rank": rep.rank,
                          "condition_number": rep.condition_number},
               "rank_growth": {"ns": [int(n) for n in rg.ns],
                               "ranks": [int(r) for r in rg.ranks]},
               "fits": {}}
        # ---- fits: generic spaces see (x, 1); the rotary head kernel sees (x, 1, p)
        Xs, Ys = (X[..., :-1], Y[..., :-1]) if rec.rotary is not None else (X, Y)
        for label, space in _spaces(rec, Xs.shape[-1], cfg).items():
            Xi, Yi = (X, Y) if label == "head_kernel" else (Xs, Ys)
            m, solver = _fit(space, Xi[:ntr], Yi[:ntr], P[:ntr], M[:ntr], cfg, device)
            H = m.decision_function(Xi[ntr:], Yi[ntr:])
            P_hat = masked_row_softmax(H, M[ntr:])
            sc = score_maps(P[ntr:], P_hat)
            row["fits"][label] = {"kl": sc["kl"], "top1": sc["top1"],
                                  "n_features": _n_feat(space), "solver": solver,
                                  "status": m.status_, "residual": float(m.residual_),
                                  "seconds": float(m.solve_seconds_), "lam": cfg["lam"]}
            if label == "linear":
                A = m.operator() if hasattr(m, "operator") else m.A_
                Wq, Wk = rec.augmented_maps()
                # B = c W̃_Qᵀ W̃_K written as W_Qᵀ W_K/√d, which operator_alignment expects
                f = math.sqrt(rec.scaling) * rec.head_dim ** 0.25
                al = operator_alignment(A, f * Wq, f * Wk, Xs[:ntr], Ys[:ntr])
                row["alignment"] = {"cosine": al["cosine"], "cosine_raw": al["cosine_raw"],
                                    "rank_A": al["rank_A"], "head_dim": al["head_dim"],
                                    "sv_A": [float(v) for v in al["sv_A"]],
                                    "sv_B": [float(v) for v in al["sv_B"]]}
        row["seconds"] = time.perf_counter() - t0
        out.append(row)
    return out


# ------------------------------------------------------------------- one call
def analyze_model(model, input_ids=None, *, texts=None, tokenizer=None, layers=None,
                  heads=None, quick: bool = False, device: str | None = None,
                  out_dir=None, detail=(), progress: bool = False, name: str | None = None,
                  **settings) -> dict:
    """Analyse every selected head of ``model`` (see the module docstring) in one call.

    Parameters
    ----------
    model : transformers PreTrainedModel, or str (local directory / hub name, see
        :func:`load_model`)
    input_ids : int array (S, L) or list of id sequences, optional
        Token ids; lists are packed into windows (:func:`pack_windows`).
    texts : list of str, optional
        Tokenized with ``tokenizer`` (or the model's) when no ids are given.
    layers, heads : sequences of int, optional
    quick : bool
        Small settings (:func:`AnalysisConfig`); ``settings`` override single keys.
    device : str, optional
        torch device of the model's forward pass and of the fits.
    out_dir : path, optional
        Write ``report.json``, ``heatmaps.png`` and ``head_L<l>_H<h>.png`` for each
        (layer, head) in ``detail``.
    progress : bool
        tqdm bar over heads.

    Returns
    -------
    dict
        ``model``, ``arch``, ``config``, ``exactness`` (:func:`check_exactness` summary),
        ``heads`` (one dict per head), ``files``.
    """
    cfg = AnalysisConfig(quick, **settings)
    if isinstance(model, str | os.PathLike):
        name = name or str(model)
        model, tok = load_model(str(model), device=device or "cpu")
        tokenizer = tokenizer or tok
    name = name or type(model).__name__
    if input_ids is None:
        if texts is None:
            raise ValueError("give input_ids or texts")
        if tokenizer is None:
            raise ValueError("texts need a tokenizer (the model has none): pass input_ids")
        input_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    arr = input_ids if isinstance(input_ids, np.ndarray) else None
    if arr is None or arr.ndim != 2 or arr.shape != (cfg["n_seq"], cfg["seq_len"]):
        seqs = list(arr) if arr is not None else list(input_ids)
        arr = pack_windows(seqs, cfg["seq_len"], cfg["n_seq"])
    t0 = time.perf_counter()
    recs = extract_heads(model, arr, layers=layers, heads=heads, device=device)
    exact = check_exactness(recs)
    rows = analyze_heads(recs, cfg, progress=progress, device=device or "cpu")
    lay = architecture_layout(model) if recs and recs[0].arch != "generic" else None
    report = {
        "model": name, "arch": recs[0].arch,
        "n_layers": lay.n_layers if lay else None, "n_heads": lay.n_heads if lay else None,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "windows": [int(s) for s in arr.shape],
        "exactness": {k: exact[k] for k in ("max_abs_err", "tol", "passed", "controls_fail")},
        "heads": rows, "seconds": None, "files": [],
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        report["files"] += plot_heatmaps(report, out)
        for lh in detail:
            rec = next((r for r in recs if (r.layer, r.head) == tuple(lh)), None)
            if rec is None:
                raise ValueError(f"detail head {tuple(lh)} is not among the analysed heads")
            report["files"] += plot_head_detail(rec, report, out, cfg)
    report["seconds"] = time.perf_counter() - t0
    if out_dir is not None:
        report["files"].append(write_report(report, Path(out_dir) / "report.json"))
    return report


def write_report(report: dict, path) -> str:
    """Write the report as JSON (numpy scalars converted; inf as a string)."""
    def conv(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(type(o).__name__)

    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return str(o)
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        return o

    with open(path, "w", encoding="utf-8") as fh:
        json.dump(clean(report), fh, indent=1, default=conv)
    return str(path)


# ---------------------------------------------------------------------- figures
def _metrics(report: dict) -> dict:
    """Figure-of-merit name -> function(head row) -> float."""
    spaces = list(report["heads"][0]["fits"]) if report["heads"] else []
    out = {"asymmetry": lambda r: r["mercer"]["asymmetry"],
           "negative mass": lambda r: r["mercer"]["negative_mass"],
           "rank / #states": lambda r: r["mercer"]["rank"] / r["mercer"]["n_points"]}
    for s in spaces:
        out[f"log10 KL, {s}"] = (lambda r, s=s: math.log10(max(r["fits"][s]["kl"], 1e-16)))
    for s in spaces:
        out[f"top-1, {s}"] = lambda r, s=s: r["fits"][s]["top1"]
    out["cos(A*, W_QᵀW_K)"] = lambda r: r.get("alignment", {}).get("cosine", float("nan"))
    return out


def heatmap_grid(report: dict) -> tuple[list[int], list[int], dict]:
    """(layers, heads, {metric: (n_layers, n_heads) array, NaN where not analysed})."""
    layers = sorted({r["layer"] for r in report["heads"]})
    heads = sorted({r["head"] for r in report["heads"]})
    grids = {}
    for name, f in _metrics(report).items():
        G = np.full((len(layers), len(heads)), np.nan)
        for r in report["heads"]:
            G[layers.index(r["layer"]), heads.index(r["head"])] = f(r)
        grids[name] = G
    return layers, heads, grids


def plot_heatmaps(report: dict, out_dir, formats=("png",)) -> list[str]:
    """One panel per figure of merit: a layers × heads heatmap; writes ``heatmaps.<fmt>``."""
    from matplotlib.figure import Figure

    layers, heads, grids = heatmap_grid(report)
    n = len(grids)
    nc = min(4, n)
    nr = math.ceil(n / nc)
    fig = Figure(figsize=(3.0 * nc, 0.45 * len(layers) * nr + 1.3 * nr), layout="constrained")
    axes = fig.subplots(nr, nc, squeeze=False)
    for ax, (name, G) in zip(axes.flat, grids.items()):
        im = ax.imshow(G, aspect="auto", cmap="viridis")
        ax.set_title(name, fontsize=8)
        ax.set_xticks(range(len(heads)), [str(h) for h in heads], fontsize=7)
        ax.set_yticks(range(len(layers)), [str(v) for v in layers], fontsize=7)
        ax.set_xlabel("head", fontsize=7)
        ax.set_ylabel("layer", fontsize=7)
        fig.colorbar(im, ax=ax, shrink=0.8)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{report['model']}: heads as binary kernel machines", fontsize=9)
    files = []
    for ext in formats:
        p = Path(out_dir) / f"heatmaps.{ext}"
        fig.savefig(p, dpi=150)
        files.append(str(p))
    return files


def plot_head_detail(rec: HFHead, report: dict, out_dir, cfg: dict,
                     formats=("png",)) -> list[str]:
    """Map, rank growth and the spectra of A* and the head operator for one head."""
    from matplotlib.figure import Figure

    row = next(r for r in report["heads"] if (r["layer"], r["head"]) == (rec.layer, rec.head))
    fig = Figure(figsize=(10, 2.8), layout="constrained")
    ax = fig.subplots(1, 3)
    s = cfg["n_train"]
    ax[0].imshow(rec.weights[s], cmap="magma", vmin=0, vmax=1)
    ax[0].set_title(f"layer {rec.layer} head {rec.head}: map (test window)", fontsize=8)
    ax[0].set_xlabel("key")
    ax[0].set_ylabel("query")
    rg = row["rank_growth"]
    ax[1].plot(rg["ns"], rg["ranks"], "o-", label="head kernel")
    ax[1].plot(rg["ns"], rg["ns"], "k:", label="rank = n")
    ax[1].set_xlabel("distinct states n")
    ax[1].set_ylabel("numerical rank")
    ax[1].legend(fontsize=7)
    ax[1].set_title("rank growth", fontsize=8)
    al = row.get("alignment")
    if al:
        ax[2].semilogy(np.maximum(al["sv_B"], 1e-16), "o-", ms=3, label="c W̃_Qᵀ W̃_K")
        ax[2].semilogy(np.maximum(al["sv_A"], 1e-16), "s-", ms=3, label="A* (linear fit)")
        ax[2].set_title(f"operators, cos = {al['cosine']:.3f}", fontsize=8)
        ax[2].legend(fontsize=7)
        ax[2].set_xlabel("index")
    files = []
    for ext in formats:
        p = Path(out_dir) / f"head_L{rec.layer}_H{rec.head}.{ext}"
        fig.savefig(p, dpi=150)
        files.append(str(p))
    return files


def analyze_from_cli(args) -> int:
    """Implementation of ``rkbs analyze-model`` (see :mod:`rkbs.cli`)."""
    import sys

    try:
        model, tok = load_model(args.model, device=args.device)
    except FileNotFoundError as exc:
        print(f"rkbs analyze-model: {exc}", file=sys.stderr)
        return 2
    seqs = _read_texts(args.texts, tok, args.ids)
    settings = {}
    if args.seq_len:
        settings["seq_len"] = args.seq_len
    if args.n_seq:
        settings["n_seq"] = args.n_seq
        settings["n_train"] = max(1, (2 * args.n_seq) // 3)
    detail = [tuple(int(v) for v in s.split(":")) for s in (args.detail or [])]
    rep = analyze_model(model, seqs, layers=args.layers, heads=args.heads, quick=args.quick,
                        device=args.device, out_dir=args.out, detail=detail,
                        progress=not args.no_progress, name=args.model, **settings)
    ex = rep["exactness"]
    print(f"{len(rep['heads'])} heads analysed in {rep['seconds']:.1f}s; exactness "
          f"max |ΔP| = {ex['max_abs_err']:.2e} ({'pass' if ex['passed'] else 'FAIL'})")
    print(f"wrote {', '.join(rep['files'])}")
    return 0 if ex["passed"] else 1
