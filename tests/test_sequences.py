"""Held-out protocols for session models, on hand-made click logs."""

import numpy as np
import pandas as pd

from training.data.dataset import SessionData
from training.data.sequences import SequenceProtocol, split_sequences

DAY = 86400.0


def _clicks(rows):
    return pd.DataFrame(rows, columns=["session_id", "item_id", "timestamp"])


def test_session_protocol_holds_out_late_sessions_and_predicts_every_prefix():
    clicks = _clicks([
        ("s1", "a", 0), ("s1", "b", 1), ("s1", "c", 2),
        ("s2", "b", 10 * DAY), ("s2", "c", 10 * DAY + 1),
        ("s3", "a", 20 * DAY), ("s3", "x", 20 * DAY + 1), ("s3", "b", 20 * DAY + 2), ("s3", "c", 20 * DAY + 3),
    ])
    split, _ = split_sequences(SessionData("t", clicks), SequenceProtocol(test_days=5, validation_fraction=0.5))
    assert split.item_ids == ("a", "b", "c")
    # s3 is the test session; the unseen item x is dropped, leaving a, b, c: two events
    assert split.test.histories.tolist() == [[1, 0], [1, 2]]
    assert split.test.targets.tolist() == [2, 3]
    assert split.train.items.tolist() == [1, 2, 3, 2, 3]
    assert split.train.offsets.tolist() == [0, 3, 5]
    assert split.counts.tolist() == [0, 1, 2, 2]


def test_user_sequence_protocol_predicts_after_the_cutoff_from_the_whole_history():
    clicks = _clicks([("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 9), ("u2", "b", 3), ("u2", "a", 4),
                      ("u2", "c", 5), ("u2", "a", 10)])
    protocol = SequenceProtocol(kind="user-sequences", test_fraction=2 / 7)
    split, validation = split_sequences(SessionData("t", clicks), protocol)
    # cutoff at the 5/7 quantile of the timestamps (6.1): u1's c at 9 and u2's a at 10 are test events
    assert split.test.targets.tolist() == [3, 1]
    assert split.test.histories.tolist() == [[1, 2, 0], [2, 1, 3]]
    # validation uses the same vocabulary, with its own cutoff inside the training part
    assert validation.item_ids == split.item_ids


def test_prepared_split_is_used_as_given():
    train = _clicks([("1", "a", 0), ("1", "b", 1), ("2", "b", 2), ("2", "c", 3)])
    test = _clicks([("9", "c", 9), ("9", "b", 10), ("9", "z", 11), ("8", "z", 12), ("8", "a", 13)])
    split, _ = split_sequences(SessionData("t", train, test_clicks=test), SequenceProtocol())
    # session 8 keeps only a after dropping z, so it is too short; session 9 gives one event
    assert split.test.targets.tolist() == [2]
    assert split.test.histories.tolist() == [[3]]
    assert np.all(split.train.items > 0)
