"""Generated tasks (rkbs.attention.tasks): number words, recall, reversal, splits, batching."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from rkbs.attention.tasks import (  # noqa: E402
    Vocab,
    encode_batch,
    english_number,
    german_number,
    make_task,
)

# Hand-written German (Duden spelling, written here split at the morphemes).
GERMAN = {
    0: "null", 1: "eins", 2: "zwei", 6: "sechs", 7: "sieben", 11: "elf", 12: "zwölf",
    16: "sechzehn", 17: "siebzehn", 20: "zwanzig", 21: "ein und zwanzig", 30: "dreißig",
    35: "fünf und dreißig", 67: "sieben und sechzig", 99: "neun und neunzig",
    100: "ein hundert", 101: "ein hundert eins", 111: "ein hundert elf",
    304: "drei hundert vier", 571: "fünf hundert ein und siebzig", 1000: "ein tausend",
    1001: "ein tausend eins", 1999: "ein tausend neun hundert neun und neunzig",
    21000: "ein und zwanzig tausend", 7070: "sieben tausend siebzig",
}
ENGLISH = {
    0: "zero", 13: "thirteen", 21: "twenty one", 40: "forty", 100: "one hundred",
    304: "three hundred four", 999: "nine hundred ninety nine", 1000: "one thousand",
    1999: "one thousand nine hundred ninety nine", 7070: "seven thousand seventy",
}


@pytest.mark.parametrize("n,words", sorted(GERMAN.items()))
def test_german_number_words(n, words):
    assert " ".join(german_number(n)) == words


@pytest.mark.parametrize("n,words", sorted(ENGLISH.items()))
def test_english_number_words(n, words):
    assert " ".join(english_number(n)) == words


def test_number_words_reorder():
    # units before tens: a real reordering, not a word-for-word substitution
    assert english_number(21) == ["twenty", "one"]
    assert german_number(21)[0] == "ein" and german_number(21)[-1] == "zwanzig"


def test_number_words_bad_input():
    with pytest.raises(ValueError, match="0 <= n <= 999999"):
        german_number(10**6)


def test_number_words_split_unseen_and_deterministic():
    a = make_task("number-words", seed=3, quick=True)
    b = make_task("number-words", seed=3, quick=True)
    c = make_task("number-words", seed=4, quick=True)
    assert a.splits == b.splits
    assert a.splits["test"] != c.splits["test"]
    srcs = {k: {" ".join(s) for s, _ in v} for k, v in a.splits.items()}
    assert not srcs["train"] & srcs["test"] and not srcs["train"] & srcs["val"]
    assert sum(len(v) for v in srcs.values()) == 1000  # 0..999, each once
    for s, t in a.splits["test"][:50]:
        # the pair is a true translation: rebuild the number from its English words
        n = next(n for n in range(1000) if english_number(n) == s)
        assert t == german_number(n)


def test_recall_targets_are_the_stored_values():
    task = make_task("recall", seed=0, quick=True, n_examples=300)
    for src, tgt in task.splits["train"][:100]:
        assert src[-2] == "?"
        pairs = dict(zip(src[0:-2:2], src[1:-2:2]))
        assert len(pairs) == 4  # distinct keys
        assert tgt == [pairs[src[-1]]]
    all_src = [tuple(s) for v in task.splits.values() for s, _ in v]
    assert len(all_src) == len(set(all_src)) == 300  # test sequences unseen in training


def test_reversal():
    task = make_task("reversal", seed=1, quick=True, n_examples=200)
    for src, tgt in task.splits["test"]:
        assert tgt == src[::-1] and 3 <= len(src) <= 6
    assert task.chance == pytest.approx(1 / 8)


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task 'nope'; valid tasks: number-words"):
        make_task("nope")


def test_vocab_and_batches():
    task = make_task("reversal", seed=0, quick=True, n_examples=100)
    pairs = task.splits["train"][:5]
    src, tgt_in, tgt_out = encode_batch(pairs, task.src_vocab, task.tgt_vocab)
    S = max(len(s) for s, _ in pairs)
    assert src.shape == (5, S) and tgt_in.shape == tgt_out.shape == (5, S + 1)
    assert (tgt_in[:, 0] == Vocab.bos_id).all()
    for r, (s, t) in enumerate(pairs):
        assert task.src_vocab.decode(src[r].tolist()) == s
        assert task.tgt_vocab.decode(tgt_out[r].tolist()) == t
        assert tgt_out[r, len(t)] == Vocab.eos_id
        assert (tgt_in[r, 1:len(t) + 1] == tgt_out[r, :len(t)]).all()  # shifted by one
    assert task.src_vocab.encode(["never-seen"]) == [Vocab.unk_id]
    with pytest.raises(ValueError, match="empty"):
        encode_batch([], task.src_vocab, task.tgt_vocab)
