"""Each model, trained for real on tiny planted data, beats its baseline by a stated margin; plus the
mechanics that a wrong implementation would break."""

import numpy as np
import pytest
import tensorflow as tf

from models.features import EncoderConfig, UserEncoder
from models.gru4rec import GRU4Rec, GRU4RecConfig, bpr_max_loss, cross_entropy_loss


def test_two_tower_beats_popularity_on_held_out_users(trained_report):
    retrieval = trained_report["retrieval"]
    assert retrieval["two_tower"]["recall@10"] >= 1.15 * retrieval["popularity"]["recall@10"]
    assert retrieval["two_tower"]["ndcg@10"] >= 1.15 * retrieval["popularity"]["ndcg@10"]


def test_rating_models_beat_the_global_mean(trained_report):
    rating = trained_report["rating"]
    assert trained_report["served"]["rating"].startswith("blend (deep x")
    for model in (trained_report["served"]["rating"], "deep", "mf"):
        assert rating[model]["rmse"] <= 0.9 * rating["global_mean"]["rmse"], model


def test_gru4rec_beats_popularity_on_later_sessions(trained_report):
    session = trained_report["session"]
    assert session["gru4rec"]["recall@20"] >= 1.8 * session["popularity"]["recall@20"]
    assert session["gru4rec"]["mrr@20"] >= 1.8 * session["popularity"]["mrr@20"]


def test_training_curves_are_recorded_and_every_served_model_was_refit(trained_report):
    for model in ("two_tower", "mult_vae", "mult_dae", "deep", "mf", "autorec", "gru4rec", "narm"):
        curve = trained_report["training"][model]
        assert 1 <= curve["best_epoch"] <= len(curve["loss"])
        assert all(np.isfinite(curve["loss"]))
        assert curve["refit_seconds"] > 0  # retrained on fit + validation for best_epoch epochs


def test_user_encoder_pools_the_history_items_alone_without_the_excluded_one():
    config = EncoderConfig(id_dim=4, use_user_id=False, use_user_features=False, use_age=False,
                           use_history_ratings=True)
    encoder = UserEncoder({"items": 8, "user_features": 0}, config)
    recent = np.array([[3, 5, 2, 0, 0], [0, 0, 0, 0, 0], [7, 7, 1, 4, 0]])  # 0 pads
    ratings = np.array([[4.0, 2.0, 3.0, 0.0, 0.0], [0.0] * 5, [5.0, 1.0, 3.0, 2.0, 0.0]], dtype=np.float32)
    exclude = np.array([5, 1, 6])  # the target is left out of its own history; row 1 has none
    pooled = encoder({"recent_items": tf.constant(recent), "recent_ratings": tf.constant(ratings)},
                     exclude_item=tf.constant(exclude)).numpy()

    history, rated = encoder.history_embedding.embeddings.numpy(), encoder.rated_embedding.embeddings.numpy()
    for row in range(3):
        kept = (recent[row] > 0) & (recent[row] != exclude[row])
        if not kept.any():  # no history: both terms are zero
            np.testing.assert_allclose(pooled[row], np.zeros(8), rtol=1e-5, atol=1e-6)
            continue
        items, offsets = recent[row][kept], ratings[row][kept] - ratings[row][kept].mean()
        expected = np.concatenate([history[items].mean(axis=0),
                                   (rated[items] * offsets[:, None]).sum(axis=0) / np.sqrt(len(items))])
        np.testing.assert_allclose(pooled[row], expected, rtol=1e-5, atol=1e-6)


def _gru(**overrides):
    return GRU4Rec(n_items=9, config=GRU4RecConfig(hidden_size=6, **overrides), seed=3)


def test_gru4rec_padding_does_not_change_scores():
    model = _gru()
    short = model.next_item_scores(tf.constant([[3, 5, 2]]))
    padded = model.next_item_scores(tf.constant([[3, 5, 2, 0, 0]]))
    np.testing.assert_allclose(short.numpy(), padded.numpy(), rtol=1e-6)
    assert short.shape == (1, 10) and np.isneginf(short.numpy()[0, 0])


def test_gru4rec_scores_follow_the_step_by_step_state():
    model = _gru()
    hidden = tf.zeros((1, 6))
    for item in (4, 1):
        hidden = model.step(tf.constant([item]), hidden)
    stepwise = model.score_candidates(hidden, tf.range(1, 10))
    np.testing.assert_allclose(model.next_item_scores(tf.constant([[4, 1]])).numpy()[:, 1:], stepwise.numpy(),
                               rtol=1e-5)


def test_cross_entropy_is_minus_log_softmax_of_each_target():
    logits = tf.constant([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0]])
    expected = -(np.log(np.exp(2) / (np.exp(2) + 1 + np.exp(1))) + np.log(np.exp(1) / (1 + np.exp(1) + np.exp(3))))
    assert float(cross_entropy_loss(logits, tf.constant([0, 1]))) == pytest.approx(expected, rel=1e-5)


def test_bpr_max_weights_negatives_by_their_softmax():
    logits = tf.constant([[0.5, 1.0, -1.0]])  # one row: target 1.0 (column 1), negatives 0.5 and -1.0
    weights = np.exp([0.5, -1.0]) / np.exp([0.5, -1.0]).sum()
    sigmoid = 1 / (1 + np.exp(-(1.0 - np.array([0.5, -1.0]))))
    expected = -np.log((weights * sigmoid).sum()) + 0.5 * (weights * np.array([0.25, 1.0])).sum()
    loss = bpr_max_loss(logits, tf.constant([1]), bpreg=0.5, elu_param=0.0)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
