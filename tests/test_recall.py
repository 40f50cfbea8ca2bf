"""Recall tasks (rkbs.attention.recall): Schlag et al. retrieval and Zoology MQAR."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rkbs.attention.model import RetrievalConfig, build_retrieval_model
from rkbs.attention.recall import (
    IGNORE,
    ZOOLOGY_PRESET,
    MQARConfig,
    make_mqar,
    mqar_splits,
    retrieval_batch,
    retrieval_eval_set,
    retrieval_loss,
    run_retrieval_cell,
)


def test_retrieval_batch_answers_and_unique_keys():
    (keys, values, query), target = retrieval_batch(np.random.default_rng(0), 30, 16)
    assert keys.shape == values.shape == (16, 30)
    for i in range(16):
        assert sorted(keys[i].tolist()) == list(range(30))  # N unique keys
        assert sorted(values[i].tolist()) == list(range(30))
        j = keys[i].tolist().index(int(query[i]))  # brute force: where the query sits
        assert int(target[i]) == int(values[i, j])


def test_retrieval_eval_set_queries_every_key():
    keys, values, queries, targets = retrieval_eval_set(np.random.default_rng(1), 9, 3)
    for i in range(3):
        assert sorted(queries[i].tolist()) == list(range(9))
        lookup = dict(zip(keys[i].tolist(), values[i].tolist()))
        assert targets[i].tolist() == [lookup[q] for q in queries[i].tolist()]


def test_retrieval_model_reads_the_simplex_and_loss_by_hand():
    m = build_retrieval_model(RetrievalConfig(n_keys=7, d_key=8), seed=0)
    (k, v, q), y = retrieval_batch(np.random.default_rng(2), 7, 5)
    out = m(k, v, q)
    assert out.shape == (5, 7)
    # softmax weights times one-hot values: a probability vector per row (round-off)
    torch.testing.assert_close(out.sum(-1), torch.ones(5), rtol=0, atol=1e-6)
    ref = 0.5 * sum(((torch.eye(7)[y[i]] - out[i]) ** 2).sum() for i in range(5)) / 5
    torch.testing.assert_close(retrieval_loss(out, y), ref, rtol=1e-6, atol=0)
    # multi-query evaluation form equals one query at a time (same memory)
    qs = torch.stack([q, q.flip(0)], dim=1)  # (5, 2)
    both = m(k, v, qs)
    torch.testing.assert_close(both[:, 0], out, rtol=1e-6, atol=1e-7)


def test_softmax_solves_small_retrieval():
    r = run_retrieval_cell("edp", 10, [0, 1], max_steps=600)
    assert r["feature_dim"] == "inf" and all(r["solved"])
    assert all(x <= 1e-3 for x in r["eval_loss"])


# ------------------------------------------------------------------------ MQAR
def test_mqar_answers_are_right_and_keys_unique():
    cfg = MQARConfig(vocab_size=64, seq_len=48, num_kv_pairs=6, num_queries=4, n_train=50)
    x, y = make_mqar(cfg, 50, np.random.default_rng(0))
    assert x.shape == y.shape == (50, 48)
    for i in range(50):
        ks, vs = x[i, 0:12:2].tolist(), x[i, 1:12:2].tolist()
        assert len(set(ks)) == 6 and len(set(vs)) == 6  # unique keys and values
        assert all(1 <= k < 32 for k in ks) and all(32 <= v < 64 for v in vs)
        pos = (y[i] != IGNORE).nonzero().flatten().tolist()
        assert len(pos) == 4 and all(p >= 12 for p in pos)
        for p in pos:  # the label is the value stored under the key at p
            assert int(y[i, p]) == vs[ks.index(int(x[i, p]))]


def test_mqar_negative_control_wrong_answers_detected():
    cfg = MQARConfig(vocab_size=64, seq_len=32, num_kv_pairs=4, n_train=10)
    x, y = make_mqar(cfg, 10, np.random.default_rng(3))
    y_bad = y.clone()
    p = int((y[0] != IGNORE).nonzero()[0])
    y_bad[0, p] = (y_bad[0, p] - 32 + 1) % 32 + 32  # another value
    ks, vs = x[0, 0:8:2].tolist(), x[0, 1:8:2].tolist()
    assert int(y_bad[0, p]) != vs[ks.index(int(x[0, p]))]


def test_mqar_splits_are_disjoint_and_seeded():
    cfg = MQARConfig(vocab_size=16, seq_len=16, num_kv_pairs=2, n_train=300, n_val=100,
                     n_test=100, random_non_queries=False)
    sp = mqar_splits(cfg, seed=4)
    rows = {name: {r.tobytes() for r in sp[name][0].numpy()} for name in sp}
    assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"]
    assert not rows["val"] & rows["test"]
    assert len(sp["test"][0]) < 100  # tiny vocabulary: duplicates of train were dropped
    again = mqar_splits(cfg, seed=4)
    assert torch.equal(again["test"][0], sp["test"][0])
    assert not torch.equal(mqar_splits(cfg, seed=5)["train"][0], sp["train"][0])


def test_zoology_preset_and_bad_configs():
    assert (ZOOLOGY_PRESET.vocab_size, ZOOLOGY_PRESET.seq_len, ZOOLOGY_PRESET.num_kv_pairs,
            ZOOLOGY_PRESET.power_a, ZOOLOGY_PRESET.n_train, ZOOLOGY_PRESET.n_test) == (
        8192, 64, 8, 0.01, 100_000, 3_000)
    with pytest.raises(ValueError, match="num_kv_pairs=20"):
        MQARConfig(seq_len=64, num_kv_pairs=20)
    with pytest.raises(ValueError, match="seq_len must be an even"):
        MQARConfig(seq_len=63)
    with pytest.raises(ValueError, match="num_queries"):
        MQARConfig(num_kv_pairs=4, num_queries=5)
