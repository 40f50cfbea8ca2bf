"""Sequence-to-sequence tasks generated in code (no downloads), with seeded splits.

* ``number-words``: English number words to German number words, 0 … ``max_number``
  (e.g. ``"twenty one" -> "ein und zwanzig"``, ``"three hundred four" -> "drei hundert
  vier"``): a real translation with word reordering (units before tens in German). The
  numbers are split at random (seeded) into train/val/test, so test numbers are unseen.
* ``recall``: associative recall. The source lists key–value pairs and then a query key,
  ``"c 7 a 3 f 1 ? a"``; the target is the value stored under it, ``"3"``
  (content-based lookup).
* ``reversal``: the target is the source reversed (a crisp anti-diagonal alignment).

Every task is a :class:`Task`: word-level :class:`Vocab` objects for both sides and lists
of ``(source words, target words)`` pairs per split, all determined by the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from rkbs._checks import check_int, check_params, check_random_state

__all__ = [
    "PAD", "BOS", "EOS", "UNK", "TASKS",
    "Vocab", "Task", "english_number", "german_number", "make_task", "encode_batch",
]

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
TASKS = ("number-words", "recall", "reversal")


# ------------------------------------------------------------------ vocabulary
class Vocab:
    """Word-level tokenizer: specials ``<pad>=0, <bos>=1, <eos>=2, <unk>=3``, then sorted words."""

    def __init__(self, words):
        self.itos = list(SPECIALS) + sorted(set(words) - set(SPECIALS))
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def encode(self, words) -> list[int]:
        """Words -> ids (unknown words -> ``<unk>``)."""
        return [self.stoi.get(w, self.unk_id) for w in words]

    def decode(self, ids) -> list[str]:
        """Ids -> words, stopping at ``<eos>`` and skipping ``<pad>``/``<bos>``."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            out.append(self.itos[i] if 0 <= i < len(self.itos) else UNK)
        return out


# --------------------------------------------------------------- number words
_EN_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen"]
_EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
            "ninety"]
_DE_ONES = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
            "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn",
            "achtzehn", "neunzehn"]
_DE_TENS = ["", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig",
            "neunzig"]


def _check_number(n: int) -> int:
    n = check_int(n, "n", minimum=0)
    if n > 999_999:
        raise ValueError(f"number words are defined for 0 <= n <= 999999, got {n}")
    return n


