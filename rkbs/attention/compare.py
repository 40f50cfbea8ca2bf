r"""Trained attention heads versus binary kernel machines (theory §3–4).

A head's attention map :math:`P_{ij} = \operatorname{softmax}_j(\langle W_Q t_i, W_K
s_j\rangle/\sqrt d)` is the row-softmax of a bilinear form of the states. The
pair-operator machine of :mod:`rkbs.machines`,

.. math::

    \min_A \sum_{s}\sum_i \Big(-\sum_j P^{(s)}_{ij} h_A(t_i, s_j) +
    \log\sum_j e^{h_A(t_i, s_j)}\Big) + \lambda R(A),\qquad
    h_A(t, s) = \Phi_X(t)^\top A\,\Phi_Y(s),

is fitted to those maps from the states alone, with several feature pairs (linear,
exact polynomial, Taylor EDP of growing degree, positive random features of growing D).
With linear features the head itself is :math:`h_A` for :math:`A = W_Q^\top W_K/\sqrt d`
(rank ≤ d); :func:`operator_alignment` compares the learned :math:`A^\star` with it, and
the nuclear norm (the convex relaxation of the rank) should make :math:`A^\star`
low-rank. Held-out scores: KL divergence :math:`\mathrm{KL}(P\,\Vert\,\hat P)` per row,
top-1 agreement of the row argmaxes, and the correlation of row-centred logits.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np

from rkbs._checks import check_random_state
from rkbs.features import FeaturePair, LinearFeatures, build_attention_kernel
from rkbs.kernels import LinearKernel

__all__ = [
    "head_maps",
    "planted_bilinear",
    "comparison_features",
    "fit_head",
    "score_maps",
    "operator_alignment",
    "compare_head",
    "plot_head_comparison",
]


def head_maps(records, kind: str, layer: int, head: int):
    """Stack one head's maps over the sequences of the most common (m, n) shape.

    Parameters
    ----------
    records : list of HeadRecord
        From :func:`rkbs.attention.extract.extract_attention` (possibly several batches).
    kind, layer, head : str, int, int
        Which head.

    Returns
    -------
    X : ndarray (S, m, D), Y : ndarray (S, n, D), P : ndarray (S, m, n), logits : (S, m, n)
        Query states, key states, attention maps (padding removed) and the head's own
        bilinear logits; plus the head's ``(W_Q, W_K)``.

    Warns
    -----
    UserWarning
        When sequences of other shapes were dropped (how many, of which shapes).
    """
    seqs, maps = [], None
    for rec in records:
        if (rec.kind, rec.layer, rec.head) != (kind, layer, head):
            continue
        maps = (rec.W_Q, rec.W_K)
        L = rec.logits()
        for b in range(rec.weights.shape[0]):
            t, s, P = rec.sequence(b)
            qm, km = rec.query_mask[b], rec.key_mask[b]
            seqs.append((t, s, P, L[b][np.ix_(qm, km)]))
    if not seqs:
        raise ValueError(f"no records for head ({kind!r}, layer {layer}, head {head})")
    counts = Counter(P.shape for _, _, P, _ in seqs)
    shape = counts.most_common(1)[0][0]
    keep = [q for q in seqs if q[2].shape == shape]
    if len(keep) < len(seqs):
        others = ", ".join(f"{c} of shape {sh}" for sh, c in counts.most_common() if sh != shape)
        warnings.warn(
            f"head_maps kept {len(keep)} of {len(seqs)} sequences, those whose map has the most "
            f"common (queries, keys) shape {shape}, and dropped {len(seqs) - len(keep)} "
            f"({others}): the maps are stacked into one array, so they must share a shape; "
            "pass batches of one length to keep every sequence",
            UserWarning, stacklevel=2)
    X, Y, P, H = (np.stack([q[i] for q in keep]) for i in range(4))
    return X, Y, P, H, maps


def planted_bilinear(n_seq: int = 40, m: int = 8, n: int = 8, dim: int = 6, head_dim: int = 2,
                     *, scale: float = 2.0, seed=None):
    r"""Synthetic attention maps of a planted head: :math:`P = \operatorname{softmax}(X A Y^\top)`.

    :math:`A = W_Q^\top W_K/\sqrt{d}` with Gaussian :math:`W_Q, W_K` of shape
    (head_dim, dim) times ``scale``, rank ≤ head_dim; X, Y standard normal states.

    Returns
    -------
    X (n_seq, m, dim), Y (n_seq, n, dim), P (n_seq, m, n), A (dim, dim), W_Q, W_K
    """
    rng = check_random_state(seed)
    W_Q = rng.normal(size=(head_dim, dim)) * scale / np.sqrt(dim)
    W_K = rng.normal(size=(head_dim, dim)) * scale / np.sqrt(dim)
    A = W_Q.T @ W_K / np.sqrt(head_dim)
    X = rng.normal(size=(n_seq, m, dim))
    Y = rng.normal(size=(n_seq, n, dim))
    H = X @ A @ np.swapaxes(Y, -1, -2)
    P = np.exp(H - H.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    return X, Y, P, A, W_Q, W_K


def comparison_features(dim: int, *, taylor_degrees=(1, 2), prf_dims=(16, 64, 256),
                        poly_degree: int | None = 2, implicit_taylor: bool = False,
                        exact_edp: bool = False, seed=None) -> dict:
    """Feature pairs (or kernels) on raw states of dimension ``dim``, by label.

    ``linear``: identity features (the head's own function class, h = tᵀ A s).
    ``poly<m>``: exact features of :math:`(u + 1)^m`. ``taylor<N>``: Taylor features of
    :math:`\\exp(t\\cdot s/\\sqrt{dim})` up to degree N, or with ``implicit_taylor`` the
    truncated series as a kernel (:class:`~rkbs.kernels.TruncatedEDPKernel`,
    no features formed: for the dual solver, where degree 4 of 32-dim states would need
    58,905 features a side). ``prf<D>``: positive random features of the same EDP kernel.
    ``edp`` (with ``exact_edp``): the EDP kernel itself, infinite-dimensional, for the
    dual solver. The EDP-based pairs use the attention scale :math:`dim^{-1/4}` per side
    so that :math:`|t\\cdot s|/\\sqrt{dim}` is O(1) on LayerNorm states.
    """
    rng = check_random_state(seed)

    def build(name, **kw):  # the attention registry, on raw states with the attention scale
        return build_attention_kernel(name, dim, scale="attention", attention=False, **kw)

    out = {"linear": LinearFeatures(LinearKernel(scale=None, dim=dim))}
    if poly_degree:
        out[f"poly{poly_degree}"] = build(f"poly{poly_degree}").features
    for N in taylor_degrees:
        taylor = build(f"taylor{N}")
        out[f"taylor{N}"] = taylor.kernel if implicit_taylor else taylor.features
    if exact_edp:
        out["edp"] = build("edp").kernel
    for D in prf_dims:
        out[f"prf{D}"] = build(f"prf{D}", seed=rng).features
    return out


def _auto_solver(features, X, Y, regularizer) -> str:
    """The primal/dual choice (kept name): :func:`rkbs.machines.choose_pair_solver`."""
    from rkbs.machines import choose_pair_solver

    return choose_pair_solver(features, X, Y, regularizer)


def fit_head(features, X, Y, P, *, regularizer: str = "frobenius", lam: float = 1e-3,
             tol: float = 1e-8, max_iter: int | None = 200, solver: str = "primal", **kw):
    """Fit the pair-operator machine with the row-softmax loss to maps P (S, m, n).

    ``solver="auto"`` takes the dual for kernels and for feature pairs with
    :math:`D_x D_y` above the number of scores S·m·n, the primal otherwise (there the
    dual's score kernel is singular and, for badly scaled features such as positive random
    features, its Newton direction loses its accuracy: measured on a trained head,
    D = 16, the dual stalled at residual 3e-5 where the primal converges).

    ``solver="primal"``: :class:`~rkbs.machines.PairOperatorMachine` (torch), any
    regularizer, cost growing with :math:`D_x D_y`. ``solver="dual"``:
    :class:`~rkbs.machines.DualPairOperatorMachine` (Frobenius only), cost growing with the
    number of scores S·m·n, and ``features`` may be a kernel (implicit, even
    infinite-dimensional features). The solver's not-converged warning is caught: the
    fitted machine's ``status_`` and ``residual_`` record it (held-out scores do not need
    a certificate-grade solve).
    """
    import warnings

    from rkbs.machines import make_pair_machine

    kw.setdefault("on_failure", "warn")  # held-out scores need no certificate-grade solve
    mach = make_pair_machine(features, X, Y, loss="softmax", regularizer=regularizer,
                             lam=lam, tol=tol, max_iter=max_iter, solver=solver, **kw)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*PairOperatorMachine", RuntimeWarning)
        return mach.fit(X, Y, P)


def score_maps(P, P_hat, logits=None, logits_hat=None) -> dict:
    r"""Held-out agreement of fitted maps with the head's maps.

    Returns
    -------
    dict
        ``kl``: mean over rows of :math:`\sum_j P_{ij}\log(P_{ij}/\hat P_{ij})`;
        ``top1``: fraction of rows whose argmax agrees; ``logit_corr``: Pearson correlation
        of row-centred logits (when both are given; softmax is invariant to row shifts).
    """
    P, P_hat = np.asarray(P, float), np.asarray(P_hat, float)
    tiny = np.finfo(float).tiny
    kl = np.sum(P * (np.log(np.maximum(P, tiny)) - np.log(np.maximum(P_hat, tiny))), axis=-1)
    out = {"kl": float(kl.mean()),
           "top1": float(np.mean(P.argmax(-1) == P_hat.argmax(-1)))}
    if logits is not None and logits_hat is not None:
        a = logits - logits.mean(-1, keepdims=True)
        b = logits_hat - logits_hat.mean(-1, keepdims=True)
        out["logit_corr"] = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    return out


# Relative singular-value cut for "spanned" directions. Trained states come from float32
# computations (eps 1.2e-7): a direction LayerNorm removes exactly (the mean) survives as
# round-off of relative size ~1e-7 * sqrt(#states) ~ 1e-6 (measured 4e-8 relative); real
# directions sit at 1e-1 and above. 1e-4 separates the two by two decades either side.
_SPAN_RTOL = 1e-4


def _span_projector(Z):
    """Orthogonal projector onto the span of the rows of Z (k, D) (relative cut 1e-4)."""
    U, sv, Vt = np.linalg.svd(Z, full_matrices=False)
    r = int(np.sum(sv > sv[0] * _SPAN_RTOL)) if sv.size else 0
    V = Vt[:r].T
    return V @ V.T


def operator_alignment(A, W_Q, W_K, X=None, Y=None) -> dict:
    r"""Compare a learned operator with the head's :math:`B = W_Q^\top W_K/\sqrt d`.

    Row-softmax maps only see A on its *identifiable part*: query directions spanned by
    the states :math:`t_i`, and key directions spanned by the per-sequence centred keys
    :math:`s_j - \bar s` (adding :math:`w v^\top` with :math:`v^\top s_j` constant along
    a row shifts that row's logits, which the softmax ignores; LayerNorm states are such
    that v exists). With ``X`` (S, m, D) and ``Y`` (S, n, D) given, both operators are
    projected, :math:`\Pi_X A\, \Pi_{Y_c}`, before comparing.

    Returns
    -------
    dict
        ``cosine``: :math:`\langle A, B\rangle_F/(\lVert A\rVert_F\lVert B\rVert_F)` on the
        identifiable part (raw when no data are given); ``cosine_raw``; ``sv_A``, ``sv_B``:
        singular values (descending) of the compared operators; ``rank_A``: number of
        singular values above :math:`10^{-3}\sigma_1`; ``head_dim``: d, the rank bound of B.
    """
    A = np.asarray(A, float)
    d = W_Q.shape[0]
    B = W_Q.T @ W_K / np.sqrt(d)
    cos = lambda U, V: float(np.sum(U * V) / (np.linalg.norm(U) * np.linalg.norm(V)))
    raw = cos(A, B)
    if X is not None and Y is not None:
        X, Y = np.asarray(X, float), np.asarray(Y, float)
        PiX = _span_projector(X.reshape(-1, X.shape[-1]))
        Yc = Y - Y.mean(axis=-2, keepdims=True)
        PiY = _span_projector(Yc.reshape(-1, Y.shape[-1]))
        A, B = PiX @ A @ PiY, PiX @ B @ PiY
    sA, sB = np.linalg.svd(A, compute_uv=False), np.linalg.svd(B, compute_uv=False)
    return {"cosine": cos(A, B), "cosine_raw": raw, "sv_A": sA, "sv_B": sB,
            "rank_A": int(np.sum(sA > 1e-3 * sA[0])), "head_dim": d}


def _n_features(pair):
    import math

    if isinstance(pair, FeaturePair):
        return int(pair.n_features)
    fd = pair.feature_dim
    return "inf" if fd == math.inf else int(fd)


def compare_head(X, Y, P, logits=None, maps=None, *, features: dict, n_train: int | None = None,
                 n_val: int = 0, lam=1e-3, nuclear_lam: float | None = None,
                 solver: str = "primal", tol: float = 1e-8, progress: bool = False):
    """Fit the machine with each feature pair on training sequences, score held-out ones.

    Parameters
    ----------
    X, Y, P : arrays (S, m, D), (S, n, D), (S, m, n)
        From :func:`head_maps` or :func:`planted_bilinear`.
    logits : array (S, m, n), optional
        The head's own logits (for ``logit_corr``).
    maps : (W_Q, W_K), optional
        The head's maps (for the linear-feature alignment).
    features : dict label -> FeaturePair (or BinaryKernel with ``solver="dual"``)
        E.g. from :func:`comparison_features`.
    n_train : int
        Training sequences (the first ones; default two thirds of those before the
        validation block). The last ``S − n_train − n_val`` sequences are the test set.
    n_val : int
        Validation sequences after the training ones; needed when ``lam`` is a sequence.
    lam : float, sequence of float, or dict
        λ, or a grid: each feature pair then keeps the λ with the lowest validation KL; a
        dict gives each feature label its own λ or grid (every label must be present).
    nuclear_lam : float, optional
        Also fit linear features with the nuclear norm at this λ (primal solver).
    solver : {"primal", "dual", "auto"}
        See :func:`fit_head`; the dual solver fits every pair at a cost set by the number
        of training scores rather than by the feature dimension; "auto" picks per pair.

    Returns
    -------
    dict
        ``rows``: list of dicts (label, n_features, lam, val_kl, kl, top1, logit_corr,
        train_kl, seconds, status, residual) scored on the test sequences;
        ``alignment`` (Frobenius) and ``alignment_nuclear`` when ``maps`` is given;
        ``machines``: the fitted machines by label.
    """
    from tqdm.auto import tqdm

    S = X.shape[0]
    if isinstance(lam, dict):
        missing = sorted(set(features) - set(lam))
        if missing:
            raise ValueError(f"lam is a dict but has no entry for {missing}")
        grids = {k: [float(v) for v in np.atleast_1d(lam[k])] for k in features}
    else:
        grids = dict.fromkeys(features, [float(v) for v in np.atleast_1d(lam)])
    if max(len(g) for g in grids.values()) > 1 and n_val < 1:
        raise ValueError("a grid of lam values needs validation sequences: pass n_val >= 1")
    n_train = n_train or max(1, (2 * (S - n_val)) // 3)
    if not 0 < n_train < S - n_val:
        raise ValueError(f"n_train + n_val must leave test sequences: 0 < n_train < S − n_val "
                         f"= {S - n_val}, got n_train={n_train}")
    tr, va, te = slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, S)
    rows, machines, out = [], {}, {}
    for label, pair in tqdm(features.items(), desc="compare", disable=not progress):
        best = None
        for lam_k in grids[label]:
            mach = fit_head(pair, X[tr], Y[tr], P[tr], lam=lam_k, tol=tol, solver=solver)
            val_kl = (score_maps(P[va], mach.predict(X[va], Y[va]))["kl"] if n_val
                      else float("nan"))
            if best is None or val_kl < best[1]:
                best = (mach, val_kl, lam_k)
        mach, val_kl, lam_k = best
        H = mach.decision_function(X[te], Y[te])
        sc = score_maps(P[te], mach.predict(X[te], Y[te]),
                        None if logits is None else logits[te], H)
        rows.append({"label": label, "n_features": _n_features(pair), "lam": lam_k,
                     "val_kl": val_kl, **sc,
                     "train_kl": score_maps(P[tr], mach.predict(X[tr], Y[tr]))["kl"],
                     "seconds": mach.solve_seconds_, "status": mach.status_,
                     "residual": mach.residual_})
        machines[label] = mach
    out["rows"], out["machines"] = rows, machines
    if maps is not None and "linear" in machines:
        lin = machines["linear"]
        A = lin.operator() if hasattr(lin, "operator") else lin.A_
        out["alignment"] = operator_alignment(A, *maps, X[tr], Y[tr])
        if nuclear_lam:
            nuc = fit_head(features["linear"], X[tr], Y[tr], P[tr], regularizer="nuclear",
                           lam=nuclear_lam, tol=1e-6, max_iter=5000)
            machines["linear_nuclear"] = nuc
            out["alignment_nuclear"] = operator_alignment(nuc.A_, *maps, X[tr], Y[tr])
    return out


# the plot helper lives in rkbs.plotting (one home for all drawing); old name kept
from rkbs.plotting import plot_head_comparison  # noqa: E402, F401
