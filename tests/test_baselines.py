"""Non-neural baselines on hand-computed examples: exact scores, and the properties each one promises."""

import math

import numpy as np
import pytest

from models.selection import SeenItems, rows_of
from training.data.sequences import SequenceSet
from training.evaluate import session_baselines
from training.evaluate.baselines import SparseRows, binary_gram, ease_scorer, item_gram, item_knn_scorer
from training.evaluate.session_baselines import cooccurrence_scorer, sknn_scorer, transition_scorer, vsknn_scorer

# Four users x four items: u1 {1, 2}, u2 {2, 3}, u3 {1, 3, 4}, u4 {1, 2, 4}; u4's repeated item 2 counts once.
USERS = np.array([1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 4])
ITEMS = np.array([1, 2, 2, 3, 1, 3, 4, 1, 2, 4, 2])
X = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 1], [1, 1, 0, 1]], dtype=np.float64)


def seen_items(users, items, n_users=4, n_items=4):
    """The users' items as the trainer's user views hold them (user and item rows, repeats once)."""
    return SeenItems.from_pairs(rows_of(users), rows_of(items), n_users, n_items)


SEEN = seen_items(USERS, ITEMS)

# Training sessions in start-time order: s0 = 1 2 3, s1 = 2 3 2, s2 = 1 4, s3 = 3 4 5 (five items).
SESSIONS = SequenceSet(items=np.array([1, 2, 3, 2, 3, 2, 1, 4, 3, 4, 5]), offsets=np.array([0, 3, 6, 8, 11]))
N_ITEMS = 5


def scores_of(scorer, batch):
    return np.asarray(scorer(np.asarray(batch)))[:, 1:]  # column 0 is padding


def test_sparse_rows_dedupe_expand_and_keep_the_last_columns():
    rows = SparseRows.from_pairs(np.array([1, 0, 1, 1]), np.array([3, 2, 0, 3]), n_rows=3)
    assert rows.indptr.tolist() == [0, 1, 3, 3] and rows.indices.tolist() == [2, 0, 3]
    assert rows.entries(np.array([1, 0]))[1].tolist() == [0, 3, 2]
    assert rows.keep_last(1).indices.tolist() == [2, 3]
    expected = np.array([[0, 0, 2.0, 0], [1, 0, 0, 1]])
    assert rows.scatter(np.array([0, 1]), np.array([0, 1]), np.array([2.0, 1.0]), (2, 4)).tolist() == expected.tolist()


@pytest.mark.parametrize("lengths", [[1, 2, 1], [40, 40, 40]])  # pairs counted one by one; one dense product
def test_binary_gram_counts_rows_holding_both_columns(lengths):
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(3), lengths)
    columns = rng.integers(0, 50, size=len(rows))
    dense = np.zeros((3, 50))
    dense[rows, columns] = 1.0
    gram = binary_gram(SparseRows.from_pairs(rows, columns, 3), 50)
    np.testing.assert_array_equal(gram, dense.T @ dense)


def test_item_knn_sums_cosine_similarities_of_the_users_items():
    # sims: c12 = 2/3, c13 = c23 = c24 = 1/sqrt(6), c14 = 2/sqrt(6), c34 = 1/2; u2 holds items 2 and 3
    np.testing.assert_array_equal(item_gram(SEEN), X.T @ X)  # co-occurrences of the users' distinct items
    c13 = 1 / math.sqrt(6)
    scores = scores_of(item_knn_scorer(SEEN), [2])
    np.testing.assert_allclose(scores, [[2 / 3 + c13, c13, c13, c13 + 0.5]], rtol=1e-6)
    # against the definition: X_u · S with S the cosine matrix, zero diagonal
    norms = np.sqrt(X.sum(axis=0))
    similarity = X.T @ X / np.outer(norms, norms)
    np.fill_diagonal(similarity, 0.0)
    full = scores_of(item_knn_scorer(SEEN), [1, 2, 3, 4])
    np.testing.assert_allclose(full, X @ similarity, rtol=1e-6)
    # neighbors=1 keeps item 2's nearest (item 1) and item 3's (item 4)
    assert scores_of(item_knn_scorer(SEEN, neighbors=1), [2]) == pytest.approx(
        np.array([[2 / 3, 0, 0, 0.5]]))