def english_number(n: int) -> list[str]:
    """English number words, e.g. ``304 -> ["three", "hundred", "four"]`` (no "and")."""
    n = _check_number(n)
    if n < 20:
        return [_EN_ONES[n]]
    if n < 100:
        return [_EN_TENS[n // 10]] + ([_EN_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_EN_ONES[n // 100], "hundred"] + (english_number(n % 100) if n % 100 else [])
    return english_number(n // 1000) + ["thousand"] + (
        english_number(n % 1000) if n % 1000 else [])


def german_number(n: int) -> list[str]:
    """German number words split at their morphemes, e.g. ``21 -> ["ein", "und", "zwanzig"]``.

    Units precede tens (``ein und zwanzig``), ``eins`` becomes ``ein`` before ``und``,
    ``hundert`` and ``tausend`` (``ein hundert eins`` = 101), teens are single words.
    """
    n = _check_number(n)
    if n < 20:
        return [_DE_ONES[n]]
    if n < 100:
        t, u = divmod(n, 10)
        if u == 0:
            return [_DE_TENS[t]]
        return ["ein" if u == 1 else _DE_ONES[u], "und", _DE_TENS[t]]
    if n < 1000:
        h, r = divmod(n, 100)
        return ["ein" if h == 1 else _DE_ONES[h], "hundert"] + (german_number(r) if r else [])
    th, r = divmod(n, 1000)
    head = german_number(th)
    if head[-1] == "eins":
        head = head[:-1] + ["ein"]
    return head + ["tausend"] + (german_number(r) if r else [])


# ------------------------------------------------------------------------ tasks
@dataclass
class Task:
    """A generated task: vocabularies and ``(source words, target words)`` splits.

    Attributes
    ----------
    name : str
    src_vocab, tgt_vocab : Vocab
    splits : dict
        ``"train"``, ``"val"``, ``"test"`` -> list of ``(list[str], list[str])``.
    max_src_len, max_tgt_len : int
        Longest source / target (in words, without BOS/EOS) over all splits.
    chance : float
        Token accuracy of guessing uniformly among the target words (for "above chance").
    """

    name: str
    src_vocab: Vocab
    tgt_vocab: Vocab
    splits: dict = field(default_factory=dict)

    @property
    def max_src_len(self) -> int:
        return max(len(s) for sp in self.splits.values() for s, _ in sp)

    @property
    def max_tgt_len(self) -> int:
        return max(len(t) for sp in self.splits.values() for _, t in sp)

    @property
    def chance(self) -> float:
        return 1.0 / (len(self.tgt_vocab) - len(SPECIALS))


def _split(items, rng, fractions=(0.7, 0.1, 0.2)):
    idx = rng.permutation(len(items))
    n_tr = int(round(fractions[0] * len(items)))
    n_va = int(round(fractions[1] * len(items)))
    pick = lambda ix: [items[i] for i in ix]
    return {"train": pick(idx[:n_tr]), "val": pick(idx[n_tr:n_tr + n_va]),
            "test": pick(idx[n_tr + n_va:])}


def _number_words(rng, max_number):
    items = [(english_number(n), german_number(n)) for n in range(max_number + 1)]
    return _split(items, rng)


def _unique_samples(rng, n_total, draw):
    seen, items = set(), []
    tries = 0
    while len(items) < n_total:
        tries += 1
        if tries > 50 * n_total:
            raise ValueError(f"cannot draw {n_total} distinct examples: the task is too small")
        src, tgt = draw()
        key = tuple(src)
        if key not in seen:
            seen.add(key)
            items.append((src, tgt))
    return items


def _recall(rng, n_examples, n_pairs, n_keys, n_values):
    keys = [chr(ord("a") + i) for i in range(n_keys)]
    values = [str(i) for i in range(n_values)]

    def draw():
        ks = rng.choice(n_keys, size=n_pairs, replace=False)
        vs = rng.integers(0, n_values, size=n_pairs)
        qi = int(rng.integers(0, n_pairs))
        src = []
        for a, b in zip(ks, vs):
            src += [keys[a], values[b]]
        return src + ["?", keys[ks[qi]]], [values[vs[qi]]]

    return _split(_unique_samples(rng, n_examples, draw), rng)


def _reversal(rng, n_examples, min_len, max_len, n_symbols):
    symbols = [f"s{i}" for i in range(n_symbols)]

    def draw():
        L = int(rng.integers(min_len, max_len + 1))
        src = [symbols[i] for i in rng.integers(0, n_symbols, size=L)]
        return src, src[::-1]

    return _split(_unique_samples(rng, n_examples, draw), rng)


def make_task(name: str, seed=0, *, quick: bool = False, **params) -> Task:
    """Generate a task deterministically from ``seed``.

    Parameters
    ----------
    name : {"number-words", "recall", "reversal"}
    seed : int, Generator or None
        Fixes the split (and, for recall/reversal, the examples).
    quick : bool
        Smaller defaults (for tests).
    **params
        ``number-words``: ``max_number`` (default 1999, quick 999).
        ``recall``: ``n_examples`` (4000, quick 2000), ``n_pairs`` (4), ``n_keys`` (12),
        ``n_values`` (10). ``reversal``: ``n_examples`` (4000, quick 2000), ``min_len`` (3),
        ``max_len`` (8, quick 6), ``n_symbols`` (10, quick 8).
    """
    rng = check_random_state(seed)
    if name == "number-words":
        p = check_params(params, {"max_number": 999 if quick else 1999}, "number-words")
        splits = _number_words(rng, check_int(p["max_number"], "max_number", minimum=10))
    elif name == "recall":
        p = check_params(params, {"n_examples": 2000 if quick else 4000, "n_pairs": 4,
                                  "n_keys": 12, "n_values": 10}, "recall")
        if p["n_pairs"] > p["n_keys"]:
            raise ValueError(f"n_pairs={p['n_pairs']} exceeds n_keys={p['n_keys']}")
        splits = _recall(rng, p["n_examples"], p["n_pairs"], p["n_keys"], p["n_values"])
    elif name == "reversal":
        p = check_params(params, {"n_examples": 2000 if quick else 4000, "min_len": 3,
                                  "max_len": 6 if quick else 8, "n_symbols": 8 if quick else 10},
                         "reversal")
        if p["min_len"] > p["max_len"]:
            raise ValueError(f"min_len={p['min_len']} exceeds max_len={p['max_len']}")
        splits = _reversal(rng, p["n_examples"], p["min_len"], p["max_len"], p["n_symbols"])
    else:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    words_src = {w for sp in splits.values() for s, _ in sp for w in s}
    words_tgt = {w for sp in splits.values() for _, t in sp for w in t}
    return Task(name, Vocab(words_src), Vocab(words_tgt), splits)


def encode_batch(pairs, src_vocab: Vocab, tgt_vocab: Vocab, device="cpu"):
    """Pad a list of ``(source words, target words)`` into id tensors.

    Returns
    -------
    src : LongTensor (B, S_max)
        Source ids, right-padded with ``<pad>``.
    tgt_in : LongTensor (B, T_max + 1)
        ``<bos>`` + target ids (decoder input).
    tgt_out : LongTensor (B, T_max + 1)
        Target ids + ``<eos>`` (what the decoder must predict); padding is ``<pad>``.
    """
    if len(pairs) == 0:
        raise ValueError("encode_batch got an empty list of examples")
    S = max(len(s) for s, _ in pairs)
    T = max(len(t) for _, t in pairs) + 1
    src = np.full((len(pairs), S), Vocab.pad_id, dtype=np.int64)
    tgt_in = np.full((len(pairs), T), Vocab.pad_id, dtype=np.int64)
    tgt_out = np.full((len(pairs), T), Vocab.pad_id, dtype=np.int64)
    for r, (s, t) in enumerate(pairs):
        s_ids, t_ids = src_vocab.encode(s), tgt_vocab.encode(t)
        src[r, :len(s_ids)] = s_ids
        tgt_in[r, :len(t_ids) + 1] = [Vocab.bos_id, *t_ids]
        tgt_out[r, :len(t_ids) + 1] = [*t_ids, Vocab.eos_id]
    as_t = lambda a: torch.as_tensor(a, device=device)
    return as_t(src), as_t(tgt_in), as_t(tgt_out)
