"""The served next-item mix of a session model with first-order transitions (models.session_mix)."""

import numpy as np
import pytest

from models.session_mix import SessionMix, Transitions, softmax

MATRIX = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 0.0]], dtype=np.float32)  # row: last item


def test_transitions_round_trip_through_their_arrays():
    transitions = Transitions.from_arrays(Transitions.from_dense(MATRIX).arrays())
    assert transitions.following(np.array([1, 0, 2])).tolist() == MATRIX[[1, 0, 2]].tolist()


def test_the_weight_moves_from_the_model_alone_to_the_transitions_alone():
    logits = np.array([[2.0, 0.0, 1.0]], dtype=np.float32)
    transitions = Transitions.from_dense(MATRIX)
    assert SessionMix().scores(logits, np.array([0])) is logits  # the model's own scores, unchanged
    assert SessionMix(1.0, transitions).scores(logits, np.array([0])).tolist() == [[0.0, 1.0, 0.0]]
    half = SessionMix(0.5, transitions).scores(logits, np.array([0]))
    np.testing.assert_allclose(half, 0.5 * softmax(logits) + 0.5 * MATRIX[[0]], rtol=1e-6)
    assert half.sum() == pytest.approx(1.0)