def test_ease_matches_the_closed_form_and_never_scores_an_item_from_itself():
    l2 = 2.0
    precision = np.linalg.inv(X.T @ X + l2 * np.eye(4))
    weights = -precision / np.diag(precision)
    np.fill_diagonal(weights, 0.0)
    scores = scores_of(ease_scorer(SEEN, l2=l2), [1, 2, 3, 4])
    np.testing.assert_allclose(scores, X @ weights, rtol=1e-5, atol=1e-6)
    # a user holding item 3 alone: B_33 = 0, so item 3 gets nothing from itself; unknown user 0 scores 0
    scorer = ease_scorer(seen_items(np.append(USERS, 5), np.append(ITEMS, 3), n_users=5), l2=l2)
    assert scores_of(scorer, [5])[0, 2] == 0.0
    assert not scores_of(scorer, [0]).any()


def test_transitions_score_the_successors_of_the_last_item_only():
    # consecutive pairs within sessions: 1→2, 2→3 | 2→3, 3→2 | 1→4 | 3→4, 4→5
    scores = scores_of(transition_scorer(SESSIONS, N_ITEMS), [[1, 3, 0], [3, 2, 0], [1, 4, 0], [5, 0, 0]])
    assert scores.tolist() == [[0, 0.5, 0, 0.5, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0] * 5]
    # two sessions 1 3 | 2 5: 3→2 crosses their boundary, so 3 has no successor
    split = SequenceSet(items=np.array([1, 3, 2, 5]), offsets=np.array([0, 2, 4]))
    assert scores_of(transition_scorer(split, N_ITEMS), [[3]]).tolist() == [[0] * 5]


def test_cooccurrence_counts_each_session_once_and_repeats_only_when_asked():
    # sets: {1, 2, 3}, {2, 3} (2 clicked twice), {1, 4}, {3, 4, 5}
    scores = scores_of(cooccurrence_scorer(SESSIONS, N_ITEMS), [[1, 3], [3, 2]])
    assert scores.tolist() == [[1, 2, 0, 1, 1], [1, 1, 2, 0, 0]]
    no_repeats = scores_of(cooccurrence_scorer(SESSIONS, N_ITEMS, repeats=False), [[3, 2]])
    assert no_repeats.tolist() == [[1, 0, 2, 0, 0]]


SQ6 = math.sqrt(6)


def test_sknn_sums_cosine_similarities_of_neighbour_sessions():
    # history {1, 3}: overlaps s0 2 (of 3 items), s1 1 (of 2), s2 1 (of 2), s3 1 (of 3)
    s0, s1, s2, s3 = 2 / SQ6, 0.5, 0.5, 1 / SQ6
    expected = [s0 + s2, s0 + s1, s0 + s1 + s3, s2 + s3, s3]
    np.testing.assert_allclose(scores_of(sknn_scorer(SESSIONS, N_ITEMS), [[1, 3]]), [expected], rtol=1e-6)
    # k=2: s0, then s1 and s2 tie and the more recent s2 wins
    np.testing.assert_allclose(scores_of(sknn_scorer(SESSIONS, N_ITEMS, k=2), [[1, 3]]),
                               [[s0 + s2, s0, s0, s2, 0]], rtol=1e-6)
    # sample_size=2: only the two most recent candidates, s2 and s3
    np.testing.assert_allclose(scores_of(sknn_scorer(SESSIONS, N_ITEMS, sample_size=2), [[1, 3]]),
                               [[s2, 0, s3, s2 + s3, s3]], rtol=1e-6)
    # jaccard: s0 2/3, s1 1/3, s2 1/3, s3 1/4
    np.testing.assert_allclose(scores_of(sknn_scorer(SESSIONS, N_ITEMS, similarity="jaccard"), [[1, 3]])[0, 4], 0.25)


