"""Determinism across processes on CPU: seeded draws, fits and a short training run.

Two fresh Python processes (different ``PYTHONHASHSEED``, so any dependence on set or
dict iteration order of strings shows up) compute SHA-256 digests of the bytes of

* random feature draws of every estimator (iid and orthogonal projections, Rademacher
  vectors, sketches) and their feature matrices,
* fitted machines (cvxpy/Clarabel and the torch Newton solver; the pair-operator machine),
* a 3-step training run of the small Transformer (weights after the last step),

and the digests must be identical: bit-for-bit, no tolerance. Negative control: a draw
with another seed gives another digest (the hash is sensitive to the data).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import hashlib, json, sys
import numpy as np
import torch

from rkbs import (BinaryKernelMachine, EDPKernel, LinearFeatures, PolynomialKernel,
                  PositiveRandomFeatures, RandomFourierFeatures, RandomMaclaurinFeatures,
                  RBFKernel, TensorSketchFeatures, TrigonometricRandomFeatures)
from rkbs.machines import PairOperatorMachine

seed = int(sys.argv[1])
out = {}

def h(*arrays):
    m = hashlib.sha256()
    for a in arrays:
        a = a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)
        m.update(str(a.dtype).encode() + str(a.shape).encode())
        m.update(np.ascontiguousarray(a).tobytes())
    return m.hexdigest()

rng = np.random.default_rng(seed)
X, Y = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
pairs = {
    "prf": PositiveRandomFeatures(EDPKernel(), 64, seed=seed),
    "prf_orth": PositiveRandomFeatures(EDPKernel(), 64, seed=seed, orthogonal=True),
    "trig": TrigonometricRandomFeatures(EDPKernel(), 64, seed=seed),
    "rff": RandomFourierFeatures(RBFKernel(), 64, seed=seed),
    "maclaurin": RandomMaclaurinFeatures(EDPKernel(), 64, seed=seed),
    "sketch": TensorSketchFeatures(PolynomialKernel(degree=3), 64, seed=seed),
}
for name, pair in pairs.items():
    pair.fit(dim=4)
    params = [v for k, v in sorted(vars(pair).items())
              if k.endswith("_") and isinstance(v, np.ndarray)]
    out["draw " + name] = h(*params, pair.gram(X, Y), pair.transform_x(torch.as_tensor(X)))

Xm, Ym = rng.normal(size=(6, 3)), rng.normal(size=(5, 3))
Z = rng.normal(size=(6, 5))
for solver in ("clarabel", "torch"):
    m = BinaryKernelMachine(LinearFeatures(), p=1.5, lam_x=0.3, lam_y=0.3,
                            solver=solver).fit(Xm, Ym, Z)
    out["fit binary " + solver] = h(m.w_, m.v_)
P = rng.dirichlet(np.ones(5), size=6)
pm = PairOperatorMachine(LinearFeatures(), lam=0.1).fit(Xm, Ym, P)
out["fit pair operator"] = h(pm.A_)

from rkbs.attention.training import TrainConfig, train
res = train(TrainConfig(task="reversal", kernel="prf16", seed=seed, steps=3, quick=True,
                        d_model=16, n_heads=2, d_ff=32, n_enc_layers=1, n_dec_layers=1,
                        eval_max_examples=8, eval_every=3, progress=False,
                        task_params={"n_examples": 200}))
state = res.model.state_dict()
out["train 3 steps"] = h(*[state[k] for k in sorted(state)])
print("DIGESTS " + json.dumps(out, sort_keys=True))
"""


def _digests(seed: int, hashseed: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hashseed,
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(seed)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("DIGESTS ")][-1]
    return json.loads(line[len("DIGESTS "):])


@pytest.mark.slow
def test_bit_identical_across_processes():
    pytest.importorskip("torch")
    a = _digests(0, "1")
    b = _digests(0, "2")
    assert a.keys() == b.keys() and len(a) == 10
    differ = [k for k in a if a[k] != b[k]]
    assert not differ, f"not bit-identical across processes: {differ}"
    # negative control: another seed changes every digest
    c = _digests(1, "1")
    same = [k for k in a if a[k] == c[k]]
    assert not same, f"digest insensitive to the seed: {same}"
