"""GRU4Rec's session-parallel mini-batches and popularity sampler, checked directly."""

import numpy as np
import pytest

from training.fit.session_parallel import PopularitySampler, session_parallel_steps


def _sessions(*sessions):
    items = np.concatenate([np.array(s) for s in sessions])
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sessions])])
    return items, offsets


def test_slots_play_sessions_in_order_and_refill_with_a_reset():
    # sessions: A=[1,2,3], B=[4,5], C=[6,7,8,9], D=[10,11]; two slots
    items, offsets = _sessions([1, 2, 3], [4, 5], [6, 7, 8, 9], [10, 11])
    steps = list(session_parallel_steps(items, offsets, batch_size=2))
    played = [(s.inputs.tolist(), s.targets.tolist(), s.reset.tolist(), s.keep.tolist()) for s in steps]
    assert played == [
        ([1, 4], [2, 5], [True, True], [0, 1]),  # A and B start
        ([2, 6], [3, 7], [False, True], [0, 1]),  # B ended: C takes slot 1, its hidden state resets
        ([10, 7], [11, 8], [True, False], [0, 1]),  # A ended: D takes slot 0
        ([8], [9], [False], [1]),  # D ended, no sessions left: slot 0 is dropped, slot 1 continues
    ]


def test_every_transition_is_trained_exactly_once():
    rng = np.random.default_rng(0)
    sessions = [rng.integers(1, 50, size=rng.integers(2, 9)).tolist() for _ in range(40)]
    items, offsets = _sessions(*sessions)
    pairs = sorted((int(i), int(t)) for step in session_parallel_steps(items, offsets, 8)
                   for i, t in zip(step.inputs, step.targets, strict=True))
    expected = sorted((s[j], s[j + 1]) for s in sessions for j in range(len(s) - 1))
    assert pairs == expected


def test_sessions_shorter_than_two_are_rejected():
    items, offsets = _sessions([1, 2], [3])
    with pytest.raises(ValueError, match="at least 2 items"):
        list(session_parallel_steps(items, offsets, 2))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_sampler_follows_popularity_to_the_power_alpha(alpha):
    counts = np.array([0, 1, 4, 16, 0, 79], dtype=np.float64)
    sampler = PopularitySampler(counts, alpha, np.random.default_rng(1))
    draws = sampler.sample(200_000)
    observed = np.bincount(draws, minlength=len(counts)) / len(draws)
    weights = np.where(counts > 0, counts ** alpha, 0.0)
    assert observed[0] == 0 and observed[4] == 0  # padding and unseen items are never drawn
    np.testing.assert_allclose(observed, weights / weights.sum(), atol=0.005)