def test_sknn_ignores_padding_order_and_repeats_and_scores_nothing_without_overlap():
    scorer = sknn_scorer(SESSIONS, N_ITEMS)
    reference = scores_of(scorer, [[1, 3, 0, 0]])
    for history in ([1, 3, 0, 0, 0, 0], [3, 1, 0, 0, 0, 0], [1, 3, 1, 3, 0, 0]):
        np.testing.assert_allclose(scores_of(scorer, [history]), reference, rtol=1e-6)
    lonely = SequenceSet(items=np.array([1, 2, 6, 6]), offsets=np.array([0, 2, 4]))
    assert not scores_of(sknn_scorer(lonely, 6), [[6, 0], [0, 0]])[0, :5].any()


def test_vsknn_weighs_recent_clicks_more_and_decays_votes_of_older_matches():
    # history 2 1 3: weights i/L = 1/3, 2/3, 1; dot products s0 2, s1 4/3, s2 2/3, s3 1;
    # the most recent shared click is 3 (1 step back) for s0, s1, s3 and 1 (2 steps back) for s2
    votes = {"s0": 2.0, "s1": 4 / 3, "s2": 2 / 3 / 2, "s3": 1.0}
    expected = [votes["s0"] + votes["s2"], votes["s0"] + votes["s1"], votes["s0"] + votes["s1"] + votes["s3"],
                votes["s2"] + votes["s3"], votes["s3"]]
    np.testing.assert_allclose(scores_of(vsknn_scorer(SESSIONS, N_ITEMS), [[2, 1, 3]]), [expected], rtol=1e-6)
    # k=2 keeps s0 and s1
    np.testing.assert_allclose(scores_of(vsknn_scorer(SESSIONS, N_ITEMS, k=2), [[2, 1, 3]]),
                               [[2, 10 / 3, 10 / 3, 0, 0]], rtol=1e-6)
    # a repeated item takes its latest click: in 3 1 3, item 3 weighs 1 (not 1/3) and item 1 weighs 2/3;
    # without decay, item 1 gets s0 (1 + 2/3) + s2 (2/3) and item 5 gets s3 (1)
    scores = scores_of(vsknn_scorer(SESSIONS, N_ITEMS, score_decay="same"), [[3, 1, 3]])
    np.testing.assert_allclose(scores[0, [0, 4]], [7 / 3, 1.0], rtol=1e-6)


def test_vsknn_idf_and_choices():
    plain = scores_of(vsknn_scorer(SESSIONS, N_ITEMS), [[2, 1, 3]])
    weighted = scores_of(vsknn_scorer(SESSIONS, N_ITEMS, idf_weight=0.5), [[2, 1, 3]])
    holding = np.array([2, 2, 3, 2, 1])  # sessions holding each item, of 4
    np.testing.assert_allclose(weighted, plain * (1 + 0.5 * np.log(4 / holding)), rtol=1e-6)
    with pytest.raises(ValueError, match="weighting='linear'"):
        vsknn_scorer(SESSIONS, N_ITEMS, weighting="linear")


def test_session_knn_scores_alike_from_the_sparse_or_dense_index_and_in_any_chunks(monkeypatch):
    rng = np.random.default_rng(7)
    lengths = rng.integers(2, 6, size=60)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    train = SequenceSet(items=rng.integers(1, 21, size=lengths.sum()), offsets=offsets)
    histories = np.zeros((25, 8), dtype=np.int32)
    for row, length in enumerate(rng.integers(1, 9, size=25)):
        histories[row, :length] = rng.integers(1, 21, size=length)

    def both_scorers():  # sample_size=6 of 60 sessions: postings are cut and so is the candidate set
        return [sknn_scorer(train, 20, k=3, sample_size=6)(histories),
                vsknn_scorer(train, 20, k=3, sample_size=6)(histories)]

    monkeypatch.setattr(session_baselines, "_DENSE_CELLS", 0)
    reference = both_scorers()
    for dense_cells, chunk_cells in [(0, 1), (1 << 22, 1 << 22), (1 << 22, 1)]:
        monkeypatch.setattr(session_baselines, "_DENSE_CELLS", dense_cells)
        monkeypatch.setattr(session_baselines, "_CHUNK_CELLS", chunk_cells)
        for scores, expected in zip(both_scorers(), reference, strict=True):
            np.testing.assert_allclose(scores, expected, rtol=1e-6)
