"""F's batches take a bounded set of sizes (issue 18): memory and time stay flat over a long run.

The CPU backend builds and keeps kernels per input shape; before ``forward_chunks`` every flush of the
engine left a different remainder after deduplication, so a 10,000-sample ``--metrics sem,sfd`` run
kept growing (1.29 GB at 1,000 samples, 1.69 GB at 10,000).
"""
import math

import numpy as np
import pytest
import torch

from sem_metric.errors import InputError
from sem_metric.sem.metric import forward_chunks, probabilities_from_inputs
from sem_metric.sem.sfd import classifier_features

from bounds import within


def _sizes(chunks):
    return [c.stop - c.start for c in chunks]


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_chunks_cover_the_rows_in_order_with_few_sizes(batch_size):
    seen = set()
    for n in range(0, 3 * batch_size + 70):
        chunks = forward_chunks(n, batch_size)
        starts = [c.start for c in chunks]
        assert starts == sorted(starts) and sum(_sizes(chunks)) == n
        assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))
        assert all(0 < s <= batch_size for s in _sizes(chunks))
        seen.update(_sizes(chunks))
    # every size ever used is the batch size or a power of two below it
    assert seen <= {batch_size} | {1 << k for k in range(int(math.log2(batch_size)) + 1)}


def test_chunks_hand_computed():
    assert _sizes(forward_chunks(50, 64)) == [32, 16, 2]
    assert _sizes(forward_chunks(130, 64)) == [64, 64, 2]
    assert _sizes(forward_chunks(130, 64, one_remainder=True)) == [64, 64, 2]
    assert _sizes(forward_chunks(63, 64, one_remainder=True)) == [63]
    assert forward_chunks(0, 64) == []
    for bad in (0, -1, 2.0, True):
        with pytest.raises(InputError, match="batch_size"):
            forward_chunks(10, bad)


def _inputs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((n, 2, 96, 96), generator=g) > 0.5).float()


def test_classifier_sees_only_bounded_batch_sizes(tiny_classifier):
    """Over calls with every remainder, F's forward gets at most 1 + log2(batch_size) batch sizes."""
    sizes = []
    hook = tiny_classifier.net.conv.register_forward_hook(lambda m, i, o: sizes.append(int(i[0].shape[0])))
    try:
        for n in range(1, 70, 3):
            x = _inputs(n, seed=n)
            probabilities_from_inputs(x, tiny_classifier, batch_size=16)
            classifier_features(x, tiny_classifier, batch_size=16, with_probs=True)
    finally:
        hook.remove()
    assert set(sizes) <= {16, 8, 4, 2, 1}


def test_chunking_does_not_move_sem_beyond_its_bound(tiny_classifier):
    """The same rows in batches of 64 (remainders split) and one by one: equal within Sem's bound."""
    x = _inputs(50, seed=3)
    chunked = probabilities_from_inputs(x, tiny_classifier, batch_size=64)
    single = probabilities_from_inputs(x, tiny_classifier, batch_size=1)
    sem = 0.5 * np.abs(chunked - single).sum(axis=1)
    assert sem.max() == within("sem", 0.0)
    feats, probs = classifier_features(x, tiny_classifier, batch_size=64, with_probs=True)
    assert 0.5 * np.abs(probs - single).sum(axis=1).max() == within("sem", 0.0)
    assert feats.shape == (50, 8)
